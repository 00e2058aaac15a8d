import * as Y from 'yjs'
import type { Logger, Metrics } from '../common/index.js'
import type { Room } from './room.js'
import { validateUpdate } from './update-validation.js'

/**
 * Checks every update of a frame (throws what it refuses). What the doc holds entirely would
 * change nothing: counted as a duplicate (relay-horizon.ts) and left out. `waits` when one of
 * the rest refers to something the doc does not hold yet.
 */
export const checkLive = (
  doc: Y.Doc,
  updates: readonly Uint8Array[],
  metrics: Pick<Metrics, 'duplicatesApplied'>,
): { fresh: Uint8Array[]; waits: boolean } => {
  const fresh: Uint8Array[] = []
  let waits = false
  for (const update of updates) {
    const { known, ready } = validateUpdate(doc, update, 'v1')
    if (known) metrics.duplicatesApplied++
    else fresh.push(update)
    waits ||= !known && !ready
  }
  return { fresh, waits }
}

/** A frame of live updates from a peer link, checked already, to apply in one transaction. */
export interface LiveApply {
  room: Room
  updates: Uint8Array[]
  /** The link they came from (the transaction's origin). */
  origin: { readonly peerId: string | undefined }
  /** True when one of them refers to something the room does not hold yet. */
  waits: boolean
  /** Where an apply a turn later reports what it threw (it must not escape the timer). */
  host: { readonly logger: Logger; readonly metrics: Metrics }
}

/**
 * Applies live updates in one transaction, in the order their frames came. (A version that
 * deferred a frame waiting for something by one turn let later frames of the same link
 * overtake it; what it saved on 3 writers was not measurable on the shared machine.)
 */
export const applyLive = (options: LiveApply): void => {
  const { room, updates, origin } = options
  if (room.destroyed) return
  room.doc.transact(() => {
    for (const update of updates) Y.applyUpdate(room.doc, update, origin)
  }, origin)
}
