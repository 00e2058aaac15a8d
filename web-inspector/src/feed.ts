import type { FeedMessage } from './types.js'

/** Where one node's feed stands. */
export type FeedState = 'connecting' | 'open' | 'closed'

/** What a feed reports to its owner. */
export interface FeedHandlers {
  message(message: FeedMessage): void
  state(state: FeedState): void
}

/** The owner's handle on one feed. */
export interface FeedHandle {
  /** Drops the connection and opens a fresh one at once: the next `hello` is the whole picture again. */
  resync(): void
  /** Closes the feed for good. */
  stop(): void
}

/** Opens a feed; the model takes this as a parameter so tests can run it without sockets. */
export type OpenFeed = (url: string, handlers: FeedHandlers) => FeedHandle

const MIN_DELAY_MS = 250
const MAX_DELAY_MS = 5000

const decoder = new TextDecoder()

const isFeedMessage = (value: unknown): value is FeedMessage =>
  typeof value === 'object' && value !== null && typeof (value as { type?: unknown }).type === 'string'

/**
 * A node's inspector feed (`ws://HOST:PORT/mesh/_inspect`) over the browser WebSocket: JSON in
 * binary frames, one way. Reconnects with exponential backoff and jitter, so a node that
 * dies and comes back reappears without a reload.
 */
export const openWebSocketFeed: OpenFeed = (url, handlers) => {
  let socket: WebSocket | undefined
  let timer: ReturnType<typeof setTimeout> | undefined
  let attempt = 0
  let stopped = false

  const connect = (): void => {
    if (stopped) return
    handlers.state('connecting')
    const ws = new WebSocket(url)
    socket = ws
    ws.binaryType = 'arraybuffer'
    // Listeners go on before anything can arrive: the node speaks first (hello).
    ws.addEventListener('message', (event: MessageEvent<ArrayBuffer | string>) => {
      if (ws !== socket) return
      let parsed: unknown
      try {
        parsed = JSON.parse(typeof event.data === 'string' ? event.data : decoder.decode(event.data))
      } catch {
        return
      }
      if (isFeedMessage(parsed)) handlers.message(parsed)
    })
    ws.addEventListener('open', () => {
      if (ws !== socket) return
      attempt = 0
      handlers.state('open')
    })
    ws.addEventListener('close', () => {
      if (ws !== socket) return
      socket = undefined
      handlers.state('closed')
      schedule()
    })
  }

  const schedule = (): void => {
    if (stopped) return
    const ceiling = Math.min(MAX_DELAY_MS, MIN_DELAY_MS * 2 ** attempt)
    attempt = Math.min(attempt + 1, 16)
    timer = setTimeout(connect, ceiling / 2 + (Math.random() * ceiling) / 2)
  }

  connect()
  return {
    resync: () => {
      if (stopped) return
      clearTimeout(timer)
      const old = socket
      socket = undefined
      old?.close()
      connect()
    },
    stop: () => {
      stopped = true
      clearTimeout(timer)
      const old = socket
      socket = undefined
      old?.close()
    },
  }
}
