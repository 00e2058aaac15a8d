/**
 * The bench worker's recipe operations: a lease acquired and released in a loop, and a rate
 * limiter's local take. See bench/README.md.
 */
import type { MeshNode } from '@mesh/core'
import { nodeEvents, waitUntil } from '@mesh/core/testing'
import { enableLeases, LEASE_CAPABILITY, lease, rateLimiter } from '@mesh/recipes'
import { now } from './clock.js'
import type { RecipeOps } from './worker-ops.js'

type Handlers = {
  [K in keyof RecipeOps]: (args: RecipeOps[K]['args']) => Promise<RecipeOps[K]['result']> | RecipeOps[K]['result']
}

/** Operations on `node`. */
export const recipeOps = (node: MeshNode): Handlers => ({
  'enable-leases': async ({ members }) => {
    enableLeases(node)
    await waitUntil(
      `${members} members with ${LEASE_CAPABILITY}`,
      () =>
        node
          .members()
          .filter((m) => m.role === 'node' && m.state === 'alive' && m.capabilities.includes(LEASE_CAPABILITY))
          .length >= members,
      { timeoutMs: 30_000, subscribe: nodeEvents(node) },
    )
    return null
  },
  'lease-loop': async ({ count }) => {
    let name = 'bench-0'
    for (let i = 1; node.ownerOf(LEASE_CAPABILITY, name)?.id === node.id; i++) name = `bench-${i}`
    const l = lease(node, name, { ttlMs: 10_000 })
    const latencies: number[] = []
    const startAt = now()
    for (let i = 0; i < count; i++) {
      const t = now()
      if (!(await l.acquire())) throw new Error(`lease ${name} was not granted`)
      latencies.push(now() - t)
      await l.release()
    }
    return { startAt, endAt: now(), latencies }
  },
  'take-loop': ({ count }) => {
    const limiter = rateLimiter(node, { name: 'bench', limit: Number.MAX_SAFE_INTEGER, windowMs: 3_600_000 })
    const startAt = now()
    for (let i = 0; i < count; i++) limiter.take('customer')
    const endAt = now()
    limiter.close()
    return { startAt, endAt }
  },
})
