import { Awareness } from 'y-protocols/awareness'
import * as Y from 'yjs'
import { KvIndex, type KvIndexHooks } from '../store/index.js'
import { RoomCheckpoint } from './room-checkpoint.js'
import { RoomPresence, type PresenceRoom } from './room-presence.js'

/** A doc's `update` listener. */
export type UpdateListener = (update: Uint8Array, origin: unknown, doc: Y.Doc, transaction: Y.Transaction) => void

/** What a room holds once loaded: its document, presence and the store's index. */
export interface RoomContent {
  doc: Y.Doc
  awareness: Awareness
  kv: KvIndex
  checkpoint: RoomCheckpoint
  presence: RoomPresence
  /** The doc's `update` listener (detached while an unrelayed state applies). */
  onUpdate: UpdateListener
}

/** A room's document, presence and index, with the room's listeners attached before anything is applied. */
export const createRoomContent = (options: {
  clientId: number
  kv: KvIndexHooks
  onUpdate: UpdateListener
  beforeTransaction: (transaction: Y.Transaction) => void
  afterTransaction: (transaction: Y.Transaction) => void
  presence: PresenceRoom
}): RoomContent => {
  const doc = new Y.Doc({ gc: true })
  doc.clientID = options.clientId
  const kv = new KvIndex(doc, options.kv)
  const awareness = new Awareness(doc)
  // A node is not an editor: it holds no awareness state of its own.
  awareness.setLocalState(null)
  // One V1 encoding per transaction serves both peer links and light peers. V1 is cheaper to
  // produce for the small updates of live traffic (V2 allocates a dozen column buffers);
  // whole-state transfers (diff, full) stay V2, where it is far more compact.
  doc.on('update', options.onUpdate)
  doc.on('beforeTransaction', options.beforeTransaction)
  doc.on('afterTransaction', options.afterTransaction)
  const checkpoint = new RoomCheckpoint(doc)
  const presence = new RoomPresence(awareness, options.presence)
  return { doc, awareness, kv, checkpoint, presence, onUpdate: options.onUpdate }
}
