import { describe, expect, it } from 'vitest'
import { waitUntil } from '@mesh/core/testing'
import { withTestRedis, holds, mortal, ready } from './nodes.js'

const { nodes, redis } = withTestRedis()

describe('the instance manager', () => {
  it('keeps heartbeats as keys with a TTL, and lists members from redis with no peer link', async () => {
    nodes.fresh()
    const [a, b] = [nodes.start(redis.url, { name: 'a' }), nodes.start(redis.url, { name: 'b' })]
    await Promise.all([ready(a), ready(b)])
    const client = redis.client()
    const ttl = await client.pttl(`${nodes.prefix}:{m}:hb:${a.node.id}`)
    expect(ttl).toBeGreaterThan(0)
    expect(ttl).toBeLessThanOrEqual(1000)
    await waitUntil('a lists b alive', () => a.node.members().some((m) => m.id === b.node.id && m.state === 'alive'))
    expect(a.node.status().peers).toHaveLength(0)
  })

  it('lists a node that registers after its rounds began, and finds it dead once it stops renewing', async () => {
    nodes.fresh()
    const a = nodes.start(redis.url, { name: 'a' })
    await ready(a)
    const client = redis.client()
    await waitUntil('a is registered', async () => (await client.zscore(`${nodes.prefix}:{m}:all`, a.node.id)) !== null)
    // Its rounds read the records of the nodes registered at the round before; b is not among them yet.
    const late = await mortal(redis, nodes, 'late')
    await ready(late)
    await waitUntil('a lists the late node alive', () =>
      a.node.members().some((m) => m.id === late.node.id && m.state === 'alive'),
    )
    await late.kill()
    await waitUntil(
      'a sees the late node dead',
      () => a.node.members().find((m) => m.id === late.node.id)?.state === 'dead',
      { timeoutMs: 10_000 },
    )
  })

  it('cleans a dead node up exactly once while the live ones race to do it', async () => {
    nodes.fresh()
    const [a, b] = [nodes.start(redis.url, { name: 'a' }), nodes.start(redis.url, { name: 'b' })]
    const ghost = await mortal(redis, nodes, 'ghost')
    await Promise.all([ready(a), ready(b), ready(ghost)])
    await ghost.node.put('session:ghost', 'open', { ephemeral: true })
    await Promise.all([holds(a, 'session:ghost', 'open'), holds(b, 'session:ghost', 'open')])
    const client = redis.client()
    await client.set(`${nodes.prefix}:{m}:lights:${ghost.node.id}`, JSON.stringify([{ id: 'light:1' }]))
    await ghost.kill()
    await waitUntil(
      'the ghost is unregistered',
      async () => (await client.zscore(`${nodes.prefix}:{m}:all`, ghost.node.id)) === null,
      { timeoutMs: 10_000 },
    )
    // Both ran their rounds against the same dead node; more calls race the same lock.
    const late = await Promise.all([a.backbone.clean(ghost.node.id), b.backbone.clean(ghost.node.id)])
    expect(late).toEqual([false, false])
    expect(a.backbone.stats.cleanups + b.backbone.stats.cleanups).toBe(1)
    await Promise.all([holds(a, 'session:ghost', undefined), holds(b, 'session:ghost', undefined)])
    expect(await client.exists(`${nodes.prefix}:{m}:lights:${ghost.node.id}`)).toBe(0)
    await waitUntil(
      'a sees the ghost dead',
      () => a.node.members().find((m) => m.id === ghost.node.id)?.state === 'dead',
    )
  })

  it('lets exactly one of many concurrent cleaners clean a dead node', async () => {
    nodes.fresh()
    // Slow heartbeats: their rounds stay out of the race the test runs itself.
    const slow = { membership: { heartbeatMs: 60_000, deadAfterMs: 120_000 } }
    const [a, b] = [nodes.start(redis.url, { name: 'a', ...slow }), nodes.start(redis.url, { name: 'b', ...slow })]
    const ghost = await mortal(redis, nodes, 'ghost', { heartbeatMs: 60_000 })
    await Promise.all([ready(a), ready(b), ready(ghost)])
    await ghost.kill()
    const client = redis.client()
    await client.del(`${nodes.prefix}:{m}:hb:${ghost.node.id}`)
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? a : b).backbone.clean(ghost.node.id)),
    )
    expect(results.filter(Boolean)).toHaveLength(1)
    expect(a.backbone.stats.cleanups + b.backbone.stats.cleanups).toBe(1)
  })
})
