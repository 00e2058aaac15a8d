import * as Y from 'yjs'
import { MAX_VALUE_DEPTH } from '../common/index.js'
import { checkUpdate } from '../replication/index.js'
import { dependencies, MAX_ELEMENT_DEPTH, refuseContent } from '../store/index.js'

/**
 * Why a (V1) update from a light peer must be refused, or undefined when it may be applied:
 * - it holds a value nested deeper than `MAX_VALUE_DEPTH` (anywhere in the room; an element of
 *   any content may nest one more level, the entry that wraps a store value): lib0 decodes
 *   and encodes values recursively, so a deep one overflows the stack of whoever reads it;
 * - `refuseContent` refuses it (subdocuments, anything but well-formed entries in the store,
 *   entries with an owner or an expiry);
 * - `dependencies` refuses it: it depends on structs that neither the doc nor the update holds
 *   (a gap in a client's clocks, a Skip included, or a reference to an unknown item) or that
 *   wait for each other in a circle, which Yjs would park as pending for good, since a tab
 *   writes its own structs in order and nobody else has the missing ones; or it is a copy of
 *   ids the doc holds that puts them in another type;
 * - it deletes ids the doc does not hold yet: Yjs would keep the deletion and apply it to
 *   whatever a node writes under those ids later (a node's own future writes).
 *
 * `depth` is what `checkUpdate(update, 'v1')` returned, for a caller that checked already;
 * without it the update is checked here, and a malformed one throws.
 */
export const refuseLightUpdate = (
  doc: Y.Doc,
  update: Uint8Array,
  depth: number = checkUpdate(update, 'v1'),
): string | undefined => {
  // Before decoding: Yjs decodes values recursively.
  if (depth > MAX_ELEMENT_DEPTH) return `values nested deeper than ${MAX_VALUE_DEPTH} levels (MAX_VALUE_DEPTH)`
  const { structs, ds } = Y.decodeUpdate(update)
  const { end, missing } = dependencies(doc, structs)
  if (missing) return missing
  const refusal = refuseContent(doc, structs, { nodeFields: false })
  if (refusal) return refusal
  for (const [client, ranges] of ds.clients) {
    for (const { clock, len } of ranges) {
      if (clock + len > end(client)) {
        return 'deletions of content that does not exist yet'
      }
    }
  }
  return undefined
}
