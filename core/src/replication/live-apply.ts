import * as Y from 'yjs'
import { errorText, type Logger, type Metrics } from '../common/index.js'
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
 * Applies live updates at once, or one turn later when one of them waits for something: that
 * is most likely in another link's frame of this same turn (a relay the horizon left out, see
 * relay-horizon.ts), and a turn later it integrates at once, where Yjs would park it as pending
 * structs and re-encode and merge them on every update until what it waits for arrives. What
 * still waits after that turn goes to Yjs's pending structs as before.
 */
export const applyLive = (options: LiveApply): void => {
  const apply = (): void => {
    const { room, updates, origin } = options
    if (room.destroyed) return
    room.doc.transact(() => {
      for (const update of updates) Y.applyUpdate(room.doc, update, origin)
    }, origin)
  }
  if (!options.waits) return apply()
  setImmediate(() => {
    try {
      apply()
    } catch (error) {
      options.host.metrics.failed('live-apply')
      options.host.logger.warn('applying live updates failed', {
        peer: options.origin.peerId,
        room: options.room.name,
        error: errorText(error),
      })
    }
  })
}
