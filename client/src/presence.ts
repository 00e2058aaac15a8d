import type { Awareness } from 'y-protocols/awareness'
import { MeshClientError } from './errors.js'
import { toJsonValue, type JsonValue } from '@mesh/core/browser'

/** Someone in the room, as awareness reports them. */
export interface PresencePeer {
  /** `light:<clientId>`: the id this peer has in `GET /mesh/api/members` on every node. */
  id: string
  /** The awareness client id. */
  clientId: number
  /** `state.name`, else `state.user.name` (the y-websocket convention), else `id`. */
  name: string
  /** The whole awareness state the peer published. */
  state: Readonly<Record<string, unknown>>
  /** True for this client. */
  self: boolean
}

/** Emitted when someone appears, changes their presence, or leaves. */
export interface PresenceEvent {
  /** Everyone present now, this client included. */
  peers: PresencePeer[]
  added: PresencePeer[]
  updated: PresencePeer[]
  /** Ids (`light:<clientId>`) of those who left. */
  removed: string[]
}

const nameOf = (state: Record<string, unknown>, id: string): string => {
  if (typeof state.name === 'string') return state.name
  const user = state.user
  if (typeof user === 'object' && user !== null && typeof (user as { name?: unknown }).name === 'string') {
    return (user as { name: string }).name
  }
  return id
}

/** Builds the {@link PresencePeer} of one awareness entry. */
export const presencePeer = (clientId: number, state: Record<string, unknown>, self: boolean): PresencePeer => {
  const id = `light:${clientId}`
  return { id, clientId, name: nameOf(state, id), state, self }
}

/**
 * This client's presence in its room, kept in y-protocols awareness: never written into the
 * document, so it leaves no history. Nodes relay it to each other and list every entry as a
 * `light` member; it disappears when the socket closes, or 30 s after a tab just vanished.
 */
export class MeshPresence {
  #awareness: Awareness

  constructor(awareness: Awareness) {
    this.#awareness = awareness
  }

  /** The awareness client id of this client. */
  get clientId(): number {
    return this.#awareness.clientID
  }

  /** `light:<clientId>`, this client's member id on every node. */
  get id(): string {
    return `light:${this.#awareness.clientID}`
  }

  /** What this client publishes (empty after `close()`). */
  get state(): Readonly<Record<string, unknown>> {
    return this.#awareness.getLocalState() ?? {}
  }

  /**
   * Merges fields into this client's published state; a field set to `undefined` is removed.
   * Values must be JSON.
   *
   * @example
   * client.presence.set({ name: 'Ada', color: '#f90' })
   */
  set(fields: Record<string, JsonValue | undefined>): void {
    const current = this.#awareness.getLocalState()
    if (current === null) throw new MeshClientError('closed', 'presence cannot change after close()')
    const next = new Map(Object.entries(current))
    for (const [key, value] of Object.entries(fields)) {
      if (value === undefined) next.delete(key)
      else next.set(key, toJsonValue(value, key))
    }
    this.#awareness.setLocalState(Object.fromEntries(next))
  }

  /** Everyone present in the room, this client first. */
  list(): PresencePeer[] {
    const self = this.#awareness.clientID
    const peers: PresencePeer[] = []
    for (const [clientId, state] of this.#awareness.getStates()) {
      const peer = presencePeer(clientId, state, clientId === self)
      if (peer.self) peers.unshift(peer)
      else peers.push(peer)
    }
    return peers
  }

  /** Everyone present except this client. */
  others(): PresencePeer[] {
    return this.list().filter((p) => !p.self)
  }
}
