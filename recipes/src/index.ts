/**
 * `@mesh/recipes`: coordination on Mesh, built only on `@mesh/core`'s public API. Each recipe
 * has a page in docs/recipes/ stating its guarantee and its bound.
 */
export { enableLeases, lease, type Lease, type LeaseGrant, type LeaseHolder, type LeaseOptions } from './lease.js'
export { LEASE_CAPABILITY, TOKEN_BLOCK } from './lease-actor.js'
export { claim, type ClaimOptions, type ClaimResult } from './claim.js'
export { registry, type Registered, type Registry, type ServiceInstance, type ServiceRegistration } from './registry.js'
export { flags, type FlagAudit, type FlagChange, type Flags, type FlagType } from './flags.js'
export { cache, type Cache, type CacheOptions } from './cache.js'
export { CACHE_CAPABILITY } from './cache-actor.js'
export {
  rateLimiter,
  type MessageBus,
  type RateLimiter,
  type RateLimiterOptions,
  type RateLimiterStats,
  type TakeResult,
} from './rate-limiter.js'
