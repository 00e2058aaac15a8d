import { unrefTimer } from '../common/index.js'
import { MAX_TICK_HEARTBEATS } from './heartbeat-timing.js'

/** Each gap is 1 ± this many heartbeats. */
const JITTER = MAX_TICK_HEARTBEATS - 1

/** What a {@link HeartbeatTimer} runs, and how often. */
export interface HeartbeatTimerOptions {
  readonly heartbeatMs: number
  /** A number in [0, 1): the jitter. */
  readonly random: () => number
  /** `now` is wall-clock time; `gapMs` the time since the previous tick, on a monotonic clock (a wall-clock step is no stall). */
  readonly tick: (now: number, gapMs: number) => void
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
    let last = performance.now()
    const schedule = (ms: number) => {
      this.#timer = setTimeout(due, ms)
      unrefTimer(this.#timer)
    }
    const due = () => {
      this.#afterIo = setImmediate(() => {
        this.#afterIo = undefined
        const at = performance.now()
        tick(Date.now(), at - last)
        last = at
      })
      schedule(heartbeatMs * (1 + JITTER * (2 * random() - 1)))
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
