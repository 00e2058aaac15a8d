import type { MeshConflictError } from '../common/index.js'
import type { Member, MemberState } from '../membership/index.js'
import type { Commit, MergeReport } from '../replication/index.js'
import type { KeyChange } from '../store/index.js'

/** Emitted after every change to a room's key/value store, local or remote. */
export interface ChangeEvent {
  room: string
  keys: string[]
  /** Per key, the value before and after (undefined: absent). */
  changes: KeyChange[]
  /** True when this node made the change through its own store API. */
  local: boolean
  /** Node id (or `light:<n>`) that authored the change. */
  origin: string
}

/** Emitted when a (re)sync found diverged histories and the policy reports it (`warn`, `exception`). */
export interface ConflictEvent {
  policy: 'warn' | 'exception'
  error: MeshConflictError
}

/** A connected peer, as events report it. */
export interface PeerEvent {
  id: string
  name: string
  url: string
  /** On `peer:down`: true when the peer said it was leaving. */
  graceful?: boolean
}

/** A member changed state; `previous` is undefined on first sighting. */
export interface MemberEvent {
  member: Member
  previous: MemberState | undefined
}

/** Events of {@link MeshNode}. */
export interface MeshEvents {
  change: ChangeEvent
  merge: MergeReport
  conflict: ConflictEvent
  'peer:up': PeerEvent
  'peer:down': PeerEvent
  /** A node member was seen for the first time, or came back after being suspect or dead. */
  'member:join': MemberEvent
  /** A node member has been silent past `suspectAfterMs`. */
  'member:suspect': MemberEvent
  /** A node member announced a graceful leave. */
  'member:leave': MemberEvent
  /** A node member has been silent past `deadAfterMs`; its ephemeral keys are removed. */
  'member:dead': MemberEvent
  /** A Yjs update was applied (local or remote): the commit history grew. */
  commit: Commit
}
