/** Time bounds of peer links, in one place for the link set and the membership reactions. */

/** A peer link that received nothing for this many `deadAfterMs` is closed (CloseCode.silent). */
const SILENT_LINK_DEAD_AFTERS = 2

/** Heartbeats a live peer's beats on a link may be apart, at most: every other one, each up to 1.2 long. */
const BEAT_GAP_HEARTBEATS = 2.4

/**
 * How long a peer link may receive nothing before it is closed. Live peers beat on every link
 * every other heartbeat, so a link this quiet belongs to a peer that stopped reading or
 * answering it; twice the silence after which membership judges a member dead leaves room for
 * a peer busy applying a large state (a cold join), and never less than two beat gaps (a
 * `deadAfterMs` barely above `heartbeatMs` is allowed).
 */
export const silenceBoundMs = (deadAfterMs: number, heartbeatMs: number): number =>
  Math.max(SILENT_LINK_DEAD_AFTERS * deadAfterMs, 2 * BEAT_GAP_HEARTBEATS * heartbeatMs)

/**
 * Longest a link closed as a duplicate drains (PeerLink.draining), ms. Its peer's last answers
 * come before the peer's close frame, within a round trip on a live path; a path that went
 * silent never brings that frame, and ws would wait 30 s for it while the calls sent on the link
 * wait to go again on the new one.
 */
export const MAX_DRAIN_MS = 2000

/**
 * How long a dial that has not linked yet holds a place in `maxPeers` (PeerLinks.pendingDials):
 * the silence after which membership judges a member dead. A dial that takes longer (a
 * black-holed address, a member behind a partition) is treated like such a member: the node
 * dials others meanwhile, and keeps redialing it with backoff.
 */
export const dialHoldMs = (deadAfterMs: number): number => deadAfterMs
