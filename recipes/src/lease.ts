import { MeshCallError, MeshError, type MeshNode } from '@mesh/core'
import { declareCapability } from './capability.js'
import { LEASE_CAPABILITY, leaseActor, type LeaseAnswer } from './lease-actor.js'
import { leaseQuorum } from './lease-quorum.js'
import { sweepLeaseRecords } from './lease-sweeper.js'

/** Options of {@link lease}. */
export interface LeaseOptions {
  /**
   * How long a grant lasts unless renewed, in ms. Omit it for a lease held until released or
   * until its holder's node dies, leaves, is forgotten or restarts under the same id (what work
   * claims use).
   */
  ttlMs?: number
  /** Deadline of each call to the lease's owner, in ms. Default 5000. */
  timeoutMs?: number
  /**
   * Who holds the lease: by default one id per `lease()` handle, so two handles on one node
   * compete. Handles that pass the same holder id share the grant (acquire is idempotent).
   */
  holderId?: string
}

/** A granted lease. */
export interface LeaseGrant {
  /**
   * The fencing token: larger than every token issued before for this lease. Send it with
   * every write to the protected resource, which refuses a token lower than one it has seen.
   */
  token: number
  /**
   * This grant's holder id ({@link Lease.holderId}): no other holder is ever granted the same
   * token, also across a partition (only a side with a majority grants). A resource that
   * stores it with the token can tell a holder's retry from another holder (docs/recipes/lease.md).
   */
  holderId: string
  /**
   * Until when this holder may act, in ms since the epoch by this node's clock: the TTL
   * counted from before the request was sent, so it never outlasts the owner's view. Infinity
   * without a TTL.
   */
  validUntil: number
}

/** Who holds a lease, as its owner sees it. */
export interface LeaseHolder {
  holder: string
  /** Node id of the holder. */
  node: string
  token: number
  /** Expiry by the owner's clock (ms since the epoch), or null for none. */
  expiresAt: number | null
}

/** A handle on a named lease: see {@link lease}. */
export interface Lease {
  /** The lease's name. */
  readonly name: string
  /** This handle's holder id. */
  readonly holderId: string
  /**
   * Tries once to take the lease: the grant, or undefined while someone else holds it. Rejects
   * with a `no_owner` MeshError ("no quorum: …") while the lease's owner reaches no majority of
   * the voting members (docs/recipes/lease.md, "Quorum").
   */
  acquire(): Promise<LeaseGrant | undefined>
  /**
   * Extends the grant by the TTL; false when it was lost (expired and taken, or never held).
   * Rejects with `no_owner` like {@link acquire} when the owner reaches no majority.
   */
  renew(): Promise<boolean>
  /** Gives the lease up; a no-op when this handle does not hold it. */
  release(): Promise<void>
  /** Who holds the lease now, asked of its owner; undefined when it is free. */
  holder(): Promise<LeaseHolder | undefined>
  /** The current grant, if this handle holds one that has not run out by this node's clock. */
  readonly grant: LeaseGrant | undefined
}

const randomId = (): string => globalThis.crypto.randomUUID()

/**
 * How often a call is sent again when the owner asked answers that the lease moved, or when the
 * call failed `owner_lost` (its owner changed twice on its way: every node of a fresh cluster
 * declaring `mesh.lease` at its first call moves the owners of leases more than once). A grant's
 * holder id makes every operation safe to repeat.
 */
const MOVED_RETRIES = 5

/**
 * Declares capability `mesh.lease` on `node` now (the first {@link lease} or `claim` does it
 * otherwise), so the node takes its share of leases before the first call. Call it at startup
 * on every node: the owners of leases settle while nobody holds one yet.
 */
export const enableLeases = (node: MeshNode): void => {
  declareCapability(node, LEASE_CAPABILITY, () => {
    node.actor(LEASE_CAPABILITY, (id) => leaseActor(node, id))
    // Every node answers the owners' questions about the marks it holds (lease-quorum.ts).
    leaseQuorum(node)
    sweepLeaseRecords(node)
  })
}

