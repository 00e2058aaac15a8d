import type { Member, MemberState } from './member-record.js'

/** Failure-detection timing. */
export interface MembershipOptions {
  /** Interval between probe rounds, jittered by ±20%. Default 1000 ms. */
  heartbeatMs?: number
  /**
   * For members heard through a backbone's heartbeats: silence after which one is `suspect`.
   * Default 3 heartbeats (at least half of `deadAfterMs`).
   */
  suspectAfterMs?: number
  /**
   * Bound on declaring a failed member dead: a suspect is `dead` `deadAfterMs − heartbeatMs`
   * after it was suspected (unless it refutes), and a backbone member after this much silence.
   * Default 5000 ms.
   */
  deadAfterMs?: number
  /** Members asked to probe a target that did not answer directly (SWIM's k). Default 3. */
  indirectProbes?: number
}

/** What the registry needs of the node. */
export interface MembershipHooks {
  /** Sends a `swim` message (JSON) over the link to `peer`. */
  send(peer: string, json: string): void
  /** Sends this node's whole member table (`gossip`, JSON) over the link to `peer`. */
  sendTable(peer: string, json: string): void
  /** Ids of the members this node has an open link to. */
  peers(): string[]
  /** True while this node has an open link to `id`. */
  linked(id: string): boolean
  /** A member changed state (first sighting is `alive`). */
  changed(member: Member, previous: MemberState | undefined): void
  /** Runs after every probe round, for periodic work such as sweeping expired keys. */
  tick(now: number): void
  /** Who is alive or what someone offers changed (the registry's `version` moved): placement must be recomputed. */
  placementChanged?(): void
  random(): number
}
