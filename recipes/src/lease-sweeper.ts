/**
 * Removes the lease records of nodes that are gone. Every node that owned a lease keeps a
 * record of it (lease-records.ts), and a node that died or left never writes nor removes its
 * records again: the lease's current owner folds them into its own record and removes them
 * (the actor's `fold`), which needs no caller of the lease, so the records of finished work
 * items go too.
 */
import { errorText, type MeshNode } from '@mesh/core'
import { holderLives } from './capability.js'
import { LEASE_CAPABILITY } from './lease-actor.js'
import { leaseRecords } from './lease-records.js'

/** Wait after a member died or left before sweeping, so that its leases settle on their new owners. */
const SETTLE_MS = 2000
/** A sweep at this interval finds what the events did not: a lease that changed owner later, a member forgotten. */
const SWEEP_MS = 60_000
/** Deadline of one fold call. */
const FOLD_TIMEOUT_MS = 10_000

/** Starts sweeping the lease records of gone nodes on `node`, for the leases it owns. */
export const sweepLeaseRecords = (node: MeshNode): void => {
  const records = leaseRecords(node)
  const lives = (id: string) => holderLives(node, id, null)
  let running = false
  /** Sweeps asked for: one asked while a sweep runs makes it go round again. */
  let asked = 0

  const sweep = async (): Promise<void> => {
    asked++
    if (running) return
    running = true
    try {
      let done: number
      do {
        done = asked
        for (const name of [...records.names()]) {
          if (node.closed) return
          if (node.ownerOf(LEASE_CAPABILITY, name)?.id !== node.id) continue
          if (records.orphans(name, lives).length === 0) continue
          await node
            .call({ capability: LEASE_CAPABILITY, id: name, payload: { op: 'fold' }, timeoutMs: FOLD_TIMEOUT_MS })
            .catch((error: unknown) => node.logger.warn('lease records not folded', { name, error: errorText(error) }))
        }
      } while (done !== asked && !node.closed)
    } finally {
      running = false
    }
  }
  const later = () => {
    if (!node.closed) setTimeout(() => void sweep(), SETTLE_MS).unref()
  }
  node.on('member:dead', later)
  node.on('member:leave', later)
  const timer = setInterval(() => {
    if (node.closed) clearInterval(timer)
    else void sweep()
  }, SWEEP_MS)
  timer.unref()
  later()
}
