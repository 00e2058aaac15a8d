import type * as Y from 'yjs'

/**
 * Trims the struct list of every client new to a document to its length, once that client
 * had time to finish writing.
 *
 * Why: Yjs keeps one array of structs per client for good, created empty and pushed to, and
 * V8 gives a pushed-to empty array room for 17 elements (152 B). Most of a node's clients are
 * light peers (each browser tab is a new client) that write once or twice and leave, so
 * nearly all of that room stays empty for as long as the document lives (measured in one
 * process: about 77 B of the 640 B such a client cost a replica). A trimmed array that is
 * pushed to again simply grows again.
 */
export class ClientArrays {
  #doc: Y.Doc
  /** Clients that appeared since the last trim. */
  #fresh: number[] = []

  constructor(doc: Y.Doc) {
    this.#doc = doc
    doc.on('afterTransaction', (transaction: Y.Transaction) => {
      // Yjs computes both state vectors on every transaction anyway; comparing their sizes is
      // free, and only a transaction that brings new clients walks them.
      const { beforeState, afterState } = transaction
      if (afterState.size === beforeState.size) return
      for (const client of afterState.keys()) {
        if (!beforeState.has(client)) this.#fresh.push(client)
      }
    })
  }

  /**
   * Trims the arrays of the clients that appeared since the last call. Call it between
   * transactions (Yjs reads the arrays afresh from `store.clients` on every access, so
   * replacing one then is safe), e.g. once an anti-entropy round.
   */
  trim(): void {
    if (this.#fresh.length === 0 || this.#doc._transaction !== null) return
    const clients = this.#doc.store.clients
    for (const client of this.#fresh) {
      const structs = clients.get(client)
      if (structs) clients.set(client, structs.slice())
    }
    this.#fresh = []
  }
}
