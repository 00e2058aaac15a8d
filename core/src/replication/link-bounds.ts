/** Time bounds of peer links, in one place for the link set and the membership reactions. */

/** A peer link that received nothing for this many `deadAfterMs` is closed (CloseCode.silent). */
const SILENT_LINK_DEAD_AFTERS = 2

/**
 * How long a peer link may receive nothing before it is closed. Live peers heartbeat on every
 * link, so a link this quiet belongs to a peer that stopped reading or answering it; twice the
 * silence after which membership judges a member dead leaves room for a peer busy applying a
 * large state (a cold join).
 */
export const silenceBoundMs = (deadAfterMs: number): number => SILENT_LINK_DEAD_AFTERS * deadAfterMs

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
