import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { Logger } from '@mesh/core'
import { waitUntil } from '@mesh/core/testing'
import { startRedis, type RedisServer } from '@mesh/redis/testing'
import { backboneNodes, holds, ready } from './nodes.js'

let redis: RedisServer
const nodes = backboneNodes()

beforeAll(async () => {
  redis = await startRedis()
})
afterEach(async () => {
  await nodes.closeAll()
  if (!redis.running) await redis.start()
})
afterAll(() => redis.stop())

const recordingLogger = () => {
  const entries: Array<{ level: string; message: string; fields?: Record<string, unknown> }> = []
  const at = (level: string) => (message: string, fields?: Record<string, unknown>) => {
    entries.push({ level, message, fields })
  }
  const logger: Logger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }
  return { logger, entries }
}

describe('the redis backbone under faults', () => {
  it('keeps serving local reads and writes while redis is down, and converges when it returns', async () => {
    nodes.fresh()
    const [a, b] = [nodes.start(redis.url, { name: 'a' }), nodes.start(redis.url, { name: 'b' })]
    await Promise.all([ready(a), ready(b)])
    await a.node.put('before', 1)
    await holds(b, 'before', 1)
    await redis.stop()
    await waitUntil('both backbones saw redis go', () => !a.backbone.connected && !b.backbone.connected)
    await a.node.put('during-a', 'A')
    await b.node.put('during-b', 'B')
    await b.node.pop('before')
    // Local reads see local writes at once.
    expect(a.node.get('during-a')).toBe('A')
    expect(b.node.get('before')).toBeUndefined()
    await redis.start()
    await Promise.all([holds(a, 'during-b', 'B'), holds(b, 'during-a', 'A'), holds(a, 'before', undefined)])
    expect(a.backbone.stats.connects).toBeGreaterThanOrEqual(2)
  })

  it('reconnects after a restart mid-traffic and loses no acknowledged write', async () => {
    nodes.fresh()
    const all = [
      nodes.start(redis.url, { name: 'a' }),
      nodes.start(redis.url, { name: 'b' }),
      nodes.start(redis.url, { name: 'c' }),
    ]
    await Promise.all(all.map((n) => ready(n)))
    const acknowledged: Array<[string, number]> = []
    for (let i = 0; i < 300; i++) {
      if (i === 100) await redis.stop({ kill: true })
      if (i === 200) await redis.start()
      const writer = all[i % 3]
      if (!writer) continue
      await writer.node.put(`k${i}`, i)
      acknowledged.push([`k${i}`, i])
      if (i % 25 === 0) await writer.backbone.settled()
    }
    for (const n of all) {
      await waitUntil(
        `${n.node.name} holds all ${acknowledged.length} acknowledged writes`,
        () => acknowledged.every(([key, value]) => n.node.get(key) === value),
        { timeoutMs: 15_000, subscribe: (wake) => n.node.on('change', wake) },
      )
    }
  })

  it('skips, logs and counts a poison log entry, and keeps replicating', async () => {
    nodes.fresh()
    const { logger, entries } = recordingLogger()
    const victim = nodes.start(redis.url, { name: 'victim', logger })
    const writer = nodes.start(redis.url, { name: 'writer' })
    await Promise.all([ready(victim), ready(writer)])
    const client = redis.client()
    const log = `${nodes.prefix}:{default}:log`
    await client.xadd(log, '*', 'junk', 'field')
    await client.xadd(log, '*', 'n', 'evil', 'f', '1', 'u', Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2, 3]))
    await client.xadd(log, '*', 't', 'trim', 'upto', 'not-an-id')
    await writer.node.put('after', 'still works')
    await holds(victim, 'after', 'still works')
    expect(victim.backbone.stats.poison).toBe(3)
    expect(entries.filter((e) => e.message.includes('skipped a backbone log entry'))).toHaveLength(3)
    const internal = victim.node.metrics().find((m) => m.name === 'mesh_internal_errors_total')
    expect(internal?.values.find((v) => v.labels?.where === 'backbone-poison-entry')?.value).toBe(3)
    // A node that reads the room anew skips them again, and holds the good entries.
    const late = nodes.start(redis.url, { name: 'late' })
    await holds(late, 'after', 'still works')
    expect(late.backbone.stats.poison).toBe(3)
  })
})
