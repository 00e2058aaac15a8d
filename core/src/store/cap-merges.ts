import * as Y from 'yjs'

/** Most entries that one Yjs item holds after merging consecutive writes of one client. */
const MAX_MERGED_ENTRIES = 128

const MERGES_CAPPED = Symbol.for('mesh.content-any-merges-capped')

/**
 * Yjs merges each write of a client into the item of its previous one by copying the item's
 * whole array (`concat`), and splits that array again to delete one entry: both cost the
 * length of the run, so a store that appends one entry per write pays O(keys) per write. Runs
 * capped at MAX_MERGED_ENTRIES keep both O(1) and still spread an item's overhead over many
 * entries. Merging is only Yjs's in-memory representation (updates and state are the same
 * either way), so the cap, process-wide for ContentAny, changes no document.
 */
export const capMerges = (): void => {
  const proto = Y.ContentAny.prototype as Y.ContentAny & { [MERGES_CAPPED]?: true }
  if (proto[MERGES_CAPPED]) return
  // eslint-disable-next-line @typescript-eslint/unbound-method -- called below with .call(this)
  const merge = proto.mergeWith
  proto.mergeWith = function (this: Y.ContentAny, right: Y.ContentAny): boolean {
    return this.arr.length + right.arr.length <= MAX_MERGED_ENTRIES && merge.call(this, right)
  }
  proto[MERGES_CAPPED] = true
}
