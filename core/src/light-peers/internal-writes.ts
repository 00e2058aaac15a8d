import * as Y from 'yjs'
import { MAX_VALUE_DEPTH } from '../common/index.js'
import { checkUpdate, dropPendingOverlapping, EntryDecoderV1 } from '../replication/index.js'
import { dependencies, MAX_ELEMENT_DEPTH, refuseContent } from '../store/index.js'

/** What {@link judgeLightUpdate} says of an update from a light peer. */
export interface LightUpdateJudgement {
  /** Why it must be refused; undefined when it may be applied. */
  refusal?: string
  /**
   * True when part of it cannot be applied yet: structs past a gap in their writer's clocks, or
   * deletions of content the doc does not hold. Yjs would park that part and apply it later,
   * past these checks (a deletion to whatever is written under those ids later, a node's own
   * writes included), so {@link applyLightUpdate} drops what Yjs parked. An honest client sends
   * it again with what it refers to once asked (a sync step 1): it sent it early (a deletion
   * made before its answer to the node's step 1 went out) or holds it pending itself.
   */
  partial: boolean
}

/**
 * Judges a (V1) update from a light peer. It must be refused when:
 * - it holds a value nested deeper than `MAX_VALUE_DEPTH` (anywhere in the room; an element of
 *   any content may nest one more level, the entry that wraps a store value): lib0 decodes
 *   and encodes values recursively, so a deep one overflows the stack of whoever reads it;
 * - `dependencies` refuses what Yjs would integrate at once: a reference to content neither
 *   the doc nor the update holds, references that go round in a circle, content under the
 *   node's own client id, or a copy of ids the doc holds that puts them in another type;
 * - `refuseContent` refuses it (subdocuments, anything but well-formed entries in the store,
 *   entries with an owner or an expiry).
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
    return { refusal: `values nested deeper than ${MAX_VALUE_DEPTH} levels (MAX_VALUE_DEPTH)`, partial: false }
  }
  const { structs, ds } = Y.decodeUpdate(update)
  const { end, missing, now } = dependencies(doc, structs, { gaps: 'leave' })
  let partial = now.length < structs.length
  for (const [client, ranges] of ds.clients) {
    for (const { clock, len } of ranges) if (clock + len > end(client)) partial = true
  }
  const refusal = missing ?? refuseContent(doc, now, { nodeFields: false })
  return refusal ? { refusal, partial } : { partial }
}

/**
 * Applies an update {@link judgeLightUpdate} let through, with `origin` as the transaction's
 * origin. Pending content it could make Yjs integrate over what the doc holds goes first (see
 * `dropPendingOverlapping`), all pending content when the update is partial; what the update
 * itself parks goes after (see `partial`).
 */
export const applyLightUpdate = (
  doc: Y.Doc,
  update: Uint8Array,
  origin: unknown,
  { partial }: LightUpdateJudgement,
): void => {
  // What waits past a gap must keep waiting: content held pending could fill the gap within
  // this apply, and Yjs would integrate what follows it, never checked (judged as waiting).
  if (partial) dropPending(doc)
  else dropPendingOverlapping(doc, update, 'v1')
  Y.applyUpdateV2(doc, update, origin, EntryDecoderV1)
  if (partial) dropPending(doc)
}

/** Drops everything Yjs holds pending; what was honest comes again with the next repair. */
const dropPending = (doc: Y.Doc): void => {
  doc.store.pendingStructs = null
  doc.store.pendingDs = null
}
