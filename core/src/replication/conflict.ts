import * as Y from 'yjs'
import type { ConflictingKey } from '../common/index.js'
import { jsonEqual, toJsonSafe, type JsonValue } from '../common/index.js'
import { MAX_LOST_RACES, type LostRace } from '../store/index.js'
import type { Room } from './room.js'

/**
 * What a node does when it (re)syncs with a peer whose history diverged from its own (each
 * side has operations the other lacks). See docs/conflicts.md for the exact semantics.
 */
export type ConflictPolicy = 'merge' | 'accept' | 'warn' | 'exception'

/** The policies, for validating configuration. */
export const CONFLICT_POLICIES: readonly ConflictPolicy[] = ['merge', 'accept', 'warn', 'exception']

/** Keys one side changed that the other side lacks, with the value this side holds (`undefined`: removed). */
export type ChangedKeys = Map<string, JsonValue | undefined>

/** No changed keys. */
export const noChanges = (): ChangedKeys => new Map()

const ABSENT = 0
const PRESENT = 1
/** A race the sender resolved that the receiver has not seen (version 6): `[key, 2, loser client, loser clock, winner client, winner clock]`. */
const LOST = 2

/**
 * The keys of `room`'s store whose latest write or removal the remote, described by its
 * snapshot, does not have yet, with this side's value (`undefined`: removed). Removals are
 * named from the store's bounded log of recent removals (a deleted entry's key is gone once
 * Yjs collects it).
 */
export const changedSince = (room: Room, remote: Y.Snapshot): ChangedKeys => {
  const changed: ChangedKeys = new Map()
  for (const key of room.kv.removedUnknownTo(remote)) if (!room.kv.entry(key)) changed.set(key, undefined)
  for (const entry of room.kv.unknownTo(remote.sv)) changed.set(entry.key, entry.val)
  return changed
}

/** Encodes changed keys and lost races for the wire: JSON `[[key, 0|1, value?] | [key, 2, ...ids], ...]`. */
export const encodeChanged = (changed: ChangedKeys, lost: readonly LostRace[] = []): string =>
  changed.size === 0 && lost.length === 0
    ? ''
    : JSON.stringify([
        ...[...changed].map(([k, v]) => (v === undefined ? [k, ABSENT] : [k, PRESENT, toJsonSafe(v)])),
        ...lost.map((r) => [r.key, LOST, r.loser.client, r.loser.clock, r.winner.client, r.winner.clock]),
      ])

const isClock = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0

/** Decodes what {@link encodeChanged} produced; throws on anything else. */
export const decodeChanged = (text: string): { changed: ChangedKeys; lost: LostRace[] } => {
  const changed: ChangedKeys = new Map()
  const lost: LostRace[] = []
  if (text === '') return { changed, lost }
  const parsed: unknown = JSON.parse(text)
  if (!Array.isArray(parsed)) throw new Error('changed keys must be an array')
  for (const entry of parsed) {
    if (!Array.isArray(entry) || typeof entry[0] !== 'string') throw new Error('malformed changed-key entry')
    if (entry[1] === LOST) {
      const [, , lc, lk, wc, wk] = entry as unknown[]
      if (!isClock(lc) || !isClock(lk) || !isClock(wc) || !isClock(wk)) throw new Error('malformed lost race')
      // More than an honest peer remembers: refused before it costs seconds to judge.
      if (lost.length >= MAX_LOST_RACES) throw new Error('too many lost races')
      lost.push({ key: entry[0], loser: { client: lc, clock: lk }, winner: { client: wc, clock: wk } })
    } else if (entry[1] === ABSENT || entry[1] === PRESENT) {
      changed.set(entry[0], entry[1] === PRESENT ? (entry[2] as JsonValue) : undefined)
    } else throw new Error('malformed changed-key entry')
  }
  return { changed, lost }
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

/** Transaction origin of `accept`'s write-backs: this node's own decision, made for `peer`. */
export class YieldOrigin {
  constructor(readonly peer: string | undefined) {}
}

/**
 * An application's `resolveConflict({ strategy: 'accept' })`, applied after both histories
 * merged: this node's own writes made during the divergence lose every conflict. (The
 * `accept` policy itself needs no write-back: its writes carry the `yields` mark, and every
 * replica resolves them against concurrent writes as they meet, see KvIndex.) For each
 * conflicting key whose live entry is such a write, the key takes the value of the rightmost
 * entry the merge superseded that is not one of them (the peer's write), or is removed when
 * the peer removed it. The write-back is placed right after the entry it yields to. Such a
 * write-back can race with entries other nodes resolve at the same moment and lose the key
 * (docs/conflicts.md): the reason the policy no longer uses it.
 */
export const yieldOwnWrites = (
  room: Room,
  options: {
    conflicts: readonly string[]
    remote: ChangedKeys
    remoteSnapshot: Y.Snapshot
    clientId: number
    origin: object
  },
): void => {
  const { remote, remoteSnapshot, clientId } = options
  const ownDivergent = (slot: { client: number; clock: number }) =>
    slot.client === clientId && slot.clock >= (remoteSnapshot.sv.get(clientId) ?? 0)
  const moves: Array<(tr: Y.Transaction) => void> = []
  for (const key of options.conflicts) {
    const ref = room.kv.ref(key)
    if (ref === undefined) continue
    const [client, clock] = ref.split(':').map(Number) as [number, number]
    if (!ownDivergent({ client, clock })) continue
    const yieldTo = room.kv.rightmostSuperseded(key, (slot) => !ownDivergent(slot))
    if (yieldTo) {
      // The value and expiry, not the owner: the copy is this node's write, and an owner that
      // is not the writer would misread it (as its own, or as a previous life's).
      const { owner: _owner, ...copy } = yieldTo.entry
      moves.push((tr) => room.kv.writeAfter(tr, yieldTo, copy))
    } else if (remote.get(key) === undefined) moves.push((tr) => room.kv.write(tr, [[key, undefined]]))
  }
  if (moves.length === 0) return
  // A transaction of its own: Yjs marks one that applies a remote update as non-local and
  // would take this node's own writes in it for a client-id clash.
  room.doc.transact((tr) => {
    for (const move of moves) move(tr)
  }, options.origin)
}
