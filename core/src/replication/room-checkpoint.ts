import * as Y from 'yjs'
import { ClientArrays } from './client-arrays.js'
import { EncodedSnapshot } from './encoded-snapshot.js'

/** Anti-entropy rounds an update may stay pending, unchanged, before the room drops it. */
export const PENDING_ROUNDS = 1

/**
 * What anti-entropy keeps of one room from round to round: the snapshot of the last round,
 * which peers' checks are judged against, and what the doc has held pending through the
 * last rounds.
 */
export class RoomCheckpoint {
  #doc: Y.Doc
  #last: EncodedSnapshot | undefined
  #changed = true
  /** What was pending at the last anti-entropy round, and for how many rounds in a row. */
  #stuck: { waitsFor: string; rounds: number } | undefined
  #clients: ClientArrays

  constructor(doc: Y.Doc) {
    this.#doc = doc
    this.#clients = new ClientArrays(doc)
    doc.on('afterTransaction', () => {
      this.#changed = true
    })
  }

  /**
   * Takes this round's anti-entropy snapshot and returns it encoded; peers' checks are
   * judged against it until the next round. An unchanged room reuses the last one, so an
   * idle room costs nothing to check.
   */
  take(): Uint8Array {
    if (!this.#last || this.#changed) {
      this.#changed = false
      // Kept encoded only: a Y.Snapshot costs hundreds of bytes per client ever seen (encoded-snapshot.ts).
      this.#last = EncodedSnapshot.of(Y.snapshot(this.#doc))
    }
    return this.#last.bytes
  }

  /** Trims the struct arrays of the clients new since the last round (see `ClientArrays`). */
  trimNewClients(): void {
    this.#clients.trim()
  }

  /** The snapshot of the room's last anti-entropy round, if one ran. */
  get snapshot(): EncodedSnapshot | undefined {
    return this.#last
  }

  /**
   * Called once an anti-entropy round. Drops what stayed pending, waiting for the same content, through
   * PENDING_ROUNDS rounds, and returns true if it did. An honest gap is filled by the repair of
   * the round that finds it, and dropped content comes again with a later repair, since this
   * node's state vector never included it; a gap nobody can fill (an update that refers to
   * content no replica has) would otherwise keep the room pending, and its bytes, for good.
   */
  dropStalePending(): boolean {
    const store = this.#doc.store
    const { pendingStructs, pendingDs } = store
    if (!pendingStructs && !pendingDs) {
      this.#stuck = undefined
      return false
    }
    // What it waits for, not the objects: Yjs rebuilds them on every retry, even when the
    // retry integrates nothing.
    const missing = pendingStructs ? [...pendingStructs.missing].sort((x, y) => x[0] - y[0]).join(';') : ''
    const waitsFor = `${missing}|${pendingDs?.length ?? 0}`
    if (this.#stuck?.waitsFor !== waitsFor) this.#stuck = { waitsFor, rounds: 0 }
    if (++this.#stuck.rounds <= PENDING_ROUNDS) return false
    store.pendingStructs = null
    store.pendingDs = null
    this.#stuck = undefined
    return true
  }
}
