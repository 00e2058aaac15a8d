import * as Y from 'yjs'
import { MAX_VALUE_DEPTH } from '../common/index.js'
import { checkUpdate, dropPendingOverlapping } from '../replication/index.js'
import { dependencies, MAX_ELEMENT_DEPTH, refuseContent } from '../store/index.js'

/** What {@link judgeLightUpdate} says of an update from a light peer. */
export interface LightUpdateJudgement {
  /** Why it must be refused; undefined when it may be applied. */
  refusal?: string
  /**
   * True when it holds structs past a gap in their writer's clocks (a client that holds pending
   * structs of its own sends them so): Yjs parks them, and the caller drops what it parked
   * once the update is applied, before it can be integrated past these checks.
   */
  parks: boolean
}

/**
 * Judges a (V1) update from a light peer. It must be refused when:
 * - it holds a value nested deeper than `MAX_VALUE_DEPTH` (anywhere in the room; an element of
 *   any content may nest one more level, the entry that wraps a store value): lib0 decodes
 *   and encodes values recursively, so a deep one overflows the stack of whoever reads it;
 * - `dependencies` refuses what Yjs would integrate at once: a reference to content neither
 *   the doc nor the update holds, references that go round in a circle, or a copy of ids the
 *   doc holds that puts them in another type (structs past a gap in their writer's clocks are
 *   left to Yjs to park, see `parks`);
 * - `refuseContent` refuses it (subdocuments, anything but well-formed entries in the store,
 *   entries with an owner or an expiry);
 * - it deletes ids the doc does not hold yet: Yjs would keep the deletion and apply it to
 *   whatever a node writes under those ids later (a node's own future writes).
 *
 * `depth` is what `checkUpdate(update, 'v1')` returned, for a caller that checked already;
 * without it the update is checked here, and a malformed one throws.
 */
export const judgeLightUpdate = (
  doc: Y.Doc,
  update: Uint8Array,
  depth: number = checkUpdate(update, 'v1'),
): LightUpdateJudgement => {
  // Before decoding: Yjs decodes values recursively.
  if (depth > MAX_ELEMENT_DEPTH) {
    return { refusal: `values nested deeper than ${MAX_VALUE_DEPTH} levels (MAX_VALUE_DEPTH)`, parks: false }
  }
  const { structs, ds } = Y.decodeUpdate(update)
  const { end, missing, now } = dependencies(doc, structs, { gaps: 'leave' })
  const parks = now.length < structs.length
  const refusal = missing ?? refuseContent(doc, now, { nodeFields: false })
  if (refusal) return { refusal, parks }
  for (const [client, ranges] of ds.clients) {
    for (const { clock, len } of ranges) {
      if (clock + len > end(client)) return { refusal: 'deletions of content that does not exist yet', parks }
    }
  }
  return { parks }
}

/**
 * Applies an update {@link judgeLightUpdate} let through, with `origin` as the transaction's
 * origin. What the doc holds pending and the update repeats ids of goes first (see
 * `dropPendingOverlapping`); what the update itself parks goes after: it waits for clocks only
 * other writers hold, and they send them themselves.
 */
export const applyLightUpdate = (
  doc: Y.Doc,
  update: Uint8Array,
  origin: unknown,
  { parks }: LightUpdateJudgement,
): void => {
  dropPendingOverlapping(doc, update, 'v1')
  Y.applyUpdate(doc, update, origin)
  if (parks) doc.store.pendingStructs = null
}
