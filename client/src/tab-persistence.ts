import { clearDocument, IndexeddbPersistence } from 'y-indexeddb'
import type * as Y from 'yjs'
import { MeshClientError } from './errors.js'

/**
 * Keeps a tab's replica in IndexedDB with `y-indexeddb`, so edits made offline survive a
 * reload and merge when the tab reconnects. Follows the replica when a read-only rollback
 * replaces it, dropping what was stored of the refused writes.
 */
export class TabPersistence {
  /** The IndexedDB database name. */
  readonly name: string
  /** Resolves once the stored replica is loaded into the doc. */
  readonly loaded: Promise<void>
  #current: IndexeddbPersistence
  #closed = false

  constructor(name: string, doc: Y.Doc) {
    if (!(globalThis as { indexedDB?: unknown }).indexedDB) {
      throw new MeshClientError('bad_option', 'persist needs IndexedDB (a browser); leave it out elsewhere')
    }
    this.name = name
    this.#current = new IndexeddbPersistence(name, doc)
    this.loaded = this.#current.whenSynced.then(() => undefined)
  }

  /** The replica was replaced by a rollback: store the new one, and only it. */
  replaced(doc: Y.Doc): void {
    const old = this.#current
    void old
      .destroy()
      .then(() => clearDocument(this.name))
      .then(() => {
        if (!this.#closed) this.#current = new IndexeddbPersistence(this.name, doc)
      })
  }

  /** Stops storing; what is stored stays for the next page load. */
  close(): void {
    this.#closed = true
    void this.#current.destroy()
  }
}
