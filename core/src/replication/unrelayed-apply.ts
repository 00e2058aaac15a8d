import * as Y from 'yjs'

/** What {@link applyUnrelayed} needs of the room. */
export interface UnrelayedApply {
  doc: Y.Doc
  /** A whole-state transfer (V2). */
  update: Uint8Array
  origin: object
  /** The room's `update` listener, detached while the received state is the only transaction. */
  listener: (update: Uint8Array, origin: unknown, doc: Y.Doc, transaction: Y.Transaction) => void
  /** Set in the meta of a transaction recorded here, so the listener does not record it twice. */
  marker: symbol
  /** Records the commit of the applied state (with the received size). */
  record(transaction: Y.Transaction): void
}

/**
 * Applies a whole-state transfer nobody else would receive (the usual cold join: no other link,
 * no light peer) without Yjs re-encoding the whole state for the update event, which costs
 * seconds at a million keys.
 *
 * The update listener is detached only while the received state is the only transaction: an
 * application that writes from a change listener (or reads, flushing queued puts) starts a
 * nested transaction, and the listener comes back before that one is emitted, so no local
 * write can escape replication.
 */
export const applyUnrelayed = (options: UnrelayedApply): void => {
  const { doc, listener } = options
  let applying: Y.Transaction | undefined
  let listening = false
  const listen = (): void => {
    if (listening) return
    listening = true
    doc.on('update', listener)
  }
  const begin = (transaction: Y.Transaction): void => {
    if (applying === undefined) applying = transaction
    else listen()
  }
  const record = (transaction: Y.Transaction): void => {
    // Once listening, the listener records every commit itself.
    if (transaction !== applying || listening) return
    // A listener of the commit below may start a transaction, and with it the update
    // listener, before this one's update is emitted: it must not be recorded twice.
    transaction.meta.set(options.marker, true)
    const changed =
      transaction.deleteSet.clients.size > 0 ||
      [...transaction.afterState].some(([client, clock]) => clock !== transaction.beforeState.get(client))
    if (changed) options.record(transaction)
  }
  doc.off('update', listener)
  doc.on('beforeTransaction', begin)
  doc.on('afterTransaction', record)
  try {
    Y.applyUpdateV2(doc, options.update, options.origin)
  } finally {
    doc.off('beforeTransaction', begin)
    doc.off('afterTransaction', record)
    listen()
  }
}
