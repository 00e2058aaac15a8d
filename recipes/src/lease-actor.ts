/**
 * The owner side of a lease: the actor of capability {@link LEASE_CAPABILITY} for one lease
 * name runs on the member that owns the name's shard, and is the only place that grants the
 * lease and issues its fencing tokens. Its state lives in memory and in the store, as this
 * node's record of the lease (lease-records.ts), so that the next owner (after a move, a crash,
 * a partition or a pause) continues from the merge of every node's record; tokens come from
 * blocks reserved on a majority of the voting members before any of them is issued
 * ({@link TOKEN_BLOCK}, lease-quorum.ts), so a side of a partition without a majority grants nothing.
 */
import { MeshError, type Actor, type JsonValue, type MeshNode } from '@mesh/core'
import { alivePeers, holderLives } from './capability.js'
import { pauseWatch } from './pause-watch.js'
import { leaseQuorum } from './lease-quorum.js'
import { isText, isTime, isToken, leaseKey, leaseRecords, type LeaseRecord } from './lease-records.js'

/** The capability whose owners keep the leases. Every node that uses leases declares it. */
export const LEASE_CAPABILITY = 'mesh.lease'

/**
 * How many tokens an owner reserves at a time. Before it issues a token it has the reservation
 * (the high-water mark) on a majority of the voting members, and has read that no other node
 * reserved above the block's start meanwhile, so a successor (which reaches a majority too, so
 * one node holding this mark) never issues a token issued before; one replication wait buys
 * this many grants. A peer answers replication
 * checks about once a second per room, so the first grant of a fresh owner may wait that long.
 */
export const TOKEN_BLOCK = 1000

/** Longest a fresh lease owner waits for its links to sync before its first answer. */
const SYNC_TIMEOUT_MS = 5_000

/**
 * How long a grant waits for every alive peer to hold a new token reservation, then for a
 * majority of the voting members' answers that they hold it: a peer acknowledges a flush about
 * once a second and answers a question at once, and both waits together stay within a
 * caller's default 5 s deadline.
 */
const REPLICATE_TIMEOUT_MS = 3000
const MAJORITY_TIMEOUT_MS = 1500
/** Reservations a grant tries when another owner reserved at the same time, before it gives up. */
const RESERVE_ATTEMPTS = 5
/** Least wait before a reservation is tried again after a collision (up to twice this, at random). */
const COLLISION_WAIT_MS = 100

export type { LeaseRecord }

/** What a caller asks the owner. */
type LeaseRequest =
  | { op: 'acquire'; holder: string; node: string; started: number | null; ttlMs: number | null }
  | { op: 'renew'; holder: string; token: number; ttlMs: number | null }
  | { op: 'release'; holder: string; token: number }
  | { op: 'holder' }
  | { op: 'fold' }

/** The owner's answer: whether the operation succeeded, and the lease as it is now. */
export interface LeaseAnswer {
  ok: boolean
  token: number
  holder: string | null
  node: string | null
  expiresAt: number | null
  [key: string]: JsonValue
}

const isTtl = (x: unknown): x is number | null =>
  x === null || (Number.isInteger(x) && (x as number) > 0 && (x as number) <= 2 ** 31 - 1)

/** Checks a request from the wire: a peer may send anything. */
const parseRequest = (raw: JsonValue): LeaseRequest => {
  const r = (typeof raw === 'object' && raw !== null && !Array.isArray(raw) ? raw : {}) as Record<string, unknown>
  if (r.op === 'holder' || r.op === 'fold') return { op: r.op }
  if (r.op === 'acquire' && isText(r.holder) && isText(r.node) && isTtl(r.ttlMs)) {
    return {
      op: 'acquire',
      holder: r.holder,
      node: r.node,
      started: isTime(r.started) ? r.started : null,
      ttlMs: r.ttlMs,
    }
  }
  if (r.op === 'renew' && isText(r.holder) && isToken(r.token) && isTtl(r.ttlMs)) {
    return { op: 'renew', holder: r.holder, token: r.token, ttlMs: r.ttlMs }
  }
  if (r.op === 'release' && isText(r.holder) && isToken(r.token))
    return { op: 'release', holder: r.holder, token: r.token }
  throw new MeshError('bad_request', 'not a lease request')
}

