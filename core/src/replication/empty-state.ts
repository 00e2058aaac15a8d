import * as Y from 'yjs'

/**
 * What a room that holds nothing looks like on the wire, encoded once: a room opened by a
 * light peer that sends no content and no presence answers with these and never creates its
 * `Y.Doc` (see `Room.loaded`).
 */

/** The snapshot of an empty document (no state, no deletions). Shared: never mutate it. */
export const EMPTY_SNAPSHOT: Y.Snapshot = Y.emptySnapshot

/** {@link EMPTY_SNAPSHOT}, encoded. */
export const EMPTY_SNAPSHOT_BYTES: Uint8Array = Y.encodeSnapshot(EMPTY_SNAPSHOT)

/** The whole state of an empty document, as a V1 update. */
export const EMPTY_UPDATE: Uint8Array = Y.encodeStateAsUpdate(new Y.Doc())

/** The state vector of an empty document, encoded. */
export const EMPTY_STATE_VECTOR: Uint8Array = Y.encodeStateVector(new Map())

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean =>
  a.length === b.length && a.every((byte, i) => byte === b[i])

/**
 * Decodes a snapshot a peer sent; an empty one decodes to the shared {@link EMPTY_SNAPSHOT},
 * so the rooms a peer holds empty cost no decoded copy each.
 */
export const decodeSnapshot = (bytes: Uint8Array): Y.Snapshot =>
  sameBytes(bytes, EMPTY_SNAPSHOT_BYTES) ? EMPTY_SNAPSHOT : Y.decodeSnapshot(bytes)

/** True when a (V1) update holds no structs and no deletions: applying it changes nothing. */
export const isEmptyUpdate = (update: Uint8Array): boolean => {
  const { structs, ds } = Y.decodeUpdate(update)
  return structs.length === 0 && ds.clients.size === 0
}
