import * as Y from 'yjs'

/** How two replicas' histories relate. */
export type HistoryRelation = 'equal' | 'ahead' | 'behind' | 'diverged'

type DeleteRanges = Map<number, Array<{ clock: number; len: number }>>

/**
 * True when the union of `outer` covers every range of `inner`. The outer ranges are sorted and
 * coalesced once, then each inner range is found by binary search: O((R + I) log R), so a peer
 * with a hundred thousand delete ranges costs milliseconds, not seconds, on every (re)sync.
 */
export const rangesCover = (
  outer: ReadonlyArray<{ clock: number; len: number }>,
  inner: ReadonlyArray<{ clock: number; len: number }>,
): boolean => {
  if (inner.length === 0) return true
  const sorted = [...outer].sort((a, b) => a.clock - b.clock)
  const starts: number[] = []
  const ends: number[] = []
  for (const { clock, len } of sorted) {
    const last = ends.length - 1
    const lastEnd = ends[last]
    if (lastEnd !== undefined && clock <= lastEnd) ends[last] = Math.max(lastEnd, clock + len)
    else {
      starts.push(clock)
      ends.push(clock + len)
    }
  }
  for (const { clock, len } of inner) {
    if (len === 0) continue
    // The last coalesced range starting at or before `clock`.
    let lo = 0
    let hi = starts.length - 1
    let found = -1
    while (lo <= hi) {
      const mid = (lo + hi) >> 1
      if ((starts[mid] ?? Infinity) <= clock) {
        found = mid
        lo = mid + 1
      } else hi = mid - 1
    }
    const end = ends[found]
    if (end === undefined || end < clock + len) return false
  }
  return true
}

/** True when snapshot `a` holds every insertion and deletion of snapshot `b`. */
export const snapshotContains = (a: Y.Snapshot, b: Y.Snapshot): boolean => {
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
  const hasRemote = snapshotContains(local, remote)
  const hasLocal = snapshotContains(remote, local)
  if (hasRemote && hasLocal) return 'equal'
  if (hasRemote) return 'ahead'
  if (hasLocal) return 'behind'
  return 'diverged'
}

/** Compares two state vectors only (insertions; see {@link compareSnapshots} for deletions). */
export const compareStateVectors = (local: Map<number, number>, remote: Map<number, number>): HistoryRelation =>
  compareSnapshots(new Y.Snapshot(Y.createDeleteSet(), local), new Y.Snapshot(Y.createDeleteSet(), remote))
