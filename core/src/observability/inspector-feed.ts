import { CloseCode, unrefTimer } from '../common/index.js'
import type { Commit } from '../replication/index.js'
import { defineJsonProperty, toJsonSafe, type JsonValue } from '../common/index.js'
import type { Member } from '../membership/index.js'
import type { MergeReport } from '../replication/index.js'
import type { NodeStatus } from './status.js'
import { SOCKET_OPEN, type Connection, type MeshSocket } from '../common/index.js'

/** Room name under which adapters route a socket to the inspector feed: `/mesh/_inspect`. */
export const INSPECT_ROOM = '_inspect'

/** Status snapshots are coalesced to at most one per this many milliseconds. */
const STATUS_INTERVAL_MS = 200
/** A change event carries the new values of at most this many keys; the rest are listed. */
const MAX_VALUES = 200

/**
 * One message of the inspector feed (JSON in a binary frame). The first is `hello` with the
 * whole picture; the rest are deltas.
 */
export type FeedMessage =
  | {
      type: 'hello'
      time: number
      status: NodeStatus
      members: Member[]
      data: Record<string, JsonValue>
      history: Commit[]
    }
  | { type: 'status'; time: number; status: NodeStatus; members: Member[] }
  | {
      type: 'change'
      time: number
      room: string
      origin: string
      local: boolean
      /** New values of changed keys that hold one. */
      values: Record<string, JsonValue>
      /** Changed keys that no longer hold a value. */
      removed: string[]
      /** Changed keys beyond the ones carried here (ask for a fresh hello). */
      more: string[]
    }
  | { type: 'commit'; time: number; commit: Commit }
  | { type: 'merge'; time: number; report: MergeReport }
  | { type: 'conflict'; time: number; policy: string; peer: string; room: string; keys: unknown[] }

/** The events a feed listens to, as much of them as it reads. */
export interface FeedEvents {
  change: { room: string; keys: string[]; origin: string; local: boolean }
  commit: Commit
  merge: MergeReport
  conflict: { policy: string; error: { peer: string; room: string; keys: unknown[] } }
  'peer:up': unknown
  'peer:down': unknown
  'member:join': unknown
  'member:suspect': unknown
  'member:leave': unknown
  'member:dead': unknown
}

/** What a feed reads of a node: a narrow view, so that observability does not depend on node/. */
export interface FeedSource {
  readonly closed: boolean
  on<K extends keyof FeedEvents>(event: K, listener: (payload: FeedEvents[K]) => void): () => void
  status(): NodeStatus
  members(): Member[]
  history(filter: { limit?: number }): Commit[]
  get(key: string): JsonValue | undefined
  readonly data: { toJSON(): Record<string, JsonValue> }
}

/**
 * A live, read-only feed of one node for the web inspector: its status, members, data and
 * commits, pushed as they change (no polling). Anything the inspector sends is refused.
 */
export class InspectorFeed implements Connection {
  #node: FeedSource
  #socket: MeshSocket
  #offs: Array<() => void> = []
  #statusTimer: ReturnType<typeof setTimeout> | undefined
  #closed = false

  constructor(node: FeedSource, socket: MeshSocket, onProgress: (listener: () => void) => () => void) {
    this.#node = node
    this.#socket = socket
    const on = <K extends keyof FeedEvents>(event: K, listener: (payload: FeedEvents[K]) => void) =>
      this.#offs.push(node.on(event, listener))
    this.#send({
      type: 'hello',
      time: Date.now(),
      status: node.status(),
      members: node.members(),
      data: node.data.toJSON(),
      history: node.history({ limit: 200 }),
    })
    on('change', (e) => {
      if (e.room === 'default') {
        const values: Record<string, JsonValue> = {}
        const removed: string[] = []
        for (const key of e.keys.slice(0, MAX_VALUES)) {
          const value = node.get(key)
          if (value === undefined) removed.push(key)
          else defineJsonProperty(values, key, value)
        }
        this.#send({
          type: 'change',
          time: Date.now(),
          room: e.room,
          origin: e.origin,
          local: e.local,
          values,
          removed,
          more: e.keys.slice(MAX_VALUES),
        })
      }
      this.#scheduleStatus()
    })
    on('commit', (commit) => this.#send({ type: 'commit', time: Date.now(), commit }))
    on('merge', (report) => {
      this.#send({ type: 'merge', time: Date.now(), report })
      this.#scheduleStatus()
    })
    on('conflict', ({ policy, error }) =>
      this.#send({ type: 'conflict', time: Date.now(), policy, peer: error.peer, room: error.room, keys: error.keys }),
    )
    this.#offs.push(onProgress(() => this.#scheduleStatus()))
    for (const event of [
      'peer:up',
      'peer:down',
      'member:join',
      'member:suspect',
      'member:leave',
      'member:dead',
    ] as const) {
      on(event, () => this.#scheduleStatus())
    }
  }

  /** The feed is one-way: any frame from the inspector closes it. */
  receive(): void {
    this.#socket.close(CloseCode.badMessage, 'the inspector feed is read-only')
    this.close()
  }

  /** Stops the feed. */
  close(): void {
    if (this.#closed) return
    this.#closed = true
    clearTimeout(this.#statusTimer)
    for (const off of this.#offs) off()
  }

  /** Sends a status snapshot soon, coalescing bursts of events into one. */
  #scheduleStatus(): void {
    if (this.#statusTimer || this.#closed) return
    this.#statusTimer = setTimeout(() => {
      this.#statusTimer = undefined
      if (this.#node.closed) return
      this.#send({ type: 'status', time: Date.now(), status: this.#node.status(), members: this.#node.members() })
    }, STATUS_INTERVAL_MS)
    unrefTimer(this.#statusTimer)
  }

  #send(message: FeedMessage): void {
    if (this.#closed || this.#socket.readyState !== SOCKET_OPEN) return
    try {
      this.#socket.send(new TextEncoder().encode(JSON.stringify(toJsonSafe(message))))
    } catch {
      this.close()
    }
  }
}
