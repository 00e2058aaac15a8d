/**
 * The owner side of a lease: the actor of capability {@link LEASE_CAPABILITY} for one lease
 * name runs on the member that owns the name's shard, and is the only place that grants the
 * lease and issues its fencing tokens. Its state lives in memory and in the store key
 * `mesh.lease/<name>`, so that the next owner (after a move or a crash) continues from it;
 * tokens come from blocks reserved on a peer before any of them is issued ({@link TOKEN_BLOCK}).
 */
import { MeshError, type Actor, type JsonValue, type MeshNode } from '@mesh/core'
import { alivePeers, holderLives } from './capability.js'

/** The capability whose owners keep the leases. Every node that uses leases declares it. */
export const LEASE_CAPABILITY = 'mesh.lease'

/**
 * How many tokens an owner reserves at a time. Before it issues a token it has the reservation
 * (the high-water mark) on a peer, so a successor that starts from the stored mark never issues
 * a token issued before; one replication wait buys this many grants. A peer answers replication
 * checks about once a second per room, so the first grant of a fresh owner may wait that long.
 */
export const TOKEN_BLOCK = 1000

/** Longest a fresh lease owner waits for its links to sync before its first answer. */
const SYNC_TIMEOUT_MS = 5_000

/**
 * How long a grant waits for every alive peer to hold a new token reservation, then for at least
 * one: a peer acknowledges about once a second, and both waits together stay within a caller's
 * default 5 s deadline.
 */
const REPLICATE_TIMEOUT_MS = 3000
const REPLICATE_ONE_TIMEOUT_MS = 1500

/** The store key of a lease's state. */
export const leaseKey = (name: string): string => `mesh.lease/${name}`

/** A lease's state, as the owner keeps it and stores it. */
export interface LeaseRecord {
  /** The last fencing token issued (the current holder's, or a later one). */
  token: number
  /** The high-water mark: no owner issues a token above it before it is stored on a peer. */
  reserved: number
  /** The holder's id, or null when the lease is free. */
  holder: string | null
  /** The node the holder runs on: the lease is free once membership says it died or left, or forgot it. */
  node: string | null
  /**
   * When that node started (its `startedAt`), as it said when it asked: a node that comes back
   * under the same id is another life, whose previous holds are void.
   */
  started: number | null
  /** When the lease expires, in ms since the epoch by the owner's clock; null: never (until released). */
  expiresAt: number | null
}

/** What a caller asks the owner. */
type LeaseRequest =
  | { op: 'acquire'; holder: string; node: string; started: number | null; ttlMs: number | null }
  | { op: 'renew'; holder: string; token: number; ttlMs: number | null }
  | { op: 'release'; holder: string; token: number }
  | { op: 'holder' }

/** The owner's answer: whether the operation succeeded, and the lease as it is now. */
export interface LeaseAnswer {
  ok: boolean
  token: number
  holder: string | null
  node: string | null
  expiresAt: number | null
  [key: string]: JsonValue
}

const isText = (x: unknown): x is string => typeof x === 'string' && x.length > 0 && x.length <= 1024
const isToken = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) >= 0
const isTime = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x)
const isTtl = (x: unknown): x is number | null =>
  x === null || (Number.isInteger(x) && (x as number) > 0 && (x as number) <= 2 ** 31 - 1)

/** Checks a request from the wire: a peer may send anything. */
const parseRequest = (raw: JsonValue): LeaseRequest => {
  const r = (typeof raw === 'object' && raw !== null && !Array.isArray(raw) ? raw : {}) as Record<string, unknown>
  if (r.op === 'holder') return { op: 'holder' }
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

/** The record stored under a lease's key, if it is well formed. */
const readRecord = (node: MeshNode, name: string): LeaseRecord | undefined => {
  const raw = node.get(leaseKey(name))
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return undefined
  const r = raw as Record<string, unknown>
  if (!isToken(r.token) || !isToken(r.reserved)) return undefined
  const text = (x: unknown) => (isText(x) ? x : null)
  return {
    token: r.token,
    reserved: Math.max(r.token, r.reserved),
    holder: text(r.holder),
    node: text(r.node),
    started: isTime(r.started) ? r.started : null,
    expiresAt: isTime(r.expiresAt) ? r.expiresAt : null,
  }
}

/** Starts the owner-side actor of lease `name` on `node`. */
export const leaseActor = (node: MeshNode, name: string): Actor => {
  const stored = readRecord(node, name)
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

  /** Frees the lease when its holder expired or its node's life is over. */
  const expire = (now: number): void => {
    if (state.holder === null) return
    const expired = state.expiresAt !== null && state.expiresAt <= now
    if (expired || (state.node !== null && !holderLives(node, state.node, state.started))) {
      Object.assign(state, { holder: null, node: null, started: null, expiresAt: null })
    }
  }

  const save = () => node.put(leaseKey(name), { ...state })

  /**
   * Waits until the alive peers hold the state (so that whichever becomes the next owner has
   * it), or at least one does when some do not answer in time; throws when none does.
   */
  const replicate = async (): Promise<void> => {
    const peers = alivePeers(node)
    if (peers === 0) return
    try {
      await node.flush({ replicas: peers, timeoutMs: REPLICATE_TIMEOUT_MS })
    } catch {
      await node.flush({ replicas: 1, timeoutMs: REPLICATE_ONE_TIMEOUT_MS })
    }
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
      state.reserved = Math.max(state.reserved, token - 1) + TOKEN_BLOCK
      try {
        await save()
        await replicate()
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
      confirmed = state.reserved
      // Moved: the grant stays in the store, for the owner to honour when the holder asks it.
      if (!owns()) return false
    }
    await save()
    return true
  }

  return {
    async call(payload) {
      const request = parseRequest(payload)
      synced ??= node.syncUp({ timeoutMs: SYNC_TIMEOUT_MS }).catch(() => undefined)
      await synced
      const now = Date.now()
      // Another owner (during a move or a partition) may have issued tokens this one has not.
      const seen = readRecord(node, name)
      if (seen && seen.reserved > state.reserved) {
        issued = confirmed = Math.max(issued, seen.reserved)
        state.reserved = seen.reserved
      }
      if (seen && seen.token > state.token) Object.assign(state, { ...seen, reserved: state.reserved })
      // A node that answered `moved` may have left its grant of the same token in the store: this
      // owner's own state is the lease, and the store says so again.
      else if (seen && seen.token === state.token && seen.holder !== state.holder) await save()
      expire(now)
      const expiry = (ttlMs: number | null) => (ttlMs === null ? null : now + ttlMs)
      switch (request.op) {
        case 'holder':
          return answer(state.holder !== null)
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
