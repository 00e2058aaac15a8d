import * as decoding from 'lib0/decoding'
import * as Y from 'yjs'
import { skipContent } from './update-content.js'

/**
 * Walks an update (V1 or V2) the way Yjs will read it, without building anything, and throws if it
 * is malformed or declares more work than its size can honestly hold. V2 stores its columns
 * run-length encoded, so forty bytes can declare billions of structs, which would block the
 * event loop and exhaust the heap inside `Y.applyUpdateV2`. Every genuine struct costs the
 * encoder at least a few bits, so the count is capped relative to the byte size.
 * Walking is also cheaper than `Y.decodeUpdateV2`, which allocates every struct.
 *
 * Returns how deep the most deeply nested value it holds (in `any` content and subdocument
 * options) nests arrays and objects, 0 when none does. Values are walked without recursion,
 * so however deep one is, walking it cannot overflow the stack (lib0's `readAny`, which Yjs
 * uses to decode them, recurses once per level).
 */
export const checkUpdate = (update: Uint8Array, format: 'v1' | 'v2'): number => inspectUpdate(update, format).depth

/** What {@link inspectUpdate} learns walking an update. */
export interface UpdateSummary {
  /** How deep its most deeply nested value nests arrays and objects (0 when none does). */
  depth: number
  /**
   * True when it holds nothing but deletions and `any` content whose every element is a
   * well-formed store entry (see `isKvEntry`): what nodes write to a store, which content rules
   * need not decode to judge.
   */
  plain: boolean
  /**
   * True when the `doc` passed in already holds every struct of the update and has already
   * deleted everything it deletes: applying it would change nothing (a duplicate). False
   * without a doc.
   */
  known: boolean
  /**
   * True when, given the doc it is for, everything the update's structs and deletions refer to
   * is in the doc or in the update itself, so Yjs integrates it at once instead of parking it
   * as pending structs. True without a doc.
   */
  ready: boolean
  /**
   * True when one of its structs starts before the end of its writer's content in the doc and
   * ends after it: Yjs integrates the rest of it right after the part the doc holds, which a
   * forged copy may contradict (see `dependencies`). False without a doc.
   */
  overlaps: boolean
  /**
   * True when it deletes something of a client it inserts nothing for: another writer's entry
   * (an overwrite of someone else's key, or a relaying node removing the loser of a race).
   * Applied in one transaction with other updates, such a deletion would hide which writer
   * had seen the entry it removes (see `applyLive`).
   */
  deletesOthers: boolean
  /**
   * The clocks it inserts, as (client, first, end) triples: one per run of a client's structs,
   * Skips left out.
   */
  spans: readonly number[]
}

/**
 * {@link checkUpdate}, also telling whether the update is plain store traffic and, given the doc
 * it is for, whether that doc holds all of it already.
 */
