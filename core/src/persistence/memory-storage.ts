import type { StorageAdapter, StorageStats, StoredRoom } from './storage-adapter.js'

const copy = (bytes: Uint8Array): Uint8Array => bytes.slice()

/**
 * A {@link StorageAdapter} in memory: for tests, and to restart a node inside one process.
 * Several nodes may not share one (each room name would mix their logs).
 */
export class MemoryStorage implements StorageAdapter {
  #rooms = new Map<string, { snapshot: Uint8Array | undefined; updates: Uint8Array[] }>()
  #closed = false

  #check(): void {
    if (this.#closed) throw new Error('storage is closed')
  }

  append(room: string, updates: readonly Uint8Array[]): Promise<void> {
    try {
      this.#check()
      let stored = this.#rooms.get(room)
      if (!stored) this.#rooms.set(room, (stored = { snapshot: undefined, updates: [] }))
      for (const update of updates) stored.updates.push(copy(update))
      return Promise.resolve()
    } catch (error) {
      return Promise.reject(error)
    }
  }

  load(room: string): Promise<StoredRoom> {
    try {
      this.#check()
      const stored = this.#rooms.get(room)
      return Promise.resolve({
        snapshot: stored?.snapshot && copy(stored.snapshot),
        updates: stored?.updates.map(copy) ?? [],
      })
    } catch (error) {
      return Promise.reject(error)
    }
  }

  compact(room: string, snapshot: Uint8Array): Promise<void> {
    try {
      this.#check()
      this.#rooms.set(room, { snapshot: copy(snapshot), updates: [] })
      return Promise.resolve()
    } catch (error) {
      return Promise.reject(error)
    }
  }

  rooms(): Promise<string[]> {
    try {
      this.#check()
      return Promise.resolve([...this.#rooms.keys()])
    } catch (error) {
      return Promise.reject(error)
    }
  }

  /** Closes this handle; the data stays for {@link reopen}. */
  close(): Promise<void> {
    this.#closed = true
    return Promise.resolve()
  }

  /** A new open handle on the same data, as a restarted process would see it. */
  reopen(): MemoryStorage {
    const next = new MemoryStorage()
    next.#rooms = this.#rooms
    return next
  }

  stats(): StorageStats {
    let bytes = 0
    for (const { snapshot, updates } of this.#rooms.values()) {
      bytes += snapshot?.length ?? 0
      for (const update of updates) bytes += update.length
    }
    return { bytes }
  }
}
