import * as Y from 'yjs'

type Struct = Y.Item | Y.GC | Y.Skip

const GAP = 'an update with a gap in its clocks, which can never be applied'
const UNSENT = 'an update that refers to content nobody sent'
const CIRCULAR = 'an update whose content refers to content of its own that comes after it'
const CONTRADICTS = 'content that puts ids this node holds in another type than it holds them'
const OWN_ID = "content under this node's own Yjs client id"

/**
 * Where each client's content ends once `structs` are applied to `doc` (`now`: the structs
 * Yjs integrates at once), and why they cannot all be applied now, if so: a gap in a client's clocks, a reference to content neither the
 * doc nor the update holds, or references that go round in a circle (Yjs would park such
 * structs as pending until what they wait for comes, if it ever does, and integrate them then,
 * past every check made when they arrived, in the transaction of whatever update came last);
 * or a copy of ids the doc holds that contradicts them (see `contradicts`).
 */
export const dependencies = (
  doc: Y.Doc,
  structs: readonly Struct[],
  { gaps = 'refuse' }: DependencyOptions = {},
): { end: (client: number) => number; missing?: string; now: readonly Struct[] } => {
  const ends = new Map<number, number>()
  const end = (client: number): number => Math.max(ends.get(client) ?? 0, Y.getState(doc.store, client))
  /** Clients whose structs from some clock on wait for clocks nobody sent (with gaps 'leave'). */
  const waiting = new Set<number>()
  let now = structs
  for (const struct of structs) {
    const client = struct.id.client
    if (waiting.has(client)) continue
    const start = ends.get(client) ?? Y.getState(doc.store, client)
    // Only this node writes under its client id (a new one every process): anything of it the
    // doc lacks is forged, and would wait for, or collide with, the node's own next writes.
    if (client === doc.clientID && struct.id.clock + struct.length > start) return { end, missing: OWN_ID, now }
    if (struct.id.clock > start) {
      if (gaps === 'refuse') return { end, missing: GAP, now }
      waiting.add(client)
      continue
    }
    // A Skip (what Y.mergeUpdates writes for a gap) holds no content: a struct after it waits
    // for the skipped clocks, so it must not count as their content.
    if (!(struct instanceof Y.Skip)) ends.set(client, Math.max(start, struct.id.clock + struct.length))
  }
  if (waiting.size > 0) {
    const kept = new Map<number, number>([...waiting].map((client) => [client, end(client)]))
    now = structs.filter((s) => !kept.has(s.id.client) || s.id.clock < (kept.get(s.id.client) as number))
  }
  for (const struct of now) {
    if (!(struct instanceof Y.Item)) continue
    for (const ref of refsOf(struct)) if (ref.clock >= end(ref.client)) return { end, missing: UNSENT, now }
  }
  if (circular(doc, now)) return { end, missing: CIRCULAR, now }
  const contradiction = contradictsHeld(doc, now)
  return contradiction ? { end, missing: contradiction, now } : { end, now }
}

/** How {@link dependencies} treats a gap in a client's clocks. */
export interface DependencyOptions {
  /**
   * 'refuse' (the default): the update is refused. 'leave': the structs from the gap on are
   * left out of `now`, the structs Yjs integrates at once, for a caller that drops what Yjs
   * parks (a client that holds pending structs sends them after its own content, past a gap).
   */
  gaps?: 'refuse' | 'leave'
}

/** Why `structs` contradict content `doc` holds under the same ids (see `contradicts`), or undefined. */
export const contradictsHeld = (doc: Y.Doc, structs: readonly Struct[]): string | undefined =>
  structs.some((struct) => contradicts(doc, struct)) ? CONTRADICTS : undefined

/**
 * True when `struct` overlaps content the doc holds and would continue it in another type. Yjs
 * integrates the part it lacks right after its own previous part, in the type the struct's
 * origin or parent names: a forged copy of held ids that names another type links the rest
 * into one type's list while counting it in another's, and the array's index and its readers
 * disagree for good (fuzz seed 97954241). An honest copy always names the type it is in.
 */
