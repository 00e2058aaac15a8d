import * as Y from 'yjs'
import { type Logger, type Metrics, unrefTimer } from '../common/index.js'
import { EncodedSnapshot } from './encoded-snapshot.js'
import { encodeStateV2 } from './state-encoding.js'
import { encodePeer, type FrameSegments } from './peer-messages.js'
import type { Room } from './room.js'

/**
 * Least time between two answers to a peer's checks of one room, ms: a reply snapshot and a
 * repair may each carry the whole room, so checks that come faster (honest nodes check every
 * few seconds) are answered once, together, when the interval is over.
 */
export const CHECK_ANSWER_MS = 1000

/**
 * Rounds a room's check may skip on a link while this side holds nothing new and the peer
 * reported nothing this side lacked: a quiet mesh still compares every minute or so.
 */
export const QUIET_CHECK_ROUNDS = 12

/** A check a round sends (skipped while there is nothing to compare), or one that asks the peer's snapshot back. */
export type CheckKind = 'round' | 'ask'

/** The link whose peer sends the checks. */
export interface CheckLink {
  readonly peerId: string | undefined
  /** Bytes its socket still holds unsent. */
  readonly unsentBytes: number
  sendFrame(frame: Uint8Array<ArrayBuffer> | FrameSegments): void
}

/** What answering checks needs of the node. */
export interface CheckHost {
  readonly logger: Logger
  readonly metrics: Metrics
  existingRoom(name: string): Room | undefined
  /** Something about this link's sync progress changed. */
  progress(): void
}

/** The answers to one room's checks on one link: when the last went out, and what waits. */
interface Pending {
  at: number
  timer?: ReturnType<typeof setTimeout>
  reply: boolean
  theirs?: Y.Snapshot
}

/**
 * The anti-entropy side of one peer link's rooms: the snapshots the peer reports in its
 * checks, and the answers to them (our snapshot when asked, a repair when the peer lacks what
 * we had at our last round), at most one per room every {@link CHECK_ANSWER_MS}; and which of
 * this side's round checks are due.
 *
 * A check only lets its receiver repair its sender. So a round's check is due when this side's
 * snapshot changed since its last check here (the peer may lack what is new), or when the
 * peer's last check reported something this side lacked (so the peer repairs it), and
 * otherwise every {@link QUIET_CHECK_ROUNDS} rounds. An update the peer gained changes the
 * peer's snapshot, so the peer checks, and this side learns it lacks it: an idle mesh sends
 * almost no checks, and a gap still closes within two rounds.
 */
export class CheckAnswers {
  #link: CheckLink
  #host: CheckHost
  #live: (room: string) => boolean
  /** Per room, the peer's last reported snapshot, encoded (one per room and link, for good: keep it small). */
  #peerSnapshots = new Map<string, EncodedSnapshot>()
  #pending = new Map<string, Pending>()
  /** Per room, the snapshot (by identity) of this side's last round check, and the rounds skipped since. */
  #sent = new Map<string, { snapshot: Uint8Array; skipped: number }>()
  /** Rooms whose peer reported, in its last check, something this side's last round did not hold. */
  #behind = new Set<string>()

  constructor(options: { link: CheckLink; host: CheckHost; live: (room: string) => boolean }) {
    this.#link = options.link
    this.#host = options.host
    this.#live = options.live
  }

  /** True when the peer's last reported snapshot of `room` holds everything in `target`. */
  holds(room: string, target: Y.Snapshot): boolean {
    const theirs = this.#peerSnapshots.get(room)
    return theirs !== undefined && theirs.contains(target)
  }

  /**
   * True when this side's round check of `room`, with the round's `snapshot` (the same bytes
   * object while the room is unchanged), is due on this link; it counts as sent.
   */
  roundDue(room: string, snapshot: Uint8Array): boolean {
    const last = this.#sent.get(room)
    const metrics = this.#host.metrics
    if (last?.snapshot === snapshot && !this.#behind.has(room) && ++last.skipped < QUIET_CHECK_ROUNDS) {
      metrics.checksSkipped++
      return false
    }
    this.#sent.set(room, { snapshot, skipped: 0 })
    metrics.checksSent++
    return true
  }

  /** The peer's check of a room that is live on the link. */
  onCheck(room: Room, theirs: Y.Snapshot, reply: boolean): void {
    const name = room.name
    this.#peerSnapshots.set(name, EncodedSnapshot.of(theirs))
    const mine = room.loaded ? room.checkpoint.snapshot : undefined
    if (mine ? mine.contains(theirs) : theirs.sv.size === 0) this.#behind.delete(name)
    else this.#behind.add(name)
    this.#host.progress()
    // A room not loaded holds nothing to repair with, so a check that asks no reply needs no
    // answer, and no entry per room and link (every room is checked every round).
    if (!reply && !room.loaded && !this.#pending.has(name)) return
    const now = Date.now()
    const answers = this.#pending.get(name) ?? { at: -Infinity, reply: false }
    this.#pending.set(name, answers)
    if (answers.timer === undefined && now - answers.at >= CHECK_ANSWER_MS) {
      answers.at = now
      return this.#answer(name, room, theirs, reply)
    }
    // Too soon after the last answer: one answer covers every check until the interval is over.
    answers.reply ||= reply
    answers.theirs = theirs
    if (answers.timer !== undefined) return
    answers.timer = setTimeout(
      () => {
        answers.timer = undefined
        const { theirs: latest, reply: wanted } = answers
        answers.theirs = undefined
        answers.reply = false
        answers.at = Date.now()
        const current = this.#host.existingRoom(name)
        if (latest && current && this.#live(name)) this.#answer(name, current, latest, wanted)
      },
      Math.max(0, answers.at + CHECK_ANSWER_MS - now),
    )
    unrefTimer(answers.timer)
  }

  /** Forgets what the peer reported of a room this node unloaded, and any answer waiting for it. */
  dropRoom(name: string): void {
    this.#peerSnapshots.delete(name)
    this.#sent.delete(name)
    this.#behind.delete(name)
    clearTimeout(this.#pending.get(name)?.timer)
    this.#pending.delete(name)
  }

  /** Cancels every waiting answer (the link closed). */
  clear(): void {
    for (const answers of this.#pending.values()) clearTimeout(answers.timer)
    this.#pending.clear()
    this.#sent.clear()
    this.#behind.clear()
  }

  /** Answers a check: our snapshot when asked, and a repair when the peer lacks what we had. */
  #answer(name: string, room: Room, theirs: Y.Snapshot, reply: boolean): void {
    if (reply) this.#link.sendFrame(encodePeer.check(name, room.encodeSnapshot()))
    // A room not loaded holds nothing to repair with.
    const mine = room.loaded ? room.checkpoint.snapshot : undefined
    if (!mine) return
    // Judged against our previous round, not our current state: what we gained since may
    // still be on its way, and resending it would be waste, not repair.
    if (mine.within(theirs)) return
    // The peer has not even received what was sent before: a repair now would only queue up
    // another copy of what it lacks (a peer that checks and never reads would pin one each).
    // Its next check asks again.
    if (this.#link.unsentBytes > 0) return
    this.#host.metrics.repairsSent++
    this.#host.logger.info('anti-entropy: peer lacks updates, repairing', { peer: this.#link.peerId, room: name })
    this.#link.sendFrame(encodePeer.repairSegments(name, encodeStateV2(room.doc, Y.encodeStateVector(theirs.sv))))
  }
}
