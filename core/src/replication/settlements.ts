import * as Y from 'yjs'
import type { ConcurrentWrite } from '../store/index.js'
import { snapshotContains } from './compare.js'

/** The union of two snapshots: every insertion and every deletion that either holds. */
export const unionSnapshots = (a: Y.Snapshot, b: Y.Snapshot): Y.Snapshot => {
  const sv = new Map(a.sv)
  for (const [client, clock] of b.sv) if ((sv.get(client) ?? 0) < clock) sv.set(client, clock)
  return new Y.Snapshot(Y.mergeDeleteSets([a.ds, b.ds]), sv)
}

/**
 * Per room, the history that resolutions settled. A conflict is about writes, not about a
 * link: the same diverged writes reach a node again over its other links (a third node
 * relays them) or at a later (re)sync. A resolution settles everything both sides held when
 * it was made and everything its resync round brought, so those writes are merged from then
 * on wherever they arrive, and only writes outside it raise a conflict again. Kept in memory:
 * a restarted node has settled nothing.
 */
export class Settlements {
  #rooms = new Map<string, Y.Snapshot>()

  /** Adds `snapshot` to what resolutions settled in `room`. */
  add(room: string, snapshot: Y.Snapshot): void {
    const known = this.#rooms.get(room)
    this.#rooms.set(room, known ? unionSnapshots(known, snapshot) : snapshot)
  }

  /** True when a resolution settled both writes of a concurrent pair. */
  covers(room: string, write: ConcurrentWrite): boolean {
    return this.has(room, write.own) && this.has(room, write.other)
  }

  /** True when a resolution settled the write `id` (a client and clock) in `room`. */
  has(room: string, id: { client: number; clock: number }): boolean {
    const sv = this.#rooms.get(room)?.sv
    return sv !== undefined && id.clock < (sv.get(id.client) ?? 0)
  }

  /** True when every operation of `remote` is held in `local` or was settled by a resolution in `room`. */
  holds(room: string, local: Y.Snapshot, remote: Y.Snapshot): boolean {
    const settled = this.#rooms.get(room)
    return settled !== undefined && snapshotContains(unionSnapshots(local, settled), remote)
  }
}
