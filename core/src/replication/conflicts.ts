import * as Y from 'yjs'
import { MeshConflictError, MeshError, type Logger } from '../common/index.js'
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
   * A resync round a resolution started applied `peer`'s state: what it brought is settled
   * too, and the resolution reached that peer (it is not sent again on its next link).
   */
  settle(room: string, peer: string | undefined): void {
    const target = this.#host.existingRoom(room)
    if (target) this.#settled.add(room, Y.snapshot(target.doc))
    if (peer !== undefined) this.#resolutions.delete(keyOf(peer, room))
  }

  /**
   * True when a resolution settled both writes of a concurrent pair, or, while a round that a
   * resolution started has not applied the peer's state yet, this node's write of the pair:
   * what a third node relays meanwhile may be what that state brings, and the pair is merged,
   * not raised again. A write this node made after the resolution is never covered so.
   */
  covers(room: string, write: ConcurrentWrite): boolean {
    return this.#settled.covers(room, write) || (this.#resolving(room) && this.#settled.has(room, write.own))
  }

  /**
   * True when every operation of the peer's `remote` snapshot is in `local` (this node's) or
   * was settled by a resolution: a divergence made only of settled writes is merged, not
   * quarantined again. While a round that a resolution started is under way, also when every
   * operation of `local` is in `remote` or settled: the other side may hold what that round
   * settles (a link that dropped and came back meanwhile), and this node wrote nothing since
   * the resolution that the other side lacks.
   */
  settled(room: string, local: Y.Snapshot, remote: Y.Snapshot): boolean {
    return (
      this.#settled.holds(room, local, remote) || (this.#resolving(room) && this.#settled.holds(room, remote, local))
    )
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
