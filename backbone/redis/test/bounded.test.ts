import { describe, expect, it } from 'vitest'
import { waitUntil } from '@mesh/core/testing'
import { withTestRedis, holds, ready } from './nodes.js'

const { nodes, redis } = withTestRedis()

describe('bounded room logs', () => {
  it('keeps a room log bounded in bytes under constant writes, trimming only what a stored snapshot covers', async () => {
    nodes.fresh()
    const snapshotEvery = 50
    const writer = nodes.start(redis.url, { name: 'writer' }, { snapshotEvery })
    const reader = nodes.start(redis.url, { name: 'reader' }, { snapshotEvery })
    await Promise.all([ready(writer), ready(reader)])
    const client = redis.client()
    const log = `${nodes.prefix}:{default}:log`
    const samples: Array<{ writes: number; entries: number; bytes: number }> = []
    const writes = 3000
    for (let i = 1; i <= writes; i++) {
      // Constant traffic on few keys: the log would grow without bound, the state does not.
      await writer.node.put(`k${i % 20}`, { i, pad: 'x'.repeat(100) })
      if (i % 10 === 0) await writer.backbone.settled()
      if (i % 250 === 0) {
        samples.push({
          writes: i,
          entries: await client.xlen(log),
          bytes: Number(await client.call('MEMORY', 'USAGE', log)),
        })
      }
    }
    await holds(reader, `k${writes % 20}`, { i: writes, pad: 'x'.repeat(100) })
    const snapshot = await client.hget(`${nodes.prefix}:{default}:snap`, 'id')
    expect(snapshot).toMatch(/^\d+-\d+$/)
    expect(writer.backbone.stats.snapshots + reader.backbone.stats.snapshots).toBeGreaterThan(10)
    const late = samples.slice(samples.length / 2)
    const early = samples.slice(0, samples.length / 2)
    const maxEarly = Math.max(...early.map((s) => s.bytes))
    // Bounded: the log's length and bytes do not grow with the writes. The second half of the
    // run (1500 more writes) needs no more than the first did, give or take what a slow snapshot
    // on a busy machine leaves untrimmed for a moment and what Redis keeps of a trimmed listpack.
    for (const sample of late) {
      expect(sample.entries, JSON.stringify(samples)).toBeLessThan(10 * snapshotEvery)
      expect(sample.bytes, JSON.stringify(samples)).toBeLessThanOrEqual(3 * maxEarly)
    }
    // Nothing a snapshot did not cover was lost: a node that starts now holds the last values.
    const late1 = nodes.start(redis.url, { name: 'late' })
    for (let k = 0; k < 20; k++) {
      const i = writes - ((writes - k) % 20)
      await holds(late1, `k${k}`, { i, pad: 'x'.repeat(100) })
    }
    await waitUntil('the late node read the room once', () => late1.backbone.stats.resyncs > 0)
  })
})
