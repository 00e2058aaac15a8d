import * as Y from 'yjs'
import type { Logger, Metrics } from '../common/index.js'
import type { Room } from './room.js'
import { validateUpdate } from './update-validation.js'

/**
 * Checks every update of a frame (throws what it refuses) and splits the rest into the
 * transactions that apply them. What the doc holds entirely would change nothing: counted as
 * a duplicate (relay-horizon.ts) and left out. An update that deletes another writer's
 * entries gets a transaction of its own: applied together with a concurrent write of the same
 * key, a relaying node's removal of the race's loser would look like the winner's own
 * overwrite, one that had seen the entry (kv-index.ts tells them apart by transaction).
 * `waits` when one of them refers to something the doc does not hold yet.
 */
export const checkLive = (
  doc: Y.Doc,
  updates: readonly Uint8Array[],
  metrics: Pick<Metrics, 'duplicatesApplied'>,
): { fresh: Uint8Array[][]; bytes: number; waits: boolean } => {
  const fresh: Uint8Array[][] = []
  let group: Uint8Array[] | undefined
  let bytes = 0
  let waits = false
  for (const update of updates) {
    const { known, ready, deletesOthers } = validateUpdate(doc, update, 'v1')
    if (known) {
      metrics.duplicatesApplied++
      continue
    }
    bytes += update.length
    waits ||= !ready
    if (deletesOthers) {
      fresh.push([update])
      group = undefined
    } else if (group) group.push(update)
    else fresh.push((group = [update]))
  }
  return { fresh, bytes, waits }
}

/** A frame of live updates from a peer link, checked and split by {@link checkLive}. */
export interface LiveApply {
  room: Room
  /** Updates to apply, one transaction per group. */
  updates: Uint8Array[][]
  /** The link they came from (the transaction's origin). */
  origin: { readonly peerId: string | undefined }
  /** True when one of them refers to something the room does not hold yet. */
  waits: boolean
  /** Where an apply a turn later reports what it threw (it must not escape the timer). */
  host: { readonly logger: Logger; readonly metrics: Metrics }
}

/**
 * Applies live updates, a transaction per group, in the order their frames came. (A version that
 * deferred a frame waiting for something by one turn let later frames of the same link
 * overtake it; what it saved on 3 writers was not measurable on the shared machine.)
 */
export const applyLive = (options: LiveApply): void => {
  const { room, updates, origin } = options
  if (room.destroyed) return
  for (const group of updates) {
    room.doc.transact(() => {
      for (const update of group) Y.applyUpdate(room.doc, update, origin)
    }, origin)
  }
}