/** Starts the owner-side actor of lease `name` on `node`. */
export const leaseActor = (node: MeshNode, name: string): Actor => {
  const records = leaseRecords(node)
  const pauses = pauseWatch(node)
  const quorum = leaseQuorum(node)
  const stored = records.read(name)?.record
  // A fresh actor may be the new owner after a crash: every token the old one issued is at or
  // below the mark it stored before issuing them.
  const state: LeaseRecord = stored
    ? { ...stored }
    : { token: 0, reserved: 0, holder: null, node: null, started: null, expiresAt: null }
  /** The last token issued, or the stored mark (a token the old owner may have issued). */
  let issued = state.reserved
  /** The highest mark known to be on a peer (or here, when this node is alone). */
  let confirmed = issued

  const answer = (ok: boolean): LeaseAnswer => ({ ok, ...state })
  /**
   * A node that just joined, or just came back, may own the lease's shard before the store
   * reached it: granting from that store would issue tokens again. The first call waits until
   * every link synced (or SYNC_TIMEOUT_MS), then reads the stored mark like any call.
   */
  let synced: Promise<void> | undefined
  /** The sync epoch `synced` was for: a later one (a link up, a member back, a pause) syncs again. */
  let syncedEpoch = -1

  /** Frees the lease when its holder expired or its node's life is over. */
  const expire = (now: number): void => {
    if (state.holder === null) return
    const expired = state.expiresAt !== null && state.expiresAt <= now
    if (expired || (state.node !== null && !holderLives(node, state.node, state.started))) {
      Object.assign(state, { holder: null, node: null, started: null, expiresAt: null })
    }
  }

  const save = () => node.put(leaseKey(node.id, name), { ...state, writer: node.id })

  /**
   * Reserves the block above `base` (the last token issued): stores the mark and waits until
   * every alive peer holds it (so that the grant stored with it reaches whichever node may own
   * the lease too, see grant), or at least a majority of the voting members, which also report
   * the marks of the other nodes' records (lease-quorum.ts). An owner that reads a mark above
   * `base` gives its block up and reserves above that mark. Returns the first token to issue,
   * or undefined when a collision showed that this node no longer owns the lease.
   */
  const reserve = async (base: number): Promise<number | undefined> => {
    for (let attempt = 1; ; attempt++) {
      // The grant goes into the store with its reservation (see grant), under the token it gets.
      Object.assign(state, { token: base + 1, reserved: Math.max(state.reserved, base) + TOKEN_BLOCK })
      issued = state.token
      await save()
      const peers = alivePeers(node)
      if (peers > 0) await node.flush({ replicas: peers, timeoutMs: REPLICATE_TIMEOUT_MS }).catch(() => undefined)
      const others = await quorum.othersMark(name, state.reserved, MAJORITY_TIMEOUT_MS).catch((error: unknown) => {
        throw new MeshError('no_owner', 'no quorum: a majority did not hold the token reservation', { cause: error })
      })
      if (others <= base) return base + 1
      // Another owner reserved meanwhile (or this node's view was stale): skip both blocks.
      base = Math.max(state.reserved, others)
      issued = confirmed = base
      // Owners that declared at the same moment collide until placement settles: the ones that
      // learnt they do not own the lease send the caller on, the owner tries again after them.
      if (!owns()) return undefined
      if (attempt >= RESERVE_ATTEMPTS) throw new MeshError('no_owner', 'lease reservations kept colliding')
      await new Promise((resolve) => setTimeout(resolve, COLLISION_WAIT_MS * (1 + Math.random())))
    }
  }

  /**
   * Removes the records of this lease that nodes now gone wrote (and the shared key of earlier
   * releases), once this owner's own record covers each: a mark and a token at least theirs,
   * so no node's merge goes down when they disappear and no token can be issued twice. The own
   * record reaches every alive peer before any removal, so no peer holds a removal without it.
   * True when it removed one.
   */
  const fold = async (): Promise<boolean> => {
    const covered = (r: LeaseRecord) => r.reserved <= state.reserved && r.token <= state.token
    const lives = (id: string) => holderLives(node, id, null)
    if (!records.orphans(name, lives).some((s) => covered(s.record))) return false
    await save()
    const peers = alivePeers(node)
    if (peers > 0) await node.flush({ replicas: peers, timeoutMs: REPLICATE_TIMEOUT_MS })
    let removed = false
    // Read each record again right before its removal: one written meanwhile (its node came
    // back, possibly while an earlier removal was awaited) must be covered too.
    for (const { key } of records.orphans(name, lives)) {
      const current = records.orphans(name, lives).find((s) => s.key === key)
      if (!current || !covered(current.record)) continue
      await node.pop(key)
      removed = true
    }
    return removed
  }

  /** True while membership makes this node the lease's owner. */
  const owns = (): boolean => node.ownerOf(LEASE_CAPABILITY, name)?.id === node.id

  /**
   * Grants the lease to `request`'s holder with the next token. When the token needs a new
   * reservation, the grant itself (holder and token) goes into the store and to every alive
   * peer before it counts, and then this node must still own the lease. That closes the race of
   * nodes that declare `mesh.lease` at the same moment (each first sees only itself as a
   * candidate): a peer whose declaration came before its answer to the flush is known here by
   * now (one link carries both, in order), so a node that no longer owns the lease answers
   * `moved`; a peer that declared after answering already holds this grant, and reads it from
   * the store before it grants anything. Returns false for `moved`.
   */
  const grant = async (
    request: Extract<LeaseRequest, { op: 'acquire' }>,
    expiresAt: number | null,
  ): Promise<boolean> => {
    const before = { ...state }
    const token = issued + 1
    Object.assign(state, { token, holder: request.holder, node: request.node, started: request.started, expiresAt })
    issued = token
    if (token > confirmed) {
      let first: number | undefined
      try {
        first = await reserve(token - 1)
      } catch (error) {
        // Not granted: the token stays used, the lease stays with whoever had it.
        Object.assign(state, {
          holder: before.holder,
          node: before.node,
          started: before.started,
          expiresAt: before.expiresAt,
        })
        await save().catch(() => undefined)
        throw error
      }
      // Moved: the grant stays in the store, for the owner to honour when the holder asks it.
      if (first === undefined) return false
      issued = first
      confirmed = state.reserved
      if (!owns()) return false
    }
    await save()
    return true
  }

  return {
    async call(payload) {
      const request = parseRequest(payload)
      // Right after a pause this node sees its peers dead, owns every lease, and has none of
      // the grants they made meanwhile: hear from them again (or let the failure bound pass)
      // first. The lease may have moved back to one of them by then.
      if ((await pauses.settled()) && !owns()) return { ...answer(false), moved: true }
      // A side of a partition without a majority of the voting members grants nothing and
      // renews nothing: the other side may be granting, and only one side can hold a majority.
      const lacking = request.op === 'acquire' || request.op === 'renew' ? quorum.lacking() : undefined
      if (lacking !== undefined) return { ...answer(false), unavailable: lacking }
      // After a partition or a pause this node's view may be stale: sync with the peers before
      // granting or renewing from it, so their grants (in their records) are read first.
      const epoch = records.epoch()
      if (epoch !== syncedEpoch) {
        syncedEpoch = epoch
        synced = node.syncUp({ timeoutMs: SYNC_TIMEOUT_MS }).catch(() => undefined)
      }
      await synced
      const now = Date.now()
      // Another owner (during a move, a partition or a pause) may have issued tokens this one
      // has not: the merged records carry the highest mark, and the grant with the highest token.
      const seen = records.read(name)?.record
      if (seen && seen.reserved > state.reserved) {
        issued = confirmed = Math.max(issued, seen.reserved)
        state.reserved = seen.reserved
      }
      if (seen && seen.token > state.token) {
        // The grant of another owner (before a move, or one that answered `moved`): its token is
        // that holder's, so this owner never issues it again.
        Object.assign(state, { ...seen, reserved: state.reserved })
        issued = Math.max(issued, seen.token)
      }
      // A node that answered `moved` may have left its grant of the same token in the store: this
      // owner's own state is the lease, and the store says so again.
      else if (seen && seen.token === state.token && seen.holder !== state.holder) await save()
      expire(now)
      const expiry = (ttlMs: number | null) => (ttlMs === null ? null : now + ttlMs)
      switch (request.op) {
        case 'holder':
          return answer(state.holder !== null)
        case 'fold':
          return answer(await fold())
        case 'acquire': {
          if (state.holder === request.holder) {
            state.expiresAt = expiry(request.ttlMs)
            state.started = request.started
            await save()
            return answer(true)
          }
          if (state.holder !== null) return answer(false)
          return (await grant(request, expiry(request.ttlMs))) ? answer(true) : { ...answer(false), moved: true }
        }
        case 'renew': {
          if (state.holder !== request.holder || state.token !== request.token) return answer(false)
          state.expiresAt = expiry(request.ttlMs)
          await save()
          return answer(true)
        }
        case 'release': {
          if (state.holder !== request.holder || state.token !== request.token) return answer(false)
          Object.assign(state, { holder: null, node: null, started: null, expiresAt: null })
          await save()
          return answer(true)
        }
      }
    },
  }
}
