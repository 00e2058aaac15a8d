import * as Y from 'yjs'
import { MAX_VALUE_DEPTH, MeshError } from '../common/index.js'
import { contradictsHeld, MAX_ELEMENT_DEPTH, refuseContent } from '../store/index.js'
import { compareSnapshots } from './compare.js'
import type { Room } from './room.js'
import { dropPendingOverlapping } from './update-validation.js'
import { inspectUpdate } from './update-check.js'
import { EntryDecoderV1, EntryDecoderV2 } from './entry-coding.js'

/** Encoding of an update carried by a backbone: V1 (live updates) or V2 (whole-state transfers). */
export type UpdateFormat = 'v1' | 'v2'

/** One update of a backbone's shared log, with its encoding. */
export interface EncodedUpdate {
  update: Uint8Array
  format: UpdateFormat
}

/**
 * Throws if an update read from a backbone is malformed, nests values too deeply or breaks the
 * store's content rules, before anything is applied. Unlike a peer link it accepts updates whose
 * dependencies have not arrived: a shared log may carry a relayed update before the one it
 * builds on, and Yjs keeps it pending until the backbone's resync brings the rest.
 */
export const checkBackboneUpdate = (doc: Y.Doc, { update, format }: EncodedUpdate): void => {
  const { depth, plain, overlaps } = inspectUpdate(update, format, doc)
  if (depth > MAX_ELEMENT_DEPTH) throw new Error(`refused: values nested deeper than ${MAX_VALUE_DEPTH} levels`)
  if (plain && !overlaps) return
  const { structs } = format === 'v2' ? Y.decodeUpdateV2(update) : Y.decodeUpdate(update)
  // A copy of ids the doc holds that puts them in another type (see contradictsHeld).
  const refusal =
    contradictsHeld(doc, structs) ?? (plain ? undefined : refuseContent(doc, structs, { nodeFields: true }))
  if (refusal) throw new Error(`refused: ${refusal}`)
}

/** Checks and applies one update read from a backbone; throws (nothing applied) when it must be refused. */
export const applyBackboneUpdate = (room: Room, encoded: EncodedUpdate, origin: object): void => {
  checkBackboneUpdate(room.doc, encoded)
  if (!room.admit(encoded.update.length)) {
    throw new MeshError('too_large', `room "${room.name}" would exceed ${room.maxBytes} bytes`)
  }
  dropPendingOverlapping(room.doc, encoded.update, encoded.format)
  if (encoded.format === 'v2') Y.applyUpdateV2(room.doc, encoded.update, origin, EntryDecoderV2)
  else Y.applyUpdateV2(room.doc, encoded.update, origin, EntryDecoderV1)
}

/**
 * What `room` holds that a backbone's view of it (its stored snapshot plus the log's tail) lacks,
 * as one V2 update, or undefined when the view holds everything. Insertions and deletions both
 * count (a removed key advances no state vector). Entries of the view that do not decode are
 * left out: they add nothing anyone can apply.
 */
export const missingFrom = (room: Room, view: readonly EncodedUpdate[]): Uint8Array | undefined => {
  const shadow = new Y.Doc({ gc: false })
  try {
    shadow.transact(() => {
      for (const entry of view) {
        try {
          checkBackboneUpdate(shadow, entry)
          if (entry.format === 'v2') Y.applyUpdateV2(shadow, entry.update)
          else Y.applyUpdate(shadow, entry.update)
        } catch {
          // A poison entry: the caller counted it when it read the log.
        }
      }
    })
    const relation = compareSnapshots(Y.snapshot(room.doc), Y.snapshot(shadow))
    if (relation === 'equal' || relation === 'behind') return undefined
    return Y.encodeStateAsUpdateV2(room.doc, Y.encodeStateVector(shadow))
  } finally {
    shadow.destroy()
  }
}
