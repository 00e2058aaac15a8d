import { MeshConflictError, MeshError, type Logger } from '../common/index.js'
import type { MergeReport, PeerLink } from './peer-link.js'
import type { Resolution } from './protocol.js'
import type { Room } from './room.js'

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
 * Conflicts that `onConflict: 'exception'` quarantined, and the resolutions the application
 * chose for them while the peer's link was down.
 */
export class Conflicts {
  #host: ConflictsHost
  #conflicts = new Map<string, MeshConflictError>()
  #resolutions = new Map<string, Resolution>()

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
   * any more, every other link.
   */
  clear(peer: string, room: string, strategy: Resolution): void {
    const key = keyOf(peer, room)
    if (!this.#conflicts.delete(key)) return
    const target = this.#host.existingRoom(room)
    const link = this.#host.link(peer)
    if (link && target) link.startRoom(target, strategy)
    else this.#resolutions.set(key, strategy)
    if (target && !this.quarantined(room)) {
      for (const other of this.#host.links()) if (other !== link) other.startRoom(target, strategy)
    }
    this.#host.progress()
  }

  /**
   * A link found diverged histories under `exception`, or a peer relayed a write concurrent
   * with this node's own: quarantine the room on every link.
   */
  raise(raised: MeshConflictError): void {
    const key = keyOf(raised.peer, raised.room)
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

  /** The peer's application resolved the conflict: clear it here too. */
  resolvedByPeer(peer: string, room: string): void {
    if (!this.#conflicts.has(keyOf(peer, room))) return
    this.#host.logger.info('conflict resolved by the peer', { peer, room })
    this.clear(peer, room, 'merge')
  }

  /** The resolution chosen while the link was down, once. */
  takeResolution(peer: string, room: string): Resolution {
    const key = keyOf(peer, room)
    const resolution = this.#resolutions.get(key) ?? 'none'
    this.#resolutions.delete(key)
    return resolution
  }

  /** Nobody is left to resolve a conflict with a member that is gone. */
  dropPeer(peer: string): void {
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
