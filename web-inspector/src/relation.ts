import type { HistoryRelation } from './types.js'

/** A state vector as the feed sends it: Yjs client id → clock. */
export type StateVector = Record<string, number>

/**
 * How history `local` relates to history `remote`, from state vectors alone: the same rule as
 * core's `compareStateVectors`, reimplemented so that the browser bundle does not pull in Yjs.
 * Deletions do not advance a state vector, so the inspector also compares values.
 */
export const compareStateVectors = (local: StateVector, remote: StateVector): HistoryRelation => {
  let localHasMore = false
  let remoteHasMore = false
  for (const [client, clock] of Object.entries(local)) if (clock > (remote[client] ?? 0)) localHasMore = true
  for (const [client, clock] of Object.entries(remote)) if (clock > (local[client] ?? 0)) remoteHasMore = true
  if (localHasMore && remoteHasMore) return 'diverged'
  if (localHasMore) return 'ahead'
  if (remoteHasMore) return 'behind'
  return 'equal'
}

/** Total operations a state vector covers: a rough "how much history" figure for display. */
export const clockSum = (sv: StateVector): number => Object.values(sv).reduce((sum, clock) => sum + clock, 0)
