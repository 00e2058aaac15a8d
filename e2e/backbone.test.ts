/**
 * `mesh serve --backbone redis://…` processes sharing rooms and membership through a real
 * redis-server (started by the test on a free port), with no peer links between them.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { waitUntil } from '@mesh/core/testing'
import { startRedis, type RedisServer } from '@mesh/redis/testing'
import { E2E_WAIT_MS, put, startNode, stopAll, waitForValue, type MeshProcess } from './harness.js'

let redis: RedisServer

beforeAll(async () => {
  redis = await startRedis()
})
afterEach(() => stopAll())
afterAll(() => redis.stop())

/** A node on database `db` of the test's Redis: each test its own mesh. */
const onBackbone = (name: string, db: number): Promise<MeshProcess> =>
  startNode({ name, args: ['--backbone', `${redis.url}/${db}`, '--heartbeat-ms', '200', '--dead-after-ms', '2000'] })

describe('mesh serve --backbone', () => {
  it('replicates writes and lists members through redis, with no peer link', async () => {
    const nodes = await Promise.all(['a', 'b', 'c'].map((name) => onBackbone(name, 1)))
    const [a, b, c] = nodes as [MeshProcess, MeshProcess, MeshProcess]
    await put(a, 'color', 'red')
    await Promise.all([waitForValue(b, 'color', 'red'), waitForValue(c, 'color', 'red')])
    await waitUntil(
      'every node lists the three members alive',
      async () => {
        const lists = await Promise.all(nodes.map((n) => n.api<Array<{ state: string; role: string }>>('/members')))
        return lists.every((l) => l.body.filter((m) => m.role === 'node' && m.state === 'alive').length === 3)
      },
      { timeoutMs: E2E_WAIT_MS },
    )
    const status = await a.api<{ peers: unknown[] }>('/status')
    expect(status.body.peers).toHaveLength(0)
  })

  it('loses no acknowledged write when redis restarts mid-traffic', async () => {
    const [a, b] = (await Promise.all(['a', 'b'].map((name) => onBackbone(name, 2)))) as [MeshProcess, MeshProcess]
    const written: string[] = []
    for (let i = 0; i < 30; i++) {
      if (i === 10) await redis.stop({ kill: true })
      if (i === 20) await redis.start()
      const writer = i % 2 === 0 ? a : b
      const res = await writer.api(`/kv/k${i}`, {
        method: 'PUT',
        body: JSON.stringify(i),
        headers: { 'content-type': 'application/json' },
      })
      // Acknowledged: the node applied it, Redis up or not.
      expect(res.status).toBe(200)
      written.push(`k${i}`)
    }
    for (const node of [a, b]) {
      await waitUntil(
        `${node.name} holds all 30 acknowledged writes`,
        async () => {
          const kv = await node.api<Record<string, number>>('/kv')
          return written.every((key, i) => kv.body[key] === i)
        },
        { timeoutMs: E2E_WAIT_MS * 2 },
      )
    }
  })
})