/**
 * A named lease with fencing tokens (docs/recipes/lease.md). The lease's shard owner (capability
 * `mesh.lease`, declared on this node by the first call) grants it to one holder at a time and
 * issues a token that only grows; the grant ends when its TTL runs out without a renew, when it
 * is released, or when the life of the holder's node ends (dead, left, forgotten, or restarted under its id).
 *
 * @example
 * const l = lease(node, 'nightly-report', { ttlMs: 10_000 })
 * const grant = await l.acquire()
 * if (grant) await db.write(report, { fencingToken: grant.token })
 */
export const lease = (node: MeshNode, name: string, options: LeaseOptions = {}): Lease => {
  if (typeof name !== 'string' || name.length === 0 || name.length > 1000) {
    throw new MeshError('bad_option', 'a lease name is a string of 1 to 1000 characters')
  }
  const { ttlMs, timeoutMs = 5000 } = options
  if (ttlMs !== undefined && (!Number.isInteger(ttlMs) || ttlMs <= 0 || ttlMs > 2 ** 31 - 1)) {
    throw new MeshError('bad_option', 'ttlMs must be a whole number of milliseconds from 1 to 2^31-1')
  }
  enableLeases(node)
  const holderId = options.holderId ?? `${node.id}/${randomId()}`
  let grant: LeaseGrant | undefined
  /** The acquire on its way, if any. */
  let acquiring: Promise<LeaseAnswer> | undefined

  /**
   * Asks the lease's owner; again (up to MOVED_RETRIES times) when the node asked no longer owns
   * it or the owner changed twice while the call was on its way.
   */
  const ask = async (payload: Record<string, string | number | null>): Promise<LeaseAnswer> => {
    for (let attempt = 0; ; attempt++) {
      let reply: LeaseAnswer
      try {
        reply = await node.call<LeaseAnswer>({ capability: LEASE_CAPABILITY, id: name, payload, timeoutMs })
      } catch (error) {
        if (!(error instanceof MeshCallError && error.code === 'owner_lost') || attempt >= MOVED_RETRIES) throw error
        continue
      }
      // The owner sees no majority of the voting members (a minority side of a partition).
      if (typeof reply.unavailable === 'string') throw new MeshError('no_owner', reply.unavailable)
      if (reply.moved !== true || attempt >= MOVED_RETRIES) return reply
    }
  }

  return {
    name,
    holderId,
    async acquire() {
      const sent = Date.now()
      const asked = ask({
        op: 'acquire',
        holder: holderId,
        node: node.id,
        started: node.startedAt,
        ttlMs: ttlMs ?? null,
      })
      acquiring = asked
      try {
        const reply = await asked
        grant = reply.ok
          ? { token: reply.token, holderId, validUntil: ttlMs === undefined ? Infinity : sent + ttlMs }
          : undefined
        return grant
      } finally {
        if (acquiring === asked) acquiring = undefined
      }
    },
    async renew() {
      const before = grant
      if (!before) return false
      const { token } = before
      const sent = Date.now()
      const reply = await ask({ op: 'renew', holder: holderId, token, ttlMs: ttlMs ?? null })
      // A release or another acquire while the renew was on its way decides instead.
      if (grant !== before) return false
      grant = reply.ok ? { token, holderId, validUntil: ttlMs === undefined ? Infinity : sent + ttlMs } : undefined
      return reply.ok
    },
    async release() {
      // An acquire on its way may still grant: release what it gets, not nothing.
      if (acquiring) await acquiring.catch(() => undefined)
      if (!grant) return
      const { token } = grant
      grant = undefined
      await ask({ op: 'release', holder: holderId, token })
    },
    async holder() {
      const reply = await ask({ op: 'holder' })
      if (!reply.ok || reply.holder === null || reply.node === null) return undefined
      return { holder: reply.holder, node: reply.node, token: reply.token, expiresAt: reply.expiresAt }
    },
    get grant() {
      return grant && Date.now() < grant.validUntil ? grant : undefined
    },
  }
}
