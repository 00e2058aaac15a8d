import { unrefTimer, errorText } from '../common/index.js'
import type { MeshNode } from '../node/index.js'

/** Options of {@link waitUntil}. */
export interface WaitOptions {
  /** Give up after this long. Default 5000 ms. */
  timeoutMs?: number
  /** Re-check at least this often, for conditions nothing signals. Default 25 ms. */
  intervalMs?: number
  /**
   * Subscribes to something that may make the condition true (a node's `change` event, a
   * doc's `update`), so the check runs as soon as it fires; returns the unsubscribe function.
   */
  subscribe?: (wake: () => void) => () => void
}

/** Values `waitUntil` keeps waiting through. */
type Falsy = false | 0 | '' | null | undefined

const describeError = (error: unknown): string => (error instanceof Error ? error.message : errorText(error))

/**
 * Resolves with the first truthy result of `check`, re-checking whenever `subscribe` wakes it
 * and at least every `intervalMs`. A throwing or rejecting check counts as "not yet". After
 * `timeoutMs` it rejects with an error naming `what` and the last result or error, so a
 * failing test says what never happened instead of just timing out.
 *
 * @example
 * await waitUntil('peer sees "color"', () => peer.get('color') === 'red', {
 *   subscribe: (wake) => peer.on('change', wake),
 * })
 */
export const waitUntil = async <T>(
  what: string,
  check: () => T | Promise<T>,
  options: WaitOptions = {},
): Promise<Exclude<T, Falsy>> => {
  const timeoutMs = options.timeoutMs ?? 5000
  const intervalMs = options.intervalMs ?? 25
  const deadline = Date.now() + timeoutMs
  let wake = (): void => {}
  const unsubscribe = options.subscribe?.(() => wake())
  let last = 'nothing yet'
  try {
    for (;;) {
      try {
        const result = await check()
        if (result) return result as Exclude<T, Falsy>
        last = `last result: ${JSON.stringify(result)}`
      } catch (error) {
        last = `last error: ${describeError(error)}`
      }
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (${last})`)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(intervalMs, left))
        wake = () => {
          clearTimeout(timer)
          resolve()
        }
      })
    }
  } finally {
    unsubscribe?.()
  }
}

/**
 * Races `promise` against a timer; rejects with `what` in the message if the timer wins.
 * The timer never keeps the process alive.
 */
export const withTimeout = <T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> => {
  let timer: ReturnType<typeof setTimeout> | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs)
    unrefTimer(timer)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

/** Node events after which replicated state may have changed. */
const WAKE_EVENTS = ['change', 'merge', 'conflict', 'peer:up', 'peer:down'] as const

/**
 * A {@link WaitOptions.subscribe} that wakes on the events of `nodes` that change what they
 * hold or whom they link to (`change`, `merge`, `conflict`, `peer:up`, `peer:down`).
 *
 * @example
 * await waitUntil('b has the flag', () => b.get('flag') === true, { subscribe: nodeEvents(a, b) })
 */
export const nodeEvents =
  (...nodes: MeshNode[]) =>
  (wake: () => void): (() => void) => {
    const offs = nodes.flatMap((node) => WAKE_EVENTS.map((event) => node.on(event, wake)))
    return () => {
      for (const off of offs) off()
    }
  }
