import { CloseCode, type Emitter } from '@mesh/core/browser'
import { MeshClientError } from './errors.js'
import type { ClientStatus, MeshClientEvents, StatusEvent } from './events.js'
import type { ClientSettings } from './options.js'
import { frameBytes } from './protocol.js'
import { SOCKET_OPEN, type ClientSocket } from './socket.js'

/** What the sync layer does with a connection's life. */
export interface ConnectionHandler {
  /** A socket opened: say hello. */
  opened(): void
  /**
   * A frame arrived. Throwing closes the socket as a bad message. `current` turns false once
   * this socket is no longer the client's (a listener disconnected), so the rest of the frame is dropped.
   */
  received(bytes: Uint8Array, current: () => boolean): void
  /** The socket is gone (closed, dropped, timed out): forget what it told us. */
  dropped(): void
  /** A node refused this client for good (a 4400–4499 close); no retry will come. */
  refused(error: MeshClientError): void
}

/** 4400–4499 mean "do not retry" (the convention y-websocket follows too). */
const isFinalClose = (code: number): boolean => code >= 4400 && code < 4500

/** `${base}/${room}`, keeping any query string of the base (e.g. an access token) at the end. */
const roomUrl = (base: string, room: string): string => {
  const url = new URL(base)
  url.pathname = `${url.pathname.replace(/\/+$/, '')}/${encodeURIComponent(room)}`
  return url.toString()
}

/**
 * One WebSocket at a time to one of the nodes: failover to the next URL on loss, exponential
 * backoff with full jitter between attempts, and a liveness timer that drops a connection
 * silent for `timeoutMs` (also one that never opens: some networks blackhole instead of refusing).
 */
export class Connection {
  #settings: ClientSettings
  #handler: ConnectionHandler
  #emitter: Emitter<MeshClientEvents>
  #socket: ClientSocket | undefined
  #socketUrl: string | null = null
  #status: ClientStatus = 'offline'
  #wanted = false
  #closed = false
  #urlIndex = 0
  #attempt = 0
  #retry: ReturnType<typeof setTimeout> | undefined
  #liveness: ReturnType<typeof setInterval> | undefined
  #lastMessageAt = 0

  constructor(options: { settings: ClientSettings; handler: ConnectionHandler; emitter: Emitter<MeshClientEvents> }) {
    this.#settings = options.settings
    this.#handler = options.handler
    this.#emitter = options.emitter
  }

  get status(): ClientStatus {
    return this.#status
  }

  /** Base URL of the node connected or connecting to, else `null`. */
  get url(): string | null {
    return this.#socketUrl
  }

