import { unrefTimer } from '../common/index.js'

/** What a {@link NewsBurst} needs of the registry. */
export interface NewsBurstOptions {
  everyMs: number
  /** Ids of the linked members. */
  peers(): string[]
  /** True while news waits to be sent. */
  pending(): boolean
  send(peer: string): void
  random(): number
}

/** Linked members each burst message goes to. */
const FANOUT = 3

/**
 * While news waits, a `news` message to a few random linked members every `everyMs` (a fifth
 * of a round) spreads it in a few rounds instead of waiting for probes to carry it; the burst
 * stops when every item was sent its share. An idle node runs no burst at all.
 */
export class NewsBurst {
  #o: NewsBurstOptions
  #timer: ReturnType<typeof setInterval> | undefined

  constructor(options: NewsBurstOptions) {
    this.#o = options
  }

  /** Starts a burst unless one runs. */
  kick(): void {
    if (this.#timer) return
    this.#timer = setInterval(() => this.#send(), this.#o.everyMs)
    unrefTimer(this.#timer)
    this.#send()
  }

  /** Stops the burst. */
  stop(): void {
    clearInterval(this.#timer)
    this.#timer = undefined
  }

  #send(): void {
    const o = this.#o
    const peers = o.peers()
    for (let i = 0; i < FANOUT && peers.length > 0 && o.pending(); i++) {
      const [peer] = peers.splice(Math.floor(o.random() * peers.length), 1)
      if (peer !== undefined) o.send(peer)
    }
    if (!o.pending() || o.peers().length === 0) this.stop()
  }
}