const contradicts = (doc: Y.Doc, struct: Struct): boolean => {
  if (!(struct instanceof Y.Item)) return false
  const held = Y.getState(doc.store, struct.id.client)
  if (struct.id.clock >= held || struct.id.clock + struct.length <= held) return false
  const before = Y.getItem(doc.store, Y.createID(struct.id.client, held - 1))
  // An honest copy's first part is held, so what it refers to is held too.
  const holds = (id: Y.ID): boolean => id.clock < Y.getState(doc.store, id.client)
  const named = struct.origin ?? struct.rightOrigin
  if (!(before instanceof Y.Item)) {
    // Collected content (its nested type was deleted): Yjs collects the rest of an honest copy
    // too, whose neighbour or parent went with it. A copy that names a live neighbour or a
    // root type (never deleted, so never collected) makes Yjs throw.
    if (named) return !holds(named) || Y.getItem(doc.store, named) instanceof Y.Item
    return !(struct.parent instanceof Y.ID)
  }
  if (named) {
    if (!holds(named)) return true
    const neighbour = Y.getItem(doc.store, named)
    return (
      !(neighbour instanceof Y.Item) || neighbour.parent !== before.parent || neighbour.parentSub !== before.parentSub
    )
  }
  if (struct.parentSub !== before.parentSub) return true
  if (typeof struct.parent === 'string') return doc.share.get(struct.parent) !== before.parent
  if (struct.parent instanceof Y.ID) {
    if (!holds(struct.parent)) return true
    const parent = Y.getItem(doc.store, struct.parent)
    return (
      !(parent instanceof Y.Item) || !(parent.content instanceof Y.ContentType) || parent.content.type !== before.parent
    )
  }
  return true
}

/** The ids an item needs integrated before it: its neighbours when written, and its parent when that is an item. */
const refsOf = (item: Y.Item): Y.ID[] => {
  const refs: Y.ID[] = []
  if (item.origin) refs.push(item.origin)
  if (item.rightOrigin) refs.push(item.rightOrigin)
  if (item.parent instanceof Y.ID) refs.push(item.parent)
  return refs
}

/**
 * True when the update's structs cannot be integrated in any order: each waits for the one
 * before it of its writer and for the structs of the update its references point into, and
 * these waits go round in a circle. Honest writers never produce one (a reference always names
 * content that existed when the item was written), but a forged update can, and Yjs parks it.
 * A depth-first walk without recursion: an update may hold many structs.
 */
const circular = (doc: Y.Doc, structs: readonly Struct[]): boolean => {
  const lists = new Map<number, Struct[]>()
  for (const struct of structs) {
    const list = lists.get(struct.id.client)
    if (list) list.push(struct)
    else lists.set(struct.id.client, [struct])
  }
  const position = new Int32Array(structs.length)
  const node = new Map<Struct, number>()
  structs.forEach((struct, i) => node.set(struct, i))
  // An update may list a client twice; each client's structs are walked in clock order.
  for (const list of lists.values()) {
    list.sort((x, y) => x.id.clock - y.id.clock)
    list.forEach((struct, at) => (position[node.get(struct) as number] = at))
  }
  /** The structs the one at `i` waits for, or undefined when it waits for a later one of its own writer. */
  const waitsFor = (i: number): number[] | undefined => {
    const struct = structs[i] as Struct
    const own = lists.get(struct.id.client) as Struct[]
    const before = position[i] as number
    const targets = before > 0 ? [node.get(own[before - 1] as Struct) as number] : []
    if (!(struct instanceof Y.Item)) return targets
    for (const ref of refsOf(struct)) {
      if (ref.clock < Y.getState(doc.store, ref.client)) continue
      const list = lists.get(ref.client) as Struct[]
      const at = holding(list, ref.clock)
      // Yjs reads a reference to its own writer as content integrated already.
      if (ref.client === struct.id.client && at >= before) return undefined
      targets.push(node.get(list[at] as Struct) as number)
    }
    return targets
  }
  const state = new Uint8Array(structs.length) // 0: not seen, 1: on the walk, 2: done
  for (let root = 0; root < structs.length; root++) {
    if (state[root] !== 0) continue
    const stack: Array<{ at: number; next: number[] }> = []
    const enter = (i: number): boolean => {
      const next = waitsFor(i)
      if (next === undefined) return false
      state[i] = 1
      stack.push({ at: i, next })
      return true
    }
    if (!enter(root)) return true
    while (stack.length > 0) {
      const top = stack[stack.length - 1] as { at: number; next: number[] }
      const target = top.next.pop()
      if (target === undefined) {
        state[top.at] = 2
        stack.pop()
      } else if (state[target] === 1) return true
      else if (state[target] === 0 && !enter(target)) return true
    }
  }
  return false
}

/** Index in `list` (one client's structs, in clock order) of the struct holding `clock`; every clock asked for is in one. */
const holding = (list: readonly Struct[], clock: number): number => {
  let low = 0
  let high = list.length - 1
  while (low < high) {
    const mid = (low + high + 1) >>> 1
    if ((list[mid] as Struct).id.clock <= clock) low = mid
    else high = mid - 1
  }
  return low
}