  /** Connects (or reconnects now, skipping any backoff wait). */
  connect(): void {
    this.#wanted = true
    if (this.#socket) return
    clearTimeout(this.#retry)
    this.#retry = undefined
    this.#attempt = 0
    this.#open()
  }

  /** Closes the socket with `reason` and stays offline until `connect()`. */
  disconnect(reason: string): void {
    this.#wanted = false
    clearTimeout(this.#retry)
    this.#retry = undefined
    const socket = this.#socket
    if (socket) {
      this.#drop(socket, undefined)
      this.#closeSocket(socket, CloseCode.normal, reason)
    }
    this.#setStatus('offline')
  }

  /** Closes the socket and never opens another. */
  close(): void {
    this.#closed = true
    this.disconnect('client closed')
  }

  /**
   * Sends a frame if a socket is open; otherwise the frame is not needed (the next handshake
   * covers it). True when the socket took it.
   */
  send(frame: Uint8Array<ArrayBuffer>): boolean {
    const socket = this.#socket
    if (!socket || socket.readyState !== SOCKET_OPEN) return false
    try {
      socket.send(frame)
      return true
    } catch {
      // A socket that cannot send is closing; its close event does the cleanup.
      return false
    }
  }

  /** The sync layer caught up with the node. */
  markSynced(): void {
    if (this.#status === 'synced') return
    this.#attempt = 0
    this.#setStatus('synced')
  }

  #open(): void {
    if (!this.#wanted || this.#closed || this.#socket) return
    this.#retry = undefined
    const { urls, room, WebSocket, protocols, timeoutMs } = this.#settings
    const base = urls[this.#urlIndex % urls.length] as string
    let socket: ClientSocket
    try {
      const url = roomUrl(base, room)
      socket = protocols ? new WebSocket(url, protocols) : new WebSocket(url)
    } catch (error) {
      this.#report(new MeshClientError('bad_option', `cannot open a WebSocket to ${base}`, { cause: error }))
      this.#urlIndex++
      this.#scheduleRetry()
      return
    }
    socket.binaryType = 'arraybuffer'
    this.#socket = socket
    this.#socketUrl = base
    this.#lastMessageAt = Date.now()
    // Handlers go on before anything can arrive: the node speaks first.
    socket.onmessage = (event) => {
      if (this.#socket !== socket) return
      this.#lastMessageAt = Date.now()
      this.#receive(socket, event.data)
    }
    socket.onopen = () => {
      if (this.#socket !== socket) return
      this.#lastMessageAt = Date.now()
      this.#handler.opened()
    }
    socket.onclose = (event) => {
      if (this.#socket === socket) this.#drop(socket, event)
    }
    // Every error is followed by a close event, which does the work.
    socket.onerror = () => {}
    this.#liveness = setInterval(
      () => {
        if (this.#socket !== socket || Date.now() - this.#lastMessageAt < timeoutMs) return
        this.#drop(socket, undefined)
        this.#closeSocket(socket, CloseCode.normal, 'no message within timeout')
      },
      Math.max(10, Math.min(timeoutMs / 10, 3000)),
    )
    this.#setStatus('connecting')
  }

  #receive(socket: ClientSocket, data: unknown): void {
    const bytes = frameBytes(data)
    try {
      if (!bytes) throw new Error('text frames are not part of the protocol')
      this.#handler.received(bytes, () => this.#socket === socket)
    } catch (error) {
      if (this.#socket !== socket) return
      this.#report(
        new MeshClientError('bad_message', `bad message from ${String(this.#socketUrl)}: ${(error as Error).message}`, {
          cause: error,
        }),
      )
      this.#drop(socket, undefined)
      this.#closeSocket(socket, CloseCode.badMessage, 'bad message')
    }
  }

  /** Forgets a socket that closed or that we are closing, then retries unless told not to. */
  #drop(socket: ClientSocket, event: { code: number; reason: string } | undefined): void {
    if (this.#socket !== socket) return
    this.#socket = undefined
    this.#socketUrl = null
    socket.onopen = null
    socket.onmessage = null
    socket.onclose = null
    clearInterval(this.#liveness)
    this.#liveness = undefined
    const wasSynced = this.#status === 'synced'
    this.#handler.dropped()
    // Any node will do, and the one that just failed is the least likely to answer.
    this.#urlIndex++
    if (wasSynced) this.#attempt = 0
    if (event && isFinalClose(event.code)) {
      this.#wanted = false
      const refusal = new MeshClientError(
        'rejected',
        `node closed the connection with ${event.code}${event.reason ? ` (${event.reason})` : ''}; not retrying`,
        { closeCode: event.code, reason: event.reason },
      )
      this.#report(refusal)
      this.#handler.refused(refusal)
    }
    if (!this.#wanted) {
      this.#setStatus('offline')
      return
    }
    this.#scheduleRetry()
  }

  #closeSocket(socket: ClientSocket, code: number, reason: string): void {
    try {
      socket.close(code, reason)
    } catch {
      // Already closed.
    }
  }

  #scheduleRetry(): void {
    if (!this.#wanted || this.#closed) return
    const { minDelayMs, maxDelayMs, random } = this.#settings
    const ceiling = Math.min(maxDelayMs, minDelayMs * 2 ** this.#attempt)
    this.#attempt = Math.min(this.#attempt + 1, 30)
    const delay = Math.round(Math.max(10, random() * ceiling))
    this.#retry = setTimeout(() => this.#open(), delay)
    this.#setStatus('offline', delay)
  }

  #setStatus(status: ClientStatus, retryInMs?: number): void {
    if (status === this.#status) return
    this.#status = status
    const event: StatusEvent = { status, url: this.#socketUrl }
    if (retryInMs !== undefined) event.retryInMs = retryInMs
    this.#emitter.emit('status', event)
  }

  #report(error: MeshClientError): void {
    this.#emitter.emit('error', error)
  }
}
