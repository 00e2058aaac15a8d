import type { Awareness } from 'y-protocols/awareness'
import type * as Y from 'yjs'

/** Somewhere a room sends peer-link frames (a live peer link). */
export interface PeerSink {
  /** The node at the other end, once its handshake named it. */
  readonly peerId: string | undefined
  sendFrame(frame: Uint8Array<ArrayBuffer>): void
}

/** An update a room holds for its next flush; `sources`: where pending structs it may integrate came from. */
export interface PendingUpdate {
  update: Uint8Array
  origin: unknown
  sources: unknown[] | undefined
}

/** Somewhere a room sends light-peer frames (a light-peer socket). */
export interface LightSink {
  sendFrame(frame: Uint8Array<ArrayBuffer>): void
}

/**
 * A room as the application holds it: its name, its `Y.Doc` and its `Awareness`. Edit the
 * doc like any Yjs document; Mesh replicates it to every peer.
 *
 * @example
 * const board = node.room('board')
 * board.doc.getText('notes').insert(0, 'hello')
 */
export interface RoomHandle {
  readonly name: string
  readonly doc: Y.Doc
  readonly awareness: Awareness
}
