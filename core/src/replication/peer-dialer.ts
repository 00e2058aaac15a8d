import WebSocket from 'ws'
import { CloseCode, unrefTimer } from '../common/index.js'
import type { Logger } from '../common/index.js'
import type { PeerLink } from './peer-link.js'
import type { MeshSocket } from '../common/index.js'

/** Reconnect timing: exponential backoff with full jitter. */
export interface BackoffOptions {
  /** First retry waits up to this long. Default 100 ms. */
  minDelayMs?: number
  /** No retry waits longer than this. Default 5 s. */
  maxDelayMs?: number
}

/** What a dialer needs from its node. */
export interface DialerHost {
  readonly logger: Logger
  readonly maxMessageBytes: number
  /** Starts a dialer-side link over an open socket. */
  connect(socket: MeshSocket): PeerLink
  /** True when the node already has an open link to `peerId`. */
  hasLink(peerId: string): boolean
  /** True while the application cut the link to `peerId`. */
  isCut(peerId: string): boolean
  random(): number
  /** A dialer's state changed after its socket closed: waits on the links' progress look again. */
  stateChanged(): void
}

/**
 * Keeps one outgoing peer link to a URL alive: dials with the `ws` package, and after a
 * drop redials with exponential backoff and jitter. When the other side turns the link down
 * as a duplicate (we already share another link), it waits until that link is gone.
 */
export class PeerDialer {
  readonly url: string
  #host: DialerHost
  #min: number
  #max: number
  #attempt = 0
  /** Refusals in a row (44xx closes), for logging at each doubling rather than on every attempt. */
  #refusals = 0
  #socket: WebSocket | undefined
  #link: PeerLink | undefined
  #timer: ReturnType<typeof setTimeout> | undefined
  #stopped = false
  /** Node id behind this URL, learned from its handshake. */
  peerId: string | undefined
  /** `dormant`: another link already reaches this node; `self`: the URL is this node. */
  state: 'connecting' | 'open' | 'waiting' | 'dormant' | 'self' | 'stopped' = 'connecting'
  /** Last connection error, for status reports. */
  lastError: string | undefined
  /** Since when it tries without a link (started, or its link dropped); undefined while linked. */
  #tryingSince: number | undefined = Date.now()
  /** Attempts that ended without a link since {@link #tryingSince}. */
  #failures = 0
  /** Dial once until a node is reached; see the constructor. */
  #once: boolean
  /** True while a once-dialer waits after a failed attempt, with no dial scheduled. */
  #idle = false

  /**
   * `once`: an address discovery offered, which may be stale (a replaced pod): after an attempt
   * that reached no node it waits, with no redial, and discovery decides when to try it again
   * with a backoff of its own (membership's Candidates), until {@link persist} is called.
   */
  constructor(options: { url: string; host: DialerHost; backoff?: BackoffOptions; once?: boolean }) {
    this.url = options.url
    this.#once = options.once ?? false
    this.#host = options.host
    this.#min = options.backoff?.minDelayMs ?? 100
    this.#max = options.backoff?.maxDelayMs ?? 5000
    this.#dial()
  }

  /** The open link, if any. */
  get link(): PeerLink | undefined {
    return this.#link?.state === 'open' ? this.#link : undefined
  }

  /**
   * True while this dialer may still bring a link soon: it is trying, no attempt of this try
   * failed yet, and it started less than `boundMs` before `now`. A dial to a member that is
   * dead, unreachable or refusing stops holding a place in `maxPeers` once it failed or took
   * longer than the bound (it still redials, with backoff).
   */
  pending(now: number, boundMs: number): boolean {
    if (this.state !== 'connecting' && this.state !== 'open' && this.state !== 'waiting') return false
    return this.#failures === 0 && this.#tryingSince !== undefined && now - this.#tryingSince < boundMs
  }

  /** The URL, its state and its last error, for a message naming what a wait still waits on. */
  describe(): string {
    return `${this.url}: ${this.state}${this.lastError ? ` (${this.lastError})` : ''}`
  }

  /** True once an attempt of the current try ended without a link. */
  get failed(): boolean {
    return this.#failures > 0
  }

  /** True while the node behind the URL refuses this one: its last attempts ended in 44xx closes, and no link is up since. */
  get refused(): boolean {
    return this.#refusals > 0 && !this.link && ['waiting', 'connecting', 'open'].includes(this.state)
  }

