import * as Y from 'yjs'
import { MAX_VALUE_DEPTH } from '../common/index.js'
import { contradictsHeld, dependencies, MAX_ELEMENT_DEPTH, refuseContent } from '../store/index.js'
import { inspectUpdate, type UpdateSummary } from './update-check.js'

/**
 * Checks an update from a peer fully before applying it: Yjs may integrate part of a malformed
 * update and then throw, and a peer may be anybody when no secret is set. Honest nodes write
 * only plain store traffic (see `inspectUpdate`), which needs no decoding unless it overlaps
 * what the doc holds (a forged copy of held ids may contradict it); anything else is decoded
 * and held to the content rules every replica follows. Throws what it refuses; tells whether
 * `doc` holds all of the update already (a duplicate, which changes nothing) and whether Yjs
 * can integrate it at once.
 */
export const validateUpdate = (
  doc: Y.Doc,
  update: Uint8Array,
  format: 'v1' | 'v2' = 'v2',
): Pick<UpdateSummary, 'known' | 'ready' | 'deletesOthers' | 'spans'> => {
  const summary = inspectUpdate(update, format, doc)
  if (summary.depth > MAX_ELEMENT_DEPTH) throw new Error(`refused: values nested deeper than ${MAX_VALUE_DEPTH} levels`)
  if (summary.plain && !summary.overlaps) return summary
  const { structs } = format === 'v2' ? Y.decodeUpdateV2(update) : Y.decodeUpdate(update)
  if (summary.plain) {
    // Store traffic that overlaps what the doc holds: a forged copy of held ids may contradict it.
    const contradiction = contradictsHeld(doc, structs)
    if (contradiction) throw new Error(`refused: ${contradiction}`)
    return summary
  }
  // Content that cannot be integrated now would be integrated later, when a plain update
  // brings what it waits for, past this check; an honest gap closes this link and the resync
  // sends the whole difference.
  const refusal = dependencies(doc, structs).missing ?? refuseContent(doc, structs, { nodeFields: true })
  if (refusal) throw new Error(`refused: ${refusal}`)
  return summary
}

/**
 * Drops the structs Yjs holds pending (waiting for content the doc lacks) when `updates`,
 * applied next in one transaction, could make Yjs integrate them with an offset: they bring
 * clocks a pending struct waits for while another pending struct starts below what the doc
 * will then hold of its writer. Yjs integrates pending structs with no check, and one whose
 * first clocks the doc holds by then (a forged copy, parked before what it copies arrived)
 * would continue them in another type (see `contradictsHeld`). An honest gap parks structs past
 * what the doc holds, and is not touched; what is dropped is repaired by the next anti-entropy
 * round, since the doc's state vector never included it. Returns true when it dropped them.
 */
export const dropPendingOverlapping = (
  doc: Y.Doc,
  updates: Uint8Array | readonly Uint8Array[],
  format: 'v1' | 'v2',
): boolean => {
  const pending = doc.store.pendingStructs
  if (pending === null) return false
  // Updates applied in one transaction count as one: what the first brings, the next may fill.
  const reach = new Map<number, number>()
  for (const update of updates instanceof Uint8Array ? [updates] : updates) {
    const { to } = format === 'v2' ? Y.parseUpdateMetaV2(update) : Y.parseUpdateMeta(update)
    for (const [client, end] of to) reach.set(client, Math.max(end, reach.get(client) ?? 0))
  }
  // Yjs retries what is pending only once the state of a client it waits for moved.
  if (![...pending.missing.keys()].some((client) => reach.has(client))) return false
  const held = (client: number): number => Math.max(Y.getState(doc.store, client), reach.get(client) ?? 0)
  const parked = Y.parseUpdateMetaV2(pending.update)
  for (const [client, from] of parked.from) {
    if (from >= held(client)) continue
    doc.store.pendingStructs = null
    return true
  }
  return false
}