export const inspectUpdate = (update: Uint8Array, format: 'v1' | 'v2', doc?: Y.Doc): UpdateSummary => {
  const budget = 4 * update.length + 1024
  let spent = 0
  const spend = (n: number): void => {
    spent += n
    if (spent > budget) throw new Error(`update of ${update.length} bytes declares more than ${budget} structs`)
  }
  const bytes = decoding.createDecoder(update)
  const decoder = format === 'v2' ? new Y.UpdateDecoderV2(bytes) : new Y.UpdateDecoderV1(bytes)
  const rest = decoder.restDecoder
  let depth = 0
  const shape = { plain: true, len: 0 }
  let known = doc !== undefined
  const store = doc?.store
  /** Per client of the update: client, first clock, end clock. */
  const spans: number[] = []
  let deletesOthers = false
  let overlaps = false
  /** Client and clock of every reference the doc cannot resolve (maybe the update itself does). */
  const refs: number[] = []
  const need = (client: number, clock: number): void => {
    if (store && clock >= Y.getState(store, client)) refs.push(client, clock)
  }
  const needId = (id: Y.ID): void => need(id.client, id.clock)
  const clients = decoding.readVarUint(rest)
  spend(clients)
  const listed = clients > 1 ? new Set<number>() : undefined
  for (let c = 0; c < clients; c++) {
    const structs = decoding.readVarUint(rest)
    spend(structs)
    const client = decoder.readClient()
    // Yjs reads only the last run of a client listed twice, while every check reads all of
    // them: what it integrates would be what nobody checked. Honest encoders list each once.
    if (listed?.has(client)) throw new Error('refused: an update that lists a writer twice')
    listed?.add(client)
    let clock = decoding.readVarUint(rest)
    let first = clock
    const held = store ? Y.getState(store, client) : 0
    // A gap before the update's first struct of a client: the update starts after the doc's state.
    if (clock > 0) need(client, clock - 1)
    for (let i = 0; i < structs; i++) {
      const info = decoder.readInfo()
      const kind = info & 0b11111
      if (kind === 0) {
        clock += decoder.readLen()
        continue
      }
      if (kind === 10) {
        // A Skip (what Y.mergeUpdates writes for a gap) holds no content: what follows it
        // waits for the skipped clocks, which the update does not hold.
        spans.push(client, first, clock)
        clock += decoding.readVarUint(rest)
        first = clock
        if (i < structs - 1) need(client, clock - 1)
        continue
      }
      const hasOrigin = (info & 0b1000_0000) !== 0
      const hasRightOrigin = (info & 0b0100_0000) !== 0
      if (hasOrigin) needId(decoder.readLeftID())
      if (hasRightOrigin) needId(decoder.readRightID())
      if (!hasOrigin && !hasRightOrigin) {
        if (decoder.readParentInfo()) decoder.readString()
        else needId(decoder.readLeftID())
        if ((info & 0b0010_0000) !== 0) decoder.readString()
      }
      depth = Math.max(depth, skipContent(decoder, kind, spend, shape))
      if (clock < held && clock + shape.len > held) overlaps = true
      clock += shape.len
    }
    if (known && clock > held) known = false
    // Only this node writes under its client id (a new one every process): anything of it the
    // doc lacks is forged, and would wait for, or collide with, the node's own next writes.
    if (doc !== undefined && client === doc.clientID && clock > held) {
      throw new Error("refused: content under this node's own Yjs client id")
    }
    spans.push(client, first, clock)
  }
  // A whole state names many clients: look them up in a set, not by scanning.
  const writerSet = spans.length > 48 ? new Set(spans.filter((_, i) => i % 3 === 0)) : undefined
  const deleteClients = decoding.readVarUint(rest)
  spend(deleteClients)
  for (let c = 0; c < deleteClients; c++) {
    decoder.resetDsCurVal()
    const client = decoding.readVarUint(rest)
    const ranges = decoding.readVarUint(rest)
    spend(ranges)
    if (ranges > 0 && !deletesOthers) deletesOthers = !(writerSet ? writerSet.has(client) : writes(spans, client))
    for (let i = 0; i < ranges; i++) {
      const clock = decoder.readDsClock()
      const len = decoder.readDsLen()
      if (known) known = deletedAlready(doc as Y.Doc, client, clock, len)
      if (len > 0) need(client, clock + len - 1)
      // A deletion of the node's future writes would wait for them and remove each as written.
      if (doc !== undefined && client === doc.clientID && clock + len > Y.getState(doc.store, client)) {
        throw new Error("refused: deletions of this node's own future writes")
      }
    }
  }
  return { depth, plain: shape.plain, known, ready: resolvedWithin(refs, spans), overlaps, deletesOthers, spans }
}

/** True when a span (client, first, end) of the update is `client`'s: the update inserts structs for it. */
const writes = (spans: readonly number[], client: number): boolean => {
  for (let s = 0; s < spans.length; s += 3) if (spans[s] === client) return true
  return false
}

/** True when every reference (client, clock pairs) lies in a span (client, first, end) of the update. */
const resolvedWithin = (refs: readonly number[], spans: readonly number[]): boolean => {
  for (let r = 0; r < refs.length; r += 2) {
    let found = false
    for (let s = 0; s < spans.length && !found; s += 3) {
      found =
        spans[s] === refs[r] &&
        (spans[s + 1] as number) <= (refs[r + 1] as number) &&
        (refs[r + 1] as number) < (spans[s + 2] as number)
    }
    if (!found) return false
  }
  return true
}

/** True when `doc` holds the `len` clocks of `client` from `clock`, all of them deleted. */
const deletedAlready = (doc: Y.Doc, client: number, clock: number, len: number): boolean => {
  const structs = doc.store.clients.get(client)
  const end = clock + len
  if (!structs || end > Y.getState(doc.store, client)) return false
  for (let i = Y.findIndexSS(structs, clock); clock < end; i++) {
    const struct = structs[i]
    if (!struct?.deleted) return false
    clock = struct.id.clock + struct.length
  }
  return true
}
