import type { ConflictPolicy, HistoryRelation, LinkRoomState } from '../replication/index.js'

/** One peer in `node.status()`. */
export interface PeerStatus {
  id: string | null
  name: string | null
  url: string
  direction: 'outgoing' | 'incoming'
  link: 'connecting' | 'handshake' | 'proving' | 'open' | 'waiting' | 'dormant' | 'self' | 'stopped' | 'closed'
  /** History relation of room `default` found at the last (re)sync. */
  relation: HistoryRelation | null
  rooms: Record<string, { state: LinkRoomState; relation: HistoryRelation | null }>
  error?: string
}

/** What `node.status()` returns. */
export interface NodeStatus {
  id: string
  name: string
  url: string
  onConflict: ConflictPolicy
  /** State vector of room `default`: Yjs client id → clock. */
  stateVector: Record<string, number>
  rooms: Record<
    string,
    {
      stateVector: Record<string, number>
      keys: number
      lightPeers: number
      /** True while updates wait for something they depend on (pending structs): a gap anti-entropy is filling. */
      pending: boolean
    }
  >
  peers: PeerStatus[]
  lightPeers: number
  conflicts: Array<{ peer: string; room: string; keys: string[] }>
  commits: number
}
