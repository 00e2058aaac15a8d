import * as Y from 'yjs'
import type { Logger, Metrics } from '../common/index.js'
import type { Room } from './room.js'
import { dropPendingOverlapping, validateUpdate } from './update-validation.js'
import { EntryDecoderV1 } from './entry-coding.js'

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
  /** Per client, the clocks the frame's updates before this one insert (first, end pairs). */
  const inserted = new Map<number, number[]>()
  for (const update of updates) {
    const { known, ready, deletesOthers, spans } = validateUpdate(doc, update, 'v1')
    // Each was checked against the doc alone: one that repeats ids an update before it brings
    // would be integrated after it, unchecked against it (a forged copy, see contradictsHeld).
    // Honest updates of one frame are distinct transactions and never overlap.
    const repeats = overlapsEarlier(inserted, spans)
    if (repeats && !updates.some((earlier) => earlier !== update && sameBytes(earlier, update))) {
      throw new Error('refused: updates of one frame that repeat ids with other content')
    }
    if (known || repeats) {
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

/** True when `a` and `b` hold the same bytes. */
const sameBytes = (a: Uint8Array, b: Uint8Array): boolean =>
  a.length === b.length && a.every((byte, i) => byte === b[i])

/** True when a span (client, first, end) of `spans` overlaps one in `inserted`; adds them to it. */
const overlapsEarlier = (inserted: Map<number, number[]>, spans: readonly number[]): boolean => {
  for (let s = 0; s < spans.length; s += 3) {
    const [client, first, end] = [spans[s] as number, spans[s + 1] as number, spans[s + 2] as number]
    if (first === end) continue
    const runs = inserted.get(client)
    if (!runs) {
      inserted.set(client, [first, end])
      continue
    }
    for (let r = 0; r < runs.length; r += 2)
      if (first < (runs[r + 1] as number) && (runs[r] as number) < end) return true
    runs.push(first, end)
  }
  return false
}

/**
 * Most bytes of parked content a room keeps after a live apply: Yjs's pending deletions (of
 * content the doc lacks) and pending structs (after a gap in their writer's clocks). Yjs re-reads
 * the pending deletions on every later update and re-merges the pending structs with every one
 * that parks more, so a peer that sends updates referring to content nobody has made each
 * transaction of the room slower, for good, and one frame of them quadratic (16,000 such
 * deletions in a 160 KB frame held a node's loop for about 50 s; at 32 KiB pending, each later
 * update cost about 10 ms). Past a bound both are dropped: an honest gap is filled by the next
 * anti-entropy round's repair, since this node's state vector and delete set never included what
 * was dropped (room-checkpoint.ts drops what stays pending for rounds the same way).
 */
export const MAX_PENDING_BYTES = { deletions: 4 * 1024, structs: 64 * 1024 } as const

/** True when `doc` holds more parked content than {@link MAX_PENDING_BYTES}. */
const overPending = (doc: Y.Doc): boolean =>
  (doc.store.pendingDs?.length ?? 0) > MAX_PENDING_BYTES.deletions ||
  (doc.store.pendingStructs?.update.length ?? 0) > MAX_PENDING_BYTES.structs

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
  const { room, updates, origin, waits, host } = options
  if (room.destroyed) return
  const { doc } = room
  for (const group of updates) {
    // One update for Yjs when some of them wait: applied one by one, each would retry all that
    // the ones before it parked.
    const merged = waits && group.length > 1 ? Y.mergeUpdates(group) : undefined
    if (dropPendingOverlapping(doc, group, 'v1')) {
      host.logger.warn('dropped parked updates that would be integrated over content the room holds', {
        peer: origin.peerId,
        room: room.name,
      })
    }
    doc.transact(() => {
      if (merged) Y.applyUpdateV2(doc, merged, origin, EntryDecoderV1)
      else for (const update of group) Y.applyUpdateV2(doc, update, origin, EntryDecoderV1)
    }, origin)
    if (!waits || !overPending(doc)) continue
    host.logger.warn('dropped live updates parked past the bound: what they refer to is missing', {
      peer: origin.peerId,
      room: room.name,
      deletions: doc.store.pendingDs?.length ?? 0,
      structs: doc.store.pendingStructs?.update.length ?? 0,
    })
    doc.store.pendingStructs = null
    doc.store.pendingDs = null
    host.metrics.pendingDropped++
  }
}
