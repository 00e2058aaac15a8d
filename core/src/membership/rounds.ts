import { unrefTimer } from '../common/index.js'

/** What {@link Rounds} runs. */
export interface RoundsOptions {
  periodMs: number
  random(): number
  /** One round; `stalledMs` > 0 when it came that late because the event loop stalled. */
  round(now: number, stalledMs: number): void
  /** Halfway through a round. */
  half(): void
}

/**
 * The failure detector's clock: a round every `periodMs` (jittered by ±20 % so nodes do not
 * probe in lockstep), and a call halfway through each. A round runs one turn of the event loop
 * after its timer, so acks already received are read before it judges. A round that comes
 * more than a period late reports how late: the node's own event loop stalled, and it cannot
 * tell a dead peer from its own delay (local health, as in Lifeguard).
 */
export class Rounds {
  #o: RoundsOptions
  #timer: ReturnType<typeof setTimeout> | undefined
  #half: ReturnType<typeof setTimeout> | undefined

  constructor(options: RoundsOptions) {
    this.#o = options
  }

  /** True between start and stop. */
  get running(): boolean {
    return this.#timer !== undefined
  }

  /** Starts the rounds. */
  start(): void {
    if (this.#timer) return
    const o = this.#o
    let due = Date.now() + o.periodMs * o.random()
    const round = () => {
      setTimeout(() => {
        if (this.#timer === undefined) return
        const now = Date.now()
        const late = now - due
        o.round(now, late > o.periodMs ? late : 0)
        const ms = o.periodMs * (0.8 + 0.4 * o.random())
        due = now + ms
        this.#timer = setTimeout(round, ms)
        this.#half = setTimeout(() => o.half(), ms / 2)
        unrefTimer(this.#timer)
        unrefTimer(this.#half)
      }, 0)
    }
    this.#timer = setTimeout(round, due - Date.now())
    unrefTimer(this.#timer)
  }

  /** Stops them. */
  stop(): void {
    clearTimeout(this.#timer)
    clearTimeout(this.#half)
    this.#timer = this.#half = undefined
  }
}
