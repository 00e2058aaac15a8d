import type { ConflictingKey } from '../common/index.js'
import type { HistoryRelation } from './compare.js'
import { conflictsBetween, noChanges, type ConflictPolicy } from './conflict.js'
import type { Room } from './room.js'
import type { RoomSync } from './sync-round.js'

/** What one room looks like on one link: how far its (re)sync got. */
export type LinkRoomState = 'syncing' | 'synced' | 'quarantined'

/** One room on one link, for status reports. */
export interface LinkRoomStatus {
  state: LinkRoomState
  relation: HistoryRelation | null
  /**
   * Node ids the peer said it is synced with for this room (relay-horizon.ts). Always set by
   * this version; absent from nodes before protocol version 4, which an inspector may watch.
   */
  peers?: string[]
}

/** What a merge on (re)sync found, reported through the node's `merge` event. */
export interface MergeReport {
  peer: string
  room: string
  relation: HistoryRelation
  policy: ConflictPolicy
  /** Keys both sides changed to different values; `winner` is the value after the merge. */
  conflicts: Array<ConflictingKey & { winner: unknown }>
}

/** The merge report of a (re)sync round that merged a divergence: the keys both sides changed, and what won. */
export const mergeReport = (options: {
  peer: string
  room: Room
  sync: RoomSync
  policy: ConflictPolicy
}): MergeReport => {
  const { room, sync } = options
  return {
    peer: options.peer,
    room: room.name,
    relation: sync.relation ?? 'diverged',
    policy: sync.policy ?? options.policy,
    conflicts: conflictsBetween(sync.localChanged ?? noChanges(), sync.remoteChanged ?? noChanges()).map((c) => ({
      ...c,
      winner: room.kv.entry(c.key)?.val,
    })),
  }
}

/** Per-room sync state, history relation and the peers the peer said it is synced with (`announcedBy`), of one link. */
export const linkRoomStates = (
  rooms: ReadonlyMap<string, RoomSync>,
  announcedBy: (room: string) => string[],
): Record<string, LinkRoomStatus> => {
  const out: Record<string, LinkRoomStatus> = {}
  for (const [name, sync] of rooms) {
    const state: LinkRoomState =
      sync.outgoing === 'held' || sync.incoming === 'held'
        ? 'quarantined'
        : sync.incoming === 'synced' && sync.outgoing === 'live'
          ? 'synced'
          : 'syncing'
    out[name] = { state, relation: sync.relation ?? null, peers: announcedBy(name) }
  }
  return out
}
