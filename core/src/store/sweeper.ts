import type { Logger } from '../common/index.js'
import type { MeshStore } from './store.js'

/** What the sweeper needs to know about members, as membership sees them. */
export interface SweeperHost {
  readonly id: string
  readonly logger: Logger
  /** Ids of the members alive now. */
  alive(): string[]
  /** The state of a member, or undefined when this node never heard of it. */
  stateOf(id: string): string | undefined
  /** How long a member may stay silent before it is dead. */
  readonly deadAfterMs: number
  /** Every room's store, by room name. */
  stores(): Iterable<[string, MeshStore]>
}

/**
 * Removes expired keys and the ephemeral keys of members that left or died. One deterministic
 * cleaner, the live node with the lowest id, does it. Views of who is alive can differ for a
 * moment, so two nodes may both sweep; removals are idempotent, so that is harmless.
 */
export class EphemeralSweeper {
  #host: SweeperHost
  /** Owners of ephemeral keys not (yet) in the member table, by when this node first saw them. */
  #unknownOwners = new Map<string, number>()

  constructor(host: SweeperHost) {
    this.#host = host
  }

  sweep(now: number): void {
    const host = this.#host
    const cleaner = host.alive().reduce((low, id) => (id < low ? id : low), host.id)
    if (cleaner !== host.id) return
    const graceMs = 2 * host.deadAfterMs
    const unknown = new Map<string, number>()
    const isGone = (owner: string) => {
      if (owner === host.id) return false
      const state = host.stateOf(owner)
      if (state !== undefined) return state === 'dead' || state === 'left'
      // An owner never heard of, long after its key first showed up here, died before we
      // joined; a newcomer whose keys arrive before its member record is only unknown briefly.
      const since = this.#unknownOwners.get(owner) ?? now
      unknown.set(owner, since)
      return now - since > graceMs
    }
    for (const [name, store] of host.stores()) {
      const removed = store.sweep(now, isGone)
      if (removed.length > 0) host.logger.debug('swept expired and orphaned keys', { room: name, keys: removed.length })
    }
    this.#unknownOwners = unknown
  }
}
