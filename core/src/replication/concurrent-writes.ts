import type * as Y from 'yjs'
import { jsonEqual, MeshConflictError, type ConflictingKey } from '../common/index.js'
import { slotRef, type ConcurrentWrite, type Slot } from '../store/index.js'
import { YieldOrigin, type ConflictPolicy } from './conflict.js'
import type { Conflicts } from './conflicts.js'
import type { Room } from './room.js'

/** What the policy for concurrent writes needs of the node. */
export interface ConcurrentWritesHost {
  readonly clientId: number
  readonly policy: ConflictPolicy
  readonly conflicts: Conflicts
  /** The node id of the peer link a transaction came from; undefined for anything else. */
  peerOf(origin: unknown): string | undefined
}

/**
 * Applies the conflict policy to a divergence that arrives as ordinary traffic: a peer relays
 * a write of a key made by a node that had not seen this node's own write of it (typically a
 * third node that healed with the writer and merged). A (re)sync with the writer itself is
 * decided by the link (room-sync); this covers every other path, so the outcome depends
 * neither on heal order nor on topology. Only keys this node wrote count: two other nodes'
 * concurrent writes are theirs to decide. Light peers always merge.
 */
export class ConcurrentWrites {
  #host: ConcurrentWritesHost

  constructor(host: ConcurrentWritesHost) {
    this.#host = host
  }

  handle(room: Room, writes: readonly ConcurrentWrite[], origin: unknown): void {
    const peer = this.#host.peerOf(origin)
    if (peer === undefined) return
    // One report per key: the latest of the other side's writes the transaction brought.
    const byKey = new Map<string, ConcurrentWrite>()
    for (const write of writes) if (!jsonEqual(write.own.entry.val, write.other.entry.val)) byKey.set(write.key, write)
    if (byKey.size === 0) return
    const { policy, conflicts } = this.#host
    const keys: ConflictingKey[] = [...byKey.values()].map((w) => ({
      key: w.key,
      local: w.own.entry.val,
      remote: w.other.entry.val,
    }))
    if (policy === 'exception') {
      conflicts.raise(new MeshConflictError({ peer, room: room.name, keys }), { relayed: true })
      return
    }
    if (policy === 'accept') {
      const won = [...byKey.values()].filter((w) => room.kv.ref(w.key) === slotRef(w.own))
      yieldTo(
        room,
        won.map((w) => w.other),
        new YieldOrigin(peer),
      )
    }
    conflicts.merged({
      peer,
      room: room.name,
      relation: 'diverged',
      policy,
      conflicts: keys.map((k) => ({ ...k, winner: room.kv.entry(k.key)?.val })),
    })
  }
}

/**
 * Makes this node's live entries of the given keys yield: each key takes the value of the
 * entry `to` names for it, written right after that entry, so a later merge with a third side
 * orders the copy exactly as it orders the entry it yields to.
 */
export const yieldTo = (room: Room, to: readonly Slot[], origin: object): void => {
  if (to.length === 0) return
  room.doc.transact((tr: Y.Transaction) => {
    for (const slot of to) {
      // The value and expiry, not the owner: the copy is this node's write (see yieldOwnWrites).
      const { owner: _owner, ...copy } = slot.entry
      room.kv.writeAfter(tr, slot, copy)
    }
  }, origin)
}

/**
 * Makes this node's live entries of `keys` yield to the rightmost entry of another writer that
 * a merge superseded, where there is one (`accept` chosen for a relayed conflict).
 */
export const yieldOwnKeys = (room: Room, keys: readonly string[], clientId: number, origin: object): void => {
  const to: Slot[] = []
  for (const key of keys) {
    if (room.kv.ref(key)?.startsWith(`${String(clientId)}:`) !== true) continue
    const slot = room.kv.rightmostSuperseded(key, (s) => s.client !== clientId)
    if (slot) to.push(slot)
  }
  yieldTo(room, to, origin)
}
