import * as Y from 'yjs'
import { errorText, MeshConflictError, MeshError, unrefTimer, type Logger } from '../common/index.js'
import type { ConcurrentWrite } from '../store/index.js'
import type { MergeReport, PeerLink } from './peer-link.js'
import type { Resolution } from './protocol.js'
import type { Room } from './room.js'
import { Settlements } from './settlements.js'

/** Emitted when a (re)sync found diverged histories and the policy reports it (`warn`, `exception`). */
export interface ConflictEvent {
  policy: 'warn' | 'exception'
  error: MeshConflictError
}

/** What the conflict bookkeeping needs of the node around it. */
export interface ConflictsHost {
  readonly logger: Logger
  existingRoom(name: string): Room | undefined
  link(peer: string): PeerLink | undefined
  links(): Iterable<PeerLink>
  conflict(event: ConflictEvent): void
  merge(report: MergeReport): void
  progress(): void
}

const keyOf = (peer: string, room: string): string => `${peer}\u0000${room}`

/** How often what waits for a resolution round looks whether the round is over. */
const RESUME_EVERY_MS = 250

/**
 * Conflicts that `onConflict: 'exception'` quarantined, the resolutions the application
 * chose for them while the peer's link was down, and what resolutions settled (a resolved
 * conflict is not raised again by the same writes, see Settlements).
 */
export class Conflicts {
  #host: ConflictsHost
  #conflicts = new Map<string, MeshConflictError>()
  #resolutions = new Map<string, Resolution>()
  /** The peer's snapshot the conflict was raised on, when a (re)sync raised it. */
  #remotes = new Map<string, Y.Snapshot>()
  #settled = new Settlements()
  /** Per room, what waits for the resolution rounds under way (see {@link resume}). */
  #waiting = new Map<string, Array<() => void>>()
  #timer: ReturnType<typeof setInterval> | undefined
  #closed = false

  constructor(host: ConflictsHost) {
    this.#host = host
  }

  get size(): number {
    return this.#conflicts.size
  }

