import { MeshError } from '../common/index.js'

/** Why a routed call failed (docs/routing.md). */
export type CallErrorCode = 'no_owner' | 'owner_lost' | 'timeout' | 'actor_failed'

/** The typed errors of a routed call, in the order of their wire statuses. */
export const CALL_ERROR_CODES: readonly CallErrorCode[] = ['no_owner', 'owner_lost', 'timeout', 'actor_failed']

/**
 * A routed call failed: `no_owner` (no live member declares the capability), `owner_lost`
 * (the owner went away, or the shard moved twice, before answering), `timeout` (no answer
 * before the deadline) or `actor_failed` (the actor threw or could not start; `message` is
 * the actor's error message, never a stack).
 *
 * @example
 * try { await node.call({ capability: 'counter', id: 'user-42', payload: { add: 1 } }) }
 * catch (e) { if (e instanceof MeshCallError && e.code === 'no_owner') ... }
 */
export class MeshCallError extends MeshError {
  declare readonly code: CallErrorCode
  /** The capability called. */
  readonly capability: string
  /** The id called. */
  readonly id: string

  constructor(code: CallErrorCode, message: string, call: { capability: string; id: string }) {
    super(code, message)
    this.name = 'MeshCallError'
    this.capability = call.capability
    this.id = call.id
  }
}
