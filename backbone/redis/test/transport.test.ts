import { describe, expect, it } from 'vitest'
import { waitUntil } from '@mesh/core/testing'
import { redisBackbone } from '@mesh/redis'
import { withTestRedis, holds, ready } from './nodes.js'

const { nodes, redis } = withTestRedis()

describe('the redis backbone carries rooms between nodes', () => {
  it('replicates a put to every node through one log entry', async () => {
    nodes.fresh()
    const [a, b, c] = [
      nodes.start(redis.url, { name: 'a' }),
      nodes.start(redis.url, { name: 'b' }),
      nodes.start(redis.url, { name: 'c' }),
    ]
    await Promise.all([a, b, c].map((n) => ready(n)))
    await a.node.put('color', 'red')
    await Promise.all([holds(b, 'color', 'red'), holds(c, 'color', 'red')])
    await b.node.put('size', 3)
    await Promise.all([holds(a, 'size', 3), holds(c, 'size', 3)])
    const entries = await redis.client().xrange(`${nodes.prefix}:{default}:log`, '-', '+')
    const writers = entries.map(([, fields]) => fields[fields.indexOf('n') + 1])
    // Each write once, by the node that made it: no node republished what it read.
    expect(writers.filter((w) => w === a.node.id)).toHaveLength(1)
    expect(writers.filter((w) => w === b.node.id)).toHaveLength(1)
    expect(writers.filter((w) => w === c.node.id)).toHaveLength(0)
    expect(b.node.history({ key: 'color' })[0]?.via).toBe('backbone')
  })

  it('hosts a room created on one node on every node, with its content', async () => {
    nodes.fresh()
    const [a, b] = [nodes.start(redis.url, { name: 'a' }), nodes.start(redis.url, { name: 'b' })]
    await Promise.all([a, b].map((n) => ready(n)))
    a.node.room('board').doc.getText('notes').insert(0, 'hello')
    await waitUntil('b hosts room board with its text', () =>
      b.node.rooms().includes('board') ? b.node.room('board').doc.getText('notes').toJSON() === 'hello' : false,
    )
  })

  it('brings a node that starts late up to date from the snapshot and the log tail', async () => {
    nodes.fresh()
    const a = nodes.start(redis.url, { name: 'a' }, { snapshotEvery: 20 })
    await ready(a)
    for (let i = 0; i < 100; i++) {
      await a.node.put(`k${i}`, i)
      await a.backbone.settled()
    }
    const client = redis.client()
    await waitUntil(
      'a snapshot was stored and the log trimmed',
      async () => (await client.xlen(`${nodes.prefix}:{default}:log`)) < 50,
    )
    const late = nodes.start(redis.url, { name: 'late' })
    await holds(late, 'k99', 99)
    expect(late.node.data.keys()).toHaveLength(100)
  })

  it('gives a node restarted with the same id its own earlier writes back', async () => {
    nodes.fresh()
    const first = nodes.start(redis.url, { id: 'fixed-id', name: 'first' })
    await ready(first)
    await first.node.put('mine', 'kept')
    await first.backbone.settled()
    await first.node.close()
    const again = nodes.start(redis.url, { id: 'fixed-id', name: 'again' })
    await holds(again, 'mine', 'kept')
  })

  it('refuses a URL that is not redis:// with a message that says so', () => {
    expect(() => redisBackbone('http://localhost:6379')).toThrow(/redis:\/\//)
  })
})
