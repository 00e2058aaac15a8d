import type * as Y from 'yjs'
import type { Emitter } from '../common/index.js'
import { LightPeer } from '../light-peers/index.js'
import { PeerLink, YieldOrigin, type RoomHooks, type Rooms } from '../replication/index.js'
import { BackboneOrigin } from './backbone-host.js'
import type { MeshEvents } from './events.js'

/** Most Yjs client ids kept with the node id they belong to (for commit authors). */
const MAX_CLIENT_NAMES = 10_000

/**
 * Who wrote what: the transaction origin of this node's own writes, the node id behind each
 * Yjs client id, and how a commit's origin is told (`local`, `peer:<id>`, `light:<n>`).
 */
export class CommitOrigins {
  /** Transaction origin of this node's own writes through its store API. */
  readonly local = { kind: 'local' }
  #id: string
  #clientId: number
  #clients = new Map<number, string>()

  constructor(id: string, clientId: number) {
    this.#id = id
    this.#clientId = clientId
    this.#clients.set(clientId, id)
  }

  /** Records the node a Yjs client id belongs to. */
  name(clientId: number, nodeId: string): void {
    this.#clients.set(clientId, nodeId)
  }

  /** This node's own writes, and the write-backs `accept` made on its behalf. */
  isLocal(origin: unknown): boolean {
    return origin === this.local || origin instanceof YieldOrigin
  }

  /** Keeps the client-id → node-id names bounded. */
  prune(): void {
    while (this.#clients.size > MAX_CLIENT_NAMES) {
      const oldest = this.#clients.keys().next().value
      if (oldest === undefined || oldest === this.#clientId) break
      this.#clients.delete(oldest)
    }
  }

  describe(origin: unknown, transaction: Y.Transaction): { origin: string; via: string } {
    if (origin === this.local) return { origin: this.#id, via: 'local' }
    if (origin instanceof YieldOrigin) return { origin: this.#id, via: `accept:${origin.peer ?? 'unknown'}` }
    if (origin instanceof PeerLink) {
      const peer = origin.peerId ?? 'unknown'
      return { origin: this.#authors(transaction) ?? peer, via: `peer:${peer}` }
    }
    if (origin instanceof BackboneOrigin) return { origin: this.#authors(transaction) ?? 'unknown', via: 'backbone' }
    if (origin instanceof LightPeer) return { origin: `light:${origin.id}`, via: `light:${origin.id}` }
    return { origin: this.#authors(transaction) ?? 'unknown', via: 'unknown' }
  }

  #authors(transaction: Y.Transaction): string | undefined {
    const authors: string[] = []
    for (const [client, clock] of transaction.afterState) {
      if (clock > (transaction.beforeState.get(client) ?? 0)) {
        authors.push(this.#clients.get(client) ?? `client:${client}`)
      }
    }
    return authors.length > 0 ? authors.join(',') : undefined
  }

  /** The hooks every room calls: commit and change events, and the stores' review of changed keys. */
  roomHooks(emitter: Emitter<MeshEvents>, rooms: () => Rooms): RoomHooks {
    const hooks: RoomHooks = {
      describe: (origin, transaction) => {
        const cached = transaction.meta.get(this) as { origin: string; via: string } | undefined
        if (cached) return cached
        const described = this.describe(origin, transaction)
        transaction.meta.set(this, described)
        return described
      },
      committed: (commit) => {
        if (emitter.has('commit')) emitter.emit('commit', commit)
      },
      onKeys: (room, changed, origin, transaction) => {
        rooms().existingStore(room.name)?.review(changed.keys, !this.isLocal(origin))
        if (!emitter.has('change')) return
        emitter.emit('change', {
          room: room.name,
          // A copy: the commit log holds the same keys.
          keys: [...changed.keys],
          changes: changed.changes(),
          local: this.isLocal(origin),
          origin: hooks.describe(origin, transaction).origin,
        })
      },
    }
    return hooks
  }
}