  list(): MeshConflictError[] {
    return [...this.#conflicts.values()]
  }

  /** Releases a quarantined room with `merge` or `accept` (see `MeshNode.resolveConflict`). */
  resolve(peer: string, room: string, strategy: unknown): void {
    if (strategy !== 'merge' && strategy !== 'accept') {
      throw new MeshError('bad_request', 'strategy must be "merge" or "accept"')
    }
    if (!this.#conflicts.has(keyOf(peer, room))) {
      throw new MeshError('not_found', `no pending conflict with peer ${peer} in room "${room}"`)
    }
    this.clear(peer, room, strategy)
  }

  /** True while a conflict quarantines `room` on this node. */
  quarantined(room: string): boolean {
    for (const conflict of this.#conflicts.values()) if (conflict.room === room) return true
    return false
  }

  /**
   * Clears a conflict and resyncs: the peer's link with the strategy (the resolution binds the
   * peer too, and clears its side of the conflict), and, once no conflict quarantines the room
   * any more, every other link. A resolution (not a drop) settles what both sides held.
   */
  clear(peer: string, room: string, strategy: Resolution, remote?: Y.Snapshot): void {
    const key = keyOf(peer, room)
    if (!this.#conflicts.delete(key)) return
    const target = this.#host.existingRoom(room)
    const raisedOn = this.#remotes.get(key)
    this.#remotes.delete(key)
    if (strategy !== 'none') {
      for (const snapshot of [target && Y.snapshot(target.doc), raisedOn, remote]) {
        if (snapshot) this.#settled.add(room, snapshot)
      }
    }
    const link = this.#host.link(peer)
    // Kept until a round with the peer carries it through (settle): the link may be replaced
    // (a reconnect, a duplicate that won) before its round ran, and the peer must still hear it.
    if (strategy !== 'none') this.#resolutions.set(key, strategy)
    if (link && target) link.startRoom(target, strategy)
    if (target && !this.quarantined(room)) {
      for (const other of this.#host.links()) if (other !== link) other.startRoom(target, strategy)
    }
    this.#host.progress()
  }

  /**
   * A link found diverged histories under `exception`, or a peer relayed a write concurrent
   * with this node's own: quarantine the room on every link.
   */
  raise(raised: MeshConflictError, remote?: Y.Snapshot): void {
    const key = keyOf(raised.peer, raised.room)
    if (remote) this.#remotes.set(key, remote)
    const known = this.#conflicts.get(key)
    // A conflict raised again (a reconnect, a duplicate link that lost the race) keeps the
    // keys it named before: a later round may see the room already held and name none.
    const keys = new Map([...(known?.keys ?? []), ...raised.keys].map((k) => [k.key, k]))
    if (known && keys.size === known.keys.length) return
    const error = new MeshConflictError({ peer: raised.peer, room: raised.room, keys: [...keys.values()] })
    this.#conflicts.set(key, error)
    // The whole room is quarantined on this node, on every link, not only the one that
    // diverged: otherwise a third node would relay the diverged writes around it.
    for (const link of this.#host.links()) link.holdRoom(error.room)
    this.#host.logger.warn('diverged history quarantined until resolveConflict()', {
      peer: error.peer,
      room: error.room,
      keys: error.keys.map((k) => k.key),
    })
    this.#host.conflict({ policy: 'exception', error })
    this.#host.progress()
  }

  /** The peer's application resolved the conflict (`remote`: its snapshot then): clear it here too. */
  resolvedByPeer(peer: string, room: string, remote: Y.Snapshot): void {
    if (!this.#conflicts.has(keyOf(peer, room))) return
    this.#host.logger.info('conflict resolved by the peer', { peer, room })
    this.clear(peer, room, 'merge', remote)
  }

  /**
   * A resync round a resolution started applied `peer`'s state (`remote`, its snapshot): what
   * it brought is settled too, and the resolution reached that peer (it is not sent again on
   * its next link). Only the peer's state: what other links brought meanwhile is judged anew.
   */
  settle(room: string, peer: string | undefined, remote: Y.Snapshot): void {
    this.#settled.add(room, remote)
    if (peer !== undefined) this.#resolutions.delete(keyOf(peer, room))
    // The round is over once its link marks the state applied, right after this returns.
    if (this.#waiting.has(room)) queueMicrotask(() => this.resume())
  }

  /**
   * True when a resolution settled both writes of a concurrent pair: the pair is merged, not
   * raised again. While a round that a resolution started has not applied the peer's state
   * yet, a pair whose write on this node's side is settled may be one of the writes that state
   * brings (a third node relays them meanwhile): it is judged again once no such round is
   * under way (`later`, see {@link resume}), and is not reported now.
   */
  covers(room: string, write: ConcurrentWrite, later: () => void): boolean {
    if (this.#settled.covers(room, write)) return true
    if (!this.#resolving(room) || !this.#settled.has(room, write.own)) return false
    this.#wait(room, later)
    return true
  }

  /**
   * How a (re)sync with a peer whose snapshot is `remote` stands against what resolutions
   * settled: `settled` when every operation of `remote` is in `local` (this node's) or settled
   * (a divergence made only of settled writes is merged, not quarantined again); `wait` while a
   * round that a resolution started is under way and this node holds nothing that `remote`
   * lacks but settled writes (the other side may hold what that round settles: the link holds
   * the room and starts it again once the round is over, see {@link resume}); else `new`.
   */
  settled(room: string, local: Y.Snapshot, remote: Y.Snapshot): 'settled' | 'wait' | 'new' {
    if (this.#settled.holds(room, local, remote)) return 'settled'
    return this.#resolving(room) && this.#settled.holds(room, remote, local) ? 'wait' : 'new'
  }

  /** Runs `resume` once no round that a resolution started for `room` is under way (see {@link resume}). */
  waitFor(room: string, resume: () => void): void {
    this.#wait(room, resume)
  }

  #wait(room: string, resume: () => void): void {
    if (this.#closed) return
    const waiting = this.#waiting.get(room) ?? []
    waiting.push(resume)
    this.#waiting.set(room, waiting)
    // A round also ends when its link closes, which nothing here hears of: look again shortly.
    if (this.#timer !== undefined) return
    this.#timer = setInterval(() => this.resume(), RESUME_EVERY_MS)
    unrefTimer(this.#timer)
  }

  /**
   * Judges again what waited for resolution rounds that are over now (each round applied its
   * peer's state, or its link closed): after a round settles, and every RESUME_EVERY_MS meanwhile.
   */
  resume(): void {
    for (const [room, waiting] of [...this.#waiting]) {
      if (this.#resolving(room)) continue
      this.#waiting.delete(room)
      for (const resume of waiting) {
        try {
          resume()
        } catch (error) {
          this.#host.logger.error('judging a write that waited for a resolution failed', {
            room,
            error: errorText(error),
          })
        }
      }
    }
    if (this.#waiting.size === 0 && this.#timer !== undefined) {
      clearInterval(this.#timer)
      this.#timer = undefined
    }
  }

  /** Stops looking and drops what waited: the node is closing, and judges no write any more. */
  close(): void {
    this.#closed = true
    clearInterval(this.#timer)
    this.#timer = undefined
    this.#waiting.clear()
  }

  #resolving(room: string): boolean {
    for (const link of this.#host.links()) if (link.resolving(room)) return true
    return false
  }

  /** The resolution a new link with `peer` carries: one no round with the peer carried through yet. */
  pendingResolution(peer: string, room: string): Resolution {
    return this.#resolutions.get(keyOf(peer, room)) ?? 'none'
  }

  /** Nobody is left to resolve a conflict with a member that is gone. */
  dropPeer(peer: string): void {
    for (const key of [...this.#resolutions.keys()]) if (key.startsWith(keyOf(peer, ''))) this.#resolutions.delete(key)
    for (const conflict of [...this.#conflicts.values()]) {
      if (conflict.peer !== peer) continue
      this.#host.logger.info('conflict dropped: the peer is gone', { peer, room: conflict.room })
      this.clear(peer, conflict.room, 'none')
    }
  }

  /** Reports a merge: logs conflicting keys, and under `warn` emits a conflict event. */
  merged(report: MergeReport): void {
    if (report.conflicts.length > 0) {
      const fields = { peer: report.peer, room: report.room, keys: report.conflicts.map((c) => c.key) }
      if (report.policy === 'warn') {
        this.#host.logger.warn('merged diverged history with conflicting keys', fields)
        this.#host.conflict({
          policy: 'warn',
          error: new MeshConflictError({ peer: report.peer, room: report.room, keys: report.conflicts }),
        })
      } else {
        this.#host.logger.info('merged diverged history', fields)
      }
    }
    this.#host.merge(report)
  }
}
