import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'

/**
 * Most awareness client ids one room holds (each tab has one): a peer that relays more new ids
 * has them dropped, so an unauthenticated client cannot fill a node with presence.
 */
export const MAX_AWARENESS_CLIENTS = 10_000

/** One client's entry in a y-protocols awareness update. */
export interface AwarenessEntry {
  clientId: number
  clock: number
  /** The state as JSON text (`null` removes the client). */
  state: string
}

/** Reads every entry of an awareness update; throws on malformed bytes or state JSON. */
export const readAwarenessEntries = (update: Uint8Array): AwarenessEntry[] => {
  const d = decoding.createDecoder(update)
  const n = decoding.readVarUint(d)
  // Each entry takes at least three bytes, so a larger count is a lie.
  if (n > update.length) throw new Error('awareness entry count exceeds the message')
  const entries: AwarenessEntry[] = []
  for (let i = 0; i < n; i++) {
    const entry = {
      clientId: decoding.readVarUint(d),
      clock: decoding.readVarUint(d),
      state: decoding.readVarString(d),
    }
    JSON.parse(entry.state)
    entries.push(entry)
  }
  if (decoding.hasContent(d)) throw new Error('trailing bytes after awareness entries')
  return entries
}

/** Encodes entries back into an awareness update. */
export const writeAwarenessEntries = (entries: readonly AwarenessEntry[]): Uint8Array => {
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, entries.length)
  for (const entry of entries) {
    encoding.writeVarUint(e, entry.clientId)
    encoding.writeVarUint(e, entry.clock)
    encoding.writeVarString(e, entry.state)
  }
  return encoding.toUint8Array(e)
}

/**
 * Keeps the entries an awareness update may apply to a room holding `states`: updates and
 * removals always, states for new client ids only below {@link MAX_AWARENESS_CLIENTS}.
 */
export const capEntries = (
  states: ReadonlyMap<number, unknown>,
  entries: AwarenessEntry[],
): { kept: AwarenessEntry[]; dropped: number } => {
  let room = MAX_AWARENESS_CLIENTS - states.size
  const kept: AwarenessEntry[] = []
  for (const entry of entries) {
    if (entry.state === 'null' || states.has(entry.clientId)) kept.push(entry)
    else if (room > 0) {
      room--
      kept.push(entry)
    }
  }
  return { kept, dropped: entries.length - kept.length }
}
