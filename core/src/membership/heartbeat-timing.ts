/** How often a node heartbeats, beats and exchanges its table, and what counts as silence or a stall. */

/** The longest gap between two heartbeats of a node that is not stalled, in heartbeats (±20 % jitter). */
export const MAX_TICK_HEARTBEATS = 1.2

/** Heartbeats between two sends of the whole member table to one random peer. */
export const FULL_EXCHANGE_TICKS = 30

/**
 * Heartbeats past `deadAfterMs` that a gap between two heartbeats must exceed to be a stall
 * after which a peer may have judged this node dead: its last beat was at most 1.2 heartbeats
 * before the gap began, a peer lists the link for three heartbeats after that beat and refreshes
 * the node until its last tick in them (at least 1.8 heartbeats after the beat), then judges it
 * dead `deadAfterMs` later: 1.8 - 1.2 = 0.6. Honest gaps are at most 1.2 heartbeats.
 */
export const STALL_SLACK_HEARTBEATS = 0.6

/** Heartbeats between two beats on each link: every other one, so a link carries one frame per heartbeat. */
export const BEAT_TICKS = 2

/**
 * Heartbeats after which a link that brought no frame is silent: the gap between two beats of
 * an honest peer is at most two of its heartbeats, each up to 1.2 of ours with jitter.
 */
export const LINK_SILENCE_HEARTBEATS = 3
