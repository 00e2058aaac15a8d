import { MeshError } from './errors.js'

/**
 * Waiters on the node's progress: `notify()` after anything that may satisfy a wait (a link
 * up, a sync finished, a conflict cleared); `waitFor` resolves once its condition holds.
 */
export class Progress {
  #waiters = new Set<() => void>()
  #listeners = new Set<() => void>()
  #closed = false

  /** Re-checks every waiter and tells every listener (inspector feeds) that something moved. */
  notify(): void {
    for (const waiter of [...this.#waiters]) waiter()
    for (const listener of this.#listeners) listener()
  }

  /** Calls `listener` on every `notify`; returns the unsubscribe function. */
  listen(listener: () => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  /** From now on every wait rejects with a `closed` MeshError (on the next `notify`). */
  close(): void {
    this.#closed = true
  }

  /** Resolves once `done()` holds; rejects with a `timeout` MeshError after `timeoutMs`. */
  waitFor(done: () => boolean, timeoutMs: number, describe: () => string): Promise<void> {
    if (done()) return Promise.resolve()
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!done() && !this.#closed) return
        finish()
        if (this.#closed) reject(new MeshError('closed', 'node closed while waiting'))
        else resolve()
      }
      const timer = setTimeout(() => {
        finish()
        reject(new MeshError('timeout', `${describe()} within ${timeoutMs} ms`))
      }, timeoutMs)
      const finish = () => {
        clearTimeout(timer)
        this.#waiters.delete(check)
      }
      this.#waiters.add(check)
    })
  }
}
