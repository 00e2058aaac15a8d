import { MeshError, type JsonValue } from '../common/index.js'

/** How a member is doing, as this node judges it. */
export type MemberState = 'alive' | 'suspect' | 'dead' | 'left'

/** What a node says about itself; gossip spreads it. */
export interface MemberRecord {
  id: string
  name: string
  url: string
  capabilities: string[]
  meta: Record<string, JsonValue>
  /** Milliseconds since the epoch the node started. */
  startedAt: number
  /**
   * Random per process: a node restarted with the same id is a new life, whatever its clock
   * says, and news of an earlier life is recognised as stale.
   */
  incarnation: string
  /** Incremented by the node itself every heartbeat; only a higher value proves it is alive. */
  heartbeat: number
  /** `left` once the node announced a graceful leave. */
  leaving: boolean
  /**
   * Ids of the peers the node has a live link to, sorted: the link graph membership judges
   * reachability on (see Membership). Absent from a node that gossips counters only.
   */
  links?: string[]
}

/** One entry of `node.members()`. */
export interface Member {
  id: string
  name: string
  url: string
  role: 'node' | 'light'
  capabilities: string[]
  state: MemberState
  startedAt: number
  /** Milliseconds since the epoch this node last heard the member was alive. */
  lastSeen: number
  meta: Record<string, JsonValue>
}

/** A copy of the capabilities a node declares; throws a `bad_request` MeshError unless it is an array of strings. */
export const capabilityList = (capabilities: unknown): string[] => {
  if (!Array.isArray(capabilities) || !capabilities.every((c) => typeof c === 'string')) {
    throw new MeshError('bad_request', 'capabilities must be an array of strings')
  }
  return [...capabilities]
}

/** True when both lists hold the same strings in the same order. */
export const sameList = (a: readonly string[], b: readonly string[]): boolean =>
  a.length === b.length && a.every((x, i) => x === b[i])

/** True when record `b` tells nothing that `a` did not, but perhaps a higher counter: no news to pass on. */
export const sameNews = (a: MemberRecord, b: MemberRecord): boolean =>
  a.incarnation === b.incarnation &&
  a.leaving === b.leaving &&
  a.url === b.url &&
  a.name === b.name &&
  sameList(a.capabilities, b.capabilities) &&
  sameList(a.links ?? [], b.links ?? []) &&
  JSON.stringify(a.meta) === JSON.stringify(b.meta)

/** A node member as `members()` lists it: its record, the state this node judges, when it was last reached. */
export const toMember = (r: MemberRecord, state: MemberState, lastSeen: number): Member => ({
  id: r.id,
  name: r.name,
  url: r.url,
  role: 'node',
  capabilities: r.capabilities,
  state,
  startedAt: r.startedAt,
  lastSeen,
  meta: r.meta,
})
