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
 * we had at our last round), at most one per room every {@link CHECK_ANSWER_MS}.
 */
export class CheckAnswers {
  #link: CheckLink
  #host: CheckHost
  #live: (room: string) => boolean
  /** Per room, the peer's last reported snapshot, encoded (one per room and link, for good: keep it small). */
  #peerSnapshots = new Map<string, EncodedSnapshot>()
  #pending = new Map<string, Pending>()

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

  /** The peer's check of a room that is live on the link. */
  onCheck(room: Room, theirs: Y.Snapshot, reply: boolean): void {
    const name = room.name
    this.#peerSnapshots.set(name, EncodedSnapshot.of(theirs))
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
    clearTimeout(this.#pending.get(name)?.timer)
    this.#pending.delete(name)
  }

  /** Cancels every waiting answer (the link closed). */
  clear(): void {
    for (const answers of this.#pending.values()) clearTimeout(answers.timer)
    this.#pending.clear()
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
