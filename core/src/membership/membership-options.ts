import type { LinkLiveness } from './link-graph.js'
import type { Member, MemberRecord, MemberState } from './member-record.js'

/** Failure-detection timing. */
export interface MembershipOptions {
  /** Interval between heartbeats, jittered by ±20%. Default 1000 ms. */
  heartbeatMs?: number
  /** Silence after which a member is `suspect`. Default 3 heartbeats (at least half of `deadAfterMs`). */
  suspectAfterMs?: number
  /** Silence after which a member is `dead` and its ephemeral keys are removed. Default 5000 ms. */
  deadAfterMs?: number
}

/** What the registry reports to the node. */
export interface MembershipHooks {
  /** Sends member records to every peer link but `except` (the one they came from). */
  broadcast(records: MemberRecord[], except?: string): void
  /**
   * The node's open peer links. With it, membership runs on the link graph (see
   * {@link Membership}); without it (a backbone with no peer links, a test), every heartbeat
   * sends the whole table to every link, as counter-only gossip.
   */
  links?(): Iterable<LinkLiveness>
  /** Sends member records on the link to `peer` (`[]`: a beat). */
  sendTo?(peer: string, records: MemberRecord[]): void
  /** A member changed state (first sighting is `alive`). */
  changed(member: Member, previous: MemberState | undefined): void
  /** Runs after every heartbeat, for periodic work such as sweeping expired keys. */
  tick(now: number): void
  /** This node's heartbeats were `gapMs` apart, past `deadAfterMs`: it stalled, and judges its peers on their silence. */
  stalled?(gapMs: number): void
  /** Who is alive or what someone offers changed ({@link Membership.version} moved): placement must be recomputed. */
  placementChanged?(): void
  random(): number
}
