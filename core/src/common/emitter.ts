/** A listener that receives one typed payload. */
export type Listener<T> = (payload: T) => void

/**
 * A minimal typed event emitter. Listener failures are routed to `onListenerError` so one
 * broken handler cannot break replication.
 */
export class Emitter<Events extends object> {
  #listeners = new Map<keyof Events, Set<Listener<never>>>()
  #onListenerError: (error: unknown, event: keyof Events) => void

  constructor(onListenerError: (error: unknown, event: keyof Events) => void) {
    this.#onListenerError = onListenerError
  }

  /** Subscribes; returns a function that unsubscribes. */
  on<K extends keyof Events>(event: K, listener: Listener<Events[K]>): () => void {
    let set = this.#listeners.get(event)
    if (!set) this.#listeners.set(event, (set = new Set()))
    set.add(listener)
    return () => this.off(event, listener)
  }

  /** Subscribes for the next emission only. */
  once<K extends keyof Events>(event: K, listener: Listener<Events[K]>): () => void {
    const off = this.on(event, (payload) => {
      off()
      listener(payload)
    })
    return off
  }

  /** Unsubscribes a listener added with `on`. */
  off<K extends keyof Events>(event: K, listener: Listener<Events[K]>): void {
    this.#listeners.get(event)?.delete(listener)
  }

  /** True when at least one listener waits for `event`; lets callers skip building payloads. */
  has(event: keyof Events): boolean {
    return (this.#listeners.get(event)?.size ?? 0) > 0
  }

  /** Calls every listener of `event` with `payload`. */
  emit<K extends keyof Events>(event: K, payload: Events[K]): void {
    const set = this.#listeners.get(event)
    if (!set) return
    for (const listener of [...set]) {
      try {
        ;(listener as Listener<Events[K]>)(payload)
      } catch (error) {
        this.#onListenerError(error, event)
      }
    }
  }

  /** Drops every listener. */
  clear(): void {
    this.#listeners.clear()
  }
}
