import type { MeshNode } from '@mesh/core'
import { lease, type LeaseHolder } from './lease.js'

/** What {@link claim} resolves with. */
export type ClaimResult =
  | {
      claimed: true
      /** The fencing token of the claim: pass it along with the work's results. */
      token: number
      /** The claim's holder id (`claim/<node id>`): pass it along with the token (see LeaseGrant.holderId). */
      holderId: string
      /** Gives the item back (e.g. when the work failed), so another node may claim it. */
      release(): Promise<void>
    }
  | { claimed: false; holder: LeaseHolder | undefined }

/** Options of {@link claim}. */
export interface ClaimOptions {
  /** The claim ends this long after it was made; by default it lasts until released or until this node dies, leaves or restarts. */
  ttlMs?: number
  /** Deadline of the call to the claim's owner, in ms. Default 5000. */
  timeoutMs?: number
}

/**
 * Claims `itemId` of `queue` for this node, so that one node does the work: a lease named
 * `claim:<length of queue>:<queue>:<itemId>` (so no two queue/item pairs share a name) whose
 * holder is the node itself, so claiming again from the same node is idempotent (same token)
 * and the claim is freed when the node dies, leaves or restarts. Rejects with a `no_owner`
 * MeshError ("no quorum: …") while the claim's owner reaches no majority (docs/recipes/lease.md).
 *
 * @example
 * const c = await claim(node, 'emails', 'msg-42')
 * if (c.claimed) await send(msg, { fencingToken: c.token })
 */
export const claim = async (
  node: MeshNode,
  queue: string,
  itemId: string,
  options: ClaimOptions = {},
): Promise<ClaimResult> => {
  const l = lease(node, `claim:${String(queue.length)}:${queue}:${itemId}`, {
    ...options,
    holderId: `claim/${node.id}`,
  })
  const grant = await l.acquire()
  if (grant) return { claimed: true, token: grant.token, holderId: grant.holderId, release: () => l.release() }
  return { claimed: false, holder: await l.holder() }
}
