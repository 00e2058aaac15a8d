/**
 * A token bucket: `perSecond` messages on average, bursts of up to `burst`. One per
 * connection, so one noisy client cannot starve the others.
 */
export class RateLimiter {
  #tokens: number
  #last: number
  readonly perSecond: number
  readonly burst: number

  constructor(perSecond: number, burst = perSecond * 2) {
    this.perSecond = perSecond
    this.burst = burst
    this.#tokens = burst
    this.#last = Date.now()
  }

  /** Takes one token; false when the bucket is empty. */
  take(now = Date.now()): boolean {
    this.#tokens = Math.min(this.burst, this.#tokens + ((now - this.#last) * this.perSecond) / 1000)
    this.#last = now
    if (this.#tokens < 1) return false
    this.#tokens -= 1
    return true
  }

  /** Milliseconds until a token is available (0 when one is). */
  msUntilToken(now = Date.now()): number {
    const tokens = Math.min(this.burst, this.#tokens + ((now - this.#last) * this.perSecond) / 1000)
    return tokens >= 1 ? 0 : Math.ceil(((1 - tokens) * 1000) / this.perSecond)
  }
}
