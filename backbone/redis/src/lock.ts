import type { Redis } from 'ioredis'

/** Deletes a lock only if it still holds this token: a holder that overran its lease frees nobody else's lock. */
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`

/**
 * Runs `work` while holding the Redis lock `key` (SET NX PX with a random token), and
 * returns its result; returns undefined without running it when another holder has the lock.
 */
export const withLock = async <T>(
  redis: Redis,
  key: string,
  leaseMs: number,
  work: () => Promise<T> | T,
): Promise<T | undefined> => {
  const token = globalThis.crypto.randomUUID()
  const taken = await redis.set(key, token, 'PX', leaseMs, 'NX')
  if (taken !== 'OK') return undefined
  try {
    return await work()
  } finally {
    await redis.eval(RELEASE, 1, key, token).catch(() => undefined)
  }
}
