import type * as Y from 'yjs'
import type { HistoryRelation } from './compare.js'
import type { ChangedKeys, ConflictPolicy } from './conflict.js'
import type { Resolution } from './protocol.js'

/** One room's (re)sync round on one link, as far as it got (room-sync.ts). */
export interface RoomSync {
  sentState: boolean
  gotState: boolean
  outgoing: 'pending' | 'live' | 'held'
  incoming: 'pending' | 'synced' | 'held'
  override: Resolution
  relation?: HistoryRelation
  policy?: ConflictPolicy
  remoteSnapshot?: Y.Snapshot
  localChanged?: ChangedKeys
  remoteChanged?: ChangedKeys
  conflictRaised?: boolean
  /** A round that a resolution (this side's or the peer's) started: what it brings is settled. */
  resolving?: boolean
}

/** A round that has sent and received nothing yet; `override`: the resolution it carries. */
export const freshSync = (override: Resolution = 'none'): RoomSync => ({
  sentState: false,
  gotState: false,
  outgoing: 'pending',
  incoming: 'pending',
  override,
})
