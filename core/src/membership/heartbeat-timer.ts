import { unrefTimer } from '../common/index.js'

/** What a {@link HeartbeatTimer} runs, and how often. */
export interface HeartbeatTimerOptions {
  readonly heartbeatMs: number
  /** A number in [0, 1): the jitter. */
  readonly random: () => number
  readonly tick: (now: number) => void
}

/**
 * Calls `tick` about every `heartbeatMs` (0.8 to 1.2 of it, so that nodes drift out of phase),
 * once the event loop's turn read its sockets: after a stall (a long GC, a paused process) the
 * timers run first, while the peers' frames and closes still wait to be read.
 */
export class HeartbeatTimer {
  #options: HeartbeatTimerOptions
  #timer: ReturnType<typeof setTimeout> | undefined
  #afterIo: ReturnType<typeof setImmediate> | undefined

  constructor(options: HeartbeatTimerOptions) {
    this.#options = options
  }

  /** Starts ticking; the first tick comes within one heartbeat. */
  start(): void {
    if (this.#timer) return
    const { heartbeatMs, random, tick } = this.#options
    const schedule = (ms: number) => {
      this.#timer = setTimeout(due, ms)
      unrefTimer(this.#timer)
    }
    const due = () => {
      this.#afterIo = setImmediate(() => {
        this.#afterIo = undefined
        tick(Date.now())
      })
      schedule(heartbeatMs * (0.8 + 0.4 * random()))
    }
    schedule(heartbeatMs * random())
  }

  /** Stops ticking. */
  stop(): void {
    clearTimeout(this.#timer)
    clearImmediate(this.#afterIo)
    this.#timer = undefined
    this.#afterIo = undefined
  }
}
