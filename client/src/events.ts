import type { MeshClientError } from './errors.js'
import type { PresenceEvent } from './presence.js'

/**
 * Where the client stands:
 * - `connecting`: a socket to a node is opening, or open and catching up;
 * - `synced`: connected and caught up; local edits reach the mesh as they happen;
 * - `offline`: no connection (waiting to retry, `disconnect()`ed, refused or closed). Edits
 *   stay in the local replica and are merged when a connection syncs again.
 */
export type ClientStatus = 'connecting' | 'synced' | 'offline'

/** Emitted when {@link MeshClient.status} changes. */
export interface StatusEvent {
  status: ClientStatus
  /** Base URL of the node the client is connected or connecting to, else `null`. */
  url: string | null
  /** When `offline` and retrying: milliseconds until the next attempt. */
  retryInMs?: number
}

/** Emitted after every change to the store, local or remote. */
export interface ClientChangeEvent {
  keys: string[]
  /** True when this client made the change. */
  local: boolean
}

/** Emitted once, when a node first refuses this client's writes. */
export interface ReadOnlyEvent {
  /** The reason the node gave. */
  reason: string
}

/** Events of {@link MeshClient}. */
export interface MeshClientEvents {
  change: ClientChangeEvent
  status: StatusEvent
  presence: PresenceEvent
  readonly: ReadOnlyEvent
  /** Something went wrong that the client recovers from on its own (or, for `rejected`, gave up on). */
  error: MeshClientError
}