  /** Wakes a dormant dialer (the link that made it redundant is gone); `now` skips the backoff. */
  wake(now = false): void {
    if (this.#stopped) return
    if (now && this.state === 'waiting') {
      clearTimeout(this.#timer)
      this.#attempt = 0
      return this.#dial()
    }
    if (this.state !== 'dormant') return
    this.state = 'waiting'
    this.#tryingSince = Date.now()
    this.#failures = 0
    if (now) {
      this.#attempt = 0
      this.#dial()
    } else this.#schedule()
  }

  /** Keeps redialing with backoff from now on, as for a URL the application joined. */
  persist(): void {
    this.#once = false
    if (!this.#idle || this.#stopped) return
    this.#idle = false
    this.state = 'waiting'
    this.#schedule()
  }

  /** Stops dialing and closes the socket, if open. */
  stop(): void {
    this.#stopped = true
    this.state = 'stopped'
    clearTimeout(this.#timer)
    this.#socket?.close(CloseCode.normal, 'stopped')
  }

  #dial(): void {
    if (this.#stopped) return
    this.state = 'connecting'
    let socket: WebSocket
    try {
      socket = new WebSocket(this.url, { maxPayload: this.#host.maxMessageBytes, handshakeTimeout: 10_000 })
    } catch (error) {
      // A URL ws cannot even parse will never work: give up on it instead of throwing in a timer.
      this.lastError = (error as Error).message
      this.state = 'stopped'
      this.#stopped = true
      this.#host.logger.warn('cannot dial peer URL', { url: this.url, error: this.lastError })
      return
    }
    this.#socket = socket
    socket.binaryType = 'nodebuffer'
    let link: PeerLink | undefined
    let openedAt: number | undefined
    // Attach listeners before anything can arrive: the acceptor may answer in the same tick.
    socket.on('message', (data: Buffer, isBinary: boolean) => {
      link?.receive(isBinary ? data : data.toString('utf8'))
      // The handshake's last message opens the link; only a link that opened resets the backoff.
      if (openedAt === undefined && link?.state === 'open') {
        openedAt = Date.now()
        this.#tryingSince = undefined
        this.#failures = 0
        // The URL may now serve another member than last time (a restart under a new id).
        if (link.peerId) this.peerId = link.peerId
      }
    })
    socket.on('open', () => {
      this.state = 'open'
      link = this.#host.connect(socket)
      this.#link = link
    })
    socket.on('error', (error) => {
      this.lastError = error.message
      this.#host.logger.debug('peer dial error', { url: this.url, error: error.message })
    })
    const closed = (code: number, reasonBuffer: Buffer): void => {
      const reason = reasonBuffer.toString()
      link?.close()
      if (link?.peerId) this.peerId = link.peerId
      this.#link = undefined
      if (this.#stopped) return
      // A link that served starts a new try; an attempt that never linked is a failure of this one.
      if (openedAt !== undefined) this.#tryingSince = Date.now()
      else this.#failures++
      if (this.peerId && this.#host.isCut(this.peerId)) {
        this.state = 'dormant'
        return
      }
      if (code === CloseCode.duplicate || link?.closeReason?.code === CloseCode.duplicate) {
        const why = link?.closeReason?.reason ?? reason
        if (why === 'link to self') {
          this.state = 'self'
          this.#host.logger.info('not dialing own URL', { url: this.url })
          return
        }
        if (this.peerId && this.#host.hasLink(this.peerId)) {
          this.state = 'dormant'
          return
        }
      }
      if (this.#once && openedAt === undefined && this.peerId === undefined) {
        this.state = 'waiting'
        this.#idle = true
        return
      }
      // 44xx: refused (secret, cut, version, limits). Redialing at once would be refused again.
      const closeCode = link?.closeReason?.code ?? code
      const refused = closeCode >= 4400 && closeCode < 4500
      // A link refused right after its handshake (a cut) must not reset the backoff; one that served a while may.
      const served = openedAt !== undefined && (!refused || Date.now() - openedAt > this.#max)
      if (served) this.#attempt = 0
      if (served || !refused) this.#refusals = 0
      this.state = 'waiting'
      const delay = this.#schedule()
      if (refused) this.#refused(closeCode, link?.closeReason?.reason ?? reason, delay)
    }
    socket.on('close', (code, reasonBuffer) => {
      closed(code, reasonBuffer)
      // The link's close told waits before this dialer's new state (dormant, waiting) was set.
      this.#host.stateChanged()
    })
  }

  /** Logs a refusal at WARN the 1st, 2nd, 4th, 8th… time in a row, else at debug. */
  #refused(code: number, reason: string, retryInMs: number): void {
    this.#refusals++
    this.lastError = `refused with ${code}${reason ? ` (${reason})` : ''}`
    const fields = { url: this.url, code, reason, refusals: this.#refusals, retryInMs: Math.round(retryInMs) }
    const logger = this.#host.logger
    if ((this.#refusals & (this.#refusals - 1)) === 0)
      logger.warn('peer refused this node; retrying with backoff', fields)
    else logger.debug('peer refused this node again', fields)
  }

  /** Schedules the next dial with exponential backoff and full jitter; returns the delay. */
  #schedule(): number {
    const ceiling = Math.min(this.#max, this.#min * 2 ** this.#attempt)
    this.#attempt = Math.min(this.#attempt + 1, 30)
    const delay = Math.max(10, this.#host.random() * ceiling)
    this.#timer = setTimeout(() => this.#dial(), delay)
    unrefTimer(this.#timer)
    return delay
  }
}
