import { DEFAULT_ROOM, roomNameProblem, type JsonValue } from '@mesh/core/browser'
import { MeshClientError } from './errors.js'
import type { WebSocketConstructor } from './socket.js'

/** Reconnect timing: exponential backoff with full jitter (the same defaults as node links). */
export interface BackoffOptions {
  /** First retry waits up to this long. Default 100 ms. */
  minDelayMs?: number
  /** No retry waits longer than this. Default 5 s. */
  maxDelayMs?: number
}

/** Options of {@link MeshClient}. */
export interface MeshClientOptions {
  /**
   * Node base URLs (`ws://host:port/mesh`; `http(s)://` is turned into `ws(s)://`). The
   * client connects to `${url}/${room}` on one of them and moves to the next on failure.
   */
  urls: string | readonly string[]
  /**
   * The room to replicate. Default `default`, the room nodes serve as their REST key/value
   * store. The nodes' room-name rules apply: `api`, `inspector` and names starting with `_`
   * are reserved.
   */
  room?: string
  /** Display name published in presence (`state.name`). */
  name?: string
  /** More presence fields, published with the name. */
  meta?: Record<string, JsonValue>
  /**
   * Access token for nodes with an `authenticate` hook, sent as the WebSocket subprotocol
   * `mesh-token.<token>` (browsers cannot set headers on a WebSocket; this keeps it out of URLs).
   */
  token?: string
  /** WebSocket implementation. Default `globalThis.WebSocket`; in Node 20 pass `WebSocket` from `ws`. */
  WebSocket?: WebSocketConstructor
  /** Reconnect timing. */
  backoff?: BackoffOptions
  /** A connection that receives nothing for this long is dead (nodes send at least every 15 s). Default 30 s. */
  timeoutMs?: number
  /** Connect right away. Default true; with false, call `connect()`. */
  connect?: boolean
  /** Source of jitter, in [0, 1). Default `Math.random`. */
  random?: () => number
  /**
   * Keeps this tab's replica in IndexedDB (`y-indexeddb`): offline edits survive a reload and
   * merge once the tab reconnects. `true` names the database `mesh:<room>`; a string names it.
   * Default false. Browsers only (docs/persistence.md).
   */
  persist?: boolean | string
}

/** The options after validation, with defaults filled in. */
export interface ClientSettings {
  urls: readonly string[]
  room: string
  WebSocket: WebSocketConstructor
  protocols: string[] | undefined
  timeoutMs: number
  minDelayMs: number
  maxDelayMs: number
  random: () => number
}

/** Characters a WebSocket subprotocol may hold (an RFC 7230 token). */
const PROTOCOL_TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/

const normalizeUrl = (raw: string): string => {
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    throw new MeshClientError('bad_option', `"${raw}" is not a URL; expected ws://host:port/mesh`)
  }
  if (url.protocol === 'http:') url.protocol = 'ws:'
  else if (url.protocol === 'https:') url.protocol = 'wss:'
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
    throw new MeshClientError('bad_option', `"${raw}" must start with ws://, wss://, http:// or https://`)
  }
  url.hash = ''
  url.pathname = url.pathname.replace(/\/+$/, '')
  return url.toString()
}

/**
 * Validates the constructor options, failing fast with a `bad_option` error that says what to
 * change; nothing is opened before this passes.
 */
export const clientSettings = (options: MeshClientOptions): ClientSettings => {
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- JavaScript callers may leave it out
  const urls = typeof options.urls === 'string' ? [options.urls] : [...(options.urls ?? [])]
  if (urls.length === 0) {
    throw new MeshClientError('bad_option', 'urls must list at least one node URL, e.g. ws://127.0.0.1:4000/mesh')
  }
  const normalized = urls.map(normalizeUrl)
  const room = options.room ?? DEFAULT_ROOM
  const problem = roomNameProblem(room)
  if (problem !== undefined) {
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-conversion -- JavaScript callers may pass a non-string
    throw new MeshClientError('bad_option', `"${String(room).slice(0, 40)}" is not a valid room name: ${problem}`)
  }
  const Impl = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket
  if (!Impl) {
    throw new MeshClientError(
      'bad_option',
      'no global WebSocket here; pass { WebSocket } (in Node: from the ws package)',
    )
  }
  let protocols: string[] | undefined
  if (options.token !== undefined) {
    if (!PROTOCOL_TOKEN.test(options.token)) {
      throw new MeshClientError(
        'bad_option',
        'token has characters a subprotocol cannot carry; pass it as ?token= in the URLs',
      )
    }
    protocols = [`mesh-token.${options.token}`]
  }
  return {
    urls: normalized,
    room,
    WebSocket: Impl,
    protocols,
    timeoutMs: options.timeoutMs ?? 30_000,
    minDelayMs: options.backoff?.minDelayMs ?? 100,
    maxDelayMs: options.backoff?.maxDelayMs ?? 5000,
    random: options.random ?? Math.random,
  }
}
