import * as Y from 'yjs'
import type { ConflictingKey } from './errors.js'
import { jsonEqual, toJsonSafe } from './json.js'
import { KV_MAP, type Room } from './room.js'

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

/**
 * `accept`: merges the remote's whole state, then writes back every key this side changed
 * so that its value is the remote's again. The fix-up is a new transaction made after both
 * histories, so it wins everywhere, and the remote sees no value change at all.
 */
export const adoptRemote = (room: Room, full: Uint8Array, localChanged: ChangedKeys, origin: object): void => {
  const remote = new Y.Doc({ gc: true })
  try {
    Y.applyUpdateV2(remote, full)
    const remoteKv = remote.getMap<unknown>(KV_MAP)
    // Two transactions: Yjs marks a transaction that applies a remote update as non-local and
    // would then take this node's own fix-up writes for a client-id clash. Both land in the
    // same outgoing batch, so other nodes still apply them together.
    room.applyState(full, origin)
    room.doc.transact(() => {
      for (const key of localChanged.keys()) {
        if (!remoteKv.has(key)) {
          if (room.kv.has(key)) room.kv.delete(key)
        } else if (!jsonEqual(room.kv.get(key), remoteKv.get(key))) {
          room.kv.set(key, remoteKv.get(key))
        }
      }
    }, origin)
  } finally {
    remote.destroy()
  }
}
