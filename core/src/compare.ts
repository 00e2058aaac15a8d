import * as Y from 'yjs'

/** How two replicas' histories relate. */
export type HistoryRelation = 'equal' | 'ahead' | 'behind' | 'diverged'

type DeleteRanges = Map<number, Array<{ clock: number; len: number }>>

const rangesCover = (outer: Array<{ clock: number; len: number }>, inner: Array<{ clock: number; len: number }>) => {
  const sortedOuter = [...outer].sort((a, b) => a.clock - b.clock)
  for (const r of inner) {
    let from = r.clock
    const to = r.clock + r.len
    for (const o of sortedOuter) {
      if (o.clock > from) break
      if (o.clock + o.len > from) from = o.clock + o.len
      if (from >= to) break
    }
    if (from < to) return false
  }
  return true
}

const contains = (a: Y.Snapshot, b: Y.Snapshot): boolean => {
  for (const [client, clock] of b.sv) if ((a.sv.get(client) ?? 0) < clock) return false
  const aDs = a.ds.clients as DeleteRanges
  for (const [client, items] of b.ds.clients as DeleteRanges) {
    if (!rangesCover(aDs.get(client) ?? [], items)) return false
  }
  return true
}

/**
 * Compares two snapshots (state vector plus delete set). Deletions do not advance a state
 * vector, so comparing state vectors alone would call two replicas equal after one of them
 * removed a key.
 */
export const compareSnapshots = (local: Y.Snapshot, remote: Y.Snapshot): HistoryRelation => {
  const hasRemote = contains(local, remote)
  const hasLocal = contains(remote, local)
  if (hasRemote && hasLocal) return 'equal'
  if (hasRemote) return 'ahead'
  if (hasLocal) return 'behind'
  return 'diverged'
}

/** Compares two state vectors only (insertions; see {@link compareSnapshots} for deletions). */
export const compareStateVectors = (local: Map<number, number>, remote: Map<number, number>): HistoryRelation =>
  compareSnapshots(new Y.Snapshot(Y.createDeleteSet(), local), new Y.Snapshot(Y.createDeleteSet(), remote))
