import * as Y from 'yjs'
import type { ConflictingKey } from './errors.js'
import { jsonEqual, toJsonSafe } from './json.js'
import type { Room } from './room.js'

/**
 * What a node does when it (re)syncs with a peer whose history diverged from its own (each
 * side has operations the other lacks). See docs/conflicts.md for the exact semantics.
 */
export type ConflictPolicy = 'merge' | 'accept' | 'warn' | 'exception'

/** The policies, for validating configuration. */
export const CONFLICT_POLICIES: readonly ConflictPolicy[] = ['merge', 'accept', 'warn', 'exception']

/** Keys one side changed that the other side lacks, with the value this side holds (`undefined`: removed). */
export type ChangedKeys = Map<string, unknown>

const ABSENT = 0
const PRESENT = 1

/**
 * The keys of `room`'s kv map whose latest write (or removal) the remote, described by its
 * snapshot, does not have yet.
 */
export const changedSince = (room: Room, remote: Y.Snapshot): ChangedKeys => {
  const changed: ChangedKeys = new Map()
  for (const [key, item] of room.kv._map) {
    const known = item.id.clock < (remote.sv.get(item.id.client) ?? 0)
    if (!known || (item.deleted && !Y.isDeleted(remote.ds, item.id))) {
      changed.set(key, item.deleted ? undefined : room.kv.get(key))
    }
  }
  return changed
}

/** Encodes changed keys for the wire: JSON `[[key, 0|1, value?], ...]`. */
export const encodeChanged = (changed: ChangedKeys): string =>
  changed.size === 0
    ? ''
    : JSON.stringify([...changed].map(([k, v]) => (v === undefined ? [k, ABSENT] : [k, PRESENT, toJsonSafe(v)])))

/** Decodes what {@link encodeChanged} produced; throws on anything else. */
export const decodeChanged = (text: string): ChangedKeys => {
  const changed: ChangedKeys = new Map()
  if (text === '') return changed
  const parsed: unknown = JSON.parse(text)
  if (!Array.isArray(parsed)) throw new Error('changed keys must be an array')
  for (const entry of parsed) {
    if (!Array.isArray(entry) || typeof entry[0] !== 'string' || (entry[1] !== ABSENT && entry[1] !== PRESENT)) {
      throw new Error('malformed changed-key entry')
    }
    changed.set(entry[0], entry[1] === PRESENT ? entry[2] : undefined)
  }
  return changed
}

/** Keys both sides changed to different values since they diverged. */
export const conflictsBetween = (local: ChangedKeys, remote: ChangedKeys): ConflictingKey[] => {
  const conflicts: ConflictingKey[] = []
  for (const [key, value] of local) {
    if (!remote.has(key)) continue
    const other = remote.get(key)
    if (!jsonEqual(value, other)) conflicts.push({ key, local: value, remote: other })
  }
  return conflicts
}

/** What `accept` wrote back per key: the item whose value it adopted, and that value. */
export type Adopted = Map<string, { ref: string; value: unknown }>

const refOf = (item: Y.Item): string => `${item.id.client}:${item.id.clock}`

/**
 * `accept`, applied after both histories merged: this node's own writes made during the
 * divergence lose every conflict. For each conflicting key whose current value is such a
 * write, the key takes the value it would have without them: the value of the rightmost
 * write (or removal) that is not one of them, which is the peer's current value when the peer
 * knows that write. Keys only this node changed keep its change, and third nodes' writes
 * merge as usual. The write-back is a new write placed after the writes it yields to, so the
 * outcome is the same whatever the order in which this node heals with its peers.
 */
export const yieldOwnWrites = (
  room: Room,
  options: {
    conflicts: readonly string[]
    remote: ChangedKeys
    remoteSnapshot: Y.Snapshot
    clientId: number
    adopted: Adopted
    origin: object
  },
): void => {
  const { remote, remoteSnapshot, clientId, adopted } = options
  const remoteKnows = (item: Y.Item) => item.id.clock < (remoteSnapshot.sv.get(item.id.client) ?? 0)
  const ownDivergent = (item: Y.Item) => item.id.client === clientId && !remoteKnows(item)
  const writes: Array<[string, unknown]> = []
  for (const key of options.conflicts) {
    const current = room.kv._map.get(key)
    if (!current || !ownDivergent(current)) continue
    let other = current.left
    while (other && ownDivergent(other)) other = other.left
    let value: unknown = remote.get(key)
    if (other && !remoteKnows(other)) {
      // A write this node learned from another peer: its value, if this node adopted it.
      const earlier = adopted.get(key)
      if (earlier?.ref === refOf(other)) value = earlier.value
    }
    if (other) adopted.set(key, { ref: refOf(other), value })
    const now = current.deleted ? undefined : room.kv.get(key)
    if (!jsonEqual(now, value)) writes.push([key, value])
  }
  if (writes.length === 0) return
  // A transaction of its own: Yjs marks one that applies a remote update as non-local and
  // would take this node's own writes in it for a client-id clash.
  room.doc.transact(() => {
    for (const [key, value] of writes) {
      if (value === undefined) room.kv.delete(key)
      else room.kv.set(key, value)
      room.kvMeta.delete(key)
    }
  }, options.origin)
}
