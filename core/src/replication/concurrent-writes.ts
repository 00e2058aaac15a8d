import { jsonEqual, MeshConflictError, type ConflictingKey } from '../common/index.js'
import type { ConcurrentWrite } from '../store/index.js'
import type { ConflictPolicy } from './conflict.js'
import type { Conflicts } from './conflicts.js'
import type { Room } from './room.js'

/** What the policy for concurrent writes needs of the node. */
export interface ConcurrentWritesHost {
  policy(): ConflictPolicy
  readonly conflicts: Conflicts
  /** The node id of the peer link a transaction came from; undefined for anything else. */
  peerOf(origin: unknown): string | undefined
}

/**
 * Reports a divergence that arrives as ordinary traffic: a peer relays a write of a key made
 * by a node that had not seen this node's own write of it (typically a third node that healed
 * with the writer and merged it). A (re)sync with the writer itself is decided by the link
 * (room-sync). Here nothing is rewritten: the merge already happened, and under `accept` it
 * already made this node's marked writes lose (KvIndex). So `merge` and `accept` report a
 * merge, `warn` a conflict, and `exception` quarantines the room from then on. Only keys this
 * node wrote count; light peers always merge.
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
    const { conflicts } = this.#host
    for (const write of writes) {
      // Writes a resolution settled are merged, wherever they arrive from later (conflicts.ts).
      if (jsonEqual(write.own.entry.val, write.other.entry.val)) continue
      if (!conflicts.covers(room.name, write, () => this.handle(room, [write], origin))) byKey.set(write.key, write)
    }
    if (byKey.size === 0) return
    const policy = this.#host.policy()
    const keys: ConflictingKey[] = [...byKey.values()].map((w) => ({
      key: w.key,
      local: w.own.entry.val,
      remote: w.other.entry.val,
    }))
    if (policy === 'exception') {
      conflicts.raise(new MeshConflictError({ peer, room: room.name, keys }))
      return
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
