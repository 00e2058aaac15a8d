/**
 * `mesh serve --backbone redis://…` processes sharing rooms and membership through a real
 * redis-server (started by the test on a free port), with no peer links between them.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { WebsocketProvider } from 'y-websocket'
import * as Y from 'yjs'
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

  it("drops a SIGKILLed node's tabs from the others' presence once redis finds it dead", async () => {
    const [a, b] = (await Promise.all(['a', 'b'].map((name) => onBackbone(name, 3)))) as [MeshProcess, MeshProcess]
    const tab = (node: MeshProcess) => {
      const doc = new Y.Doc()
      const provider = new WebsocketProvider(`ws://127.0.0.1:${node.port}/mesh`, 'default', doc, {
        WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
        disableBc: true,
      })
      return { id: doc.clientID, provider, awareness: provider.awareness }
    }
    const ada = tab(a)
    const bob = tab(b)
    const hasAda = () => bob.awareness.getStates().has(ada.id)
    const onChange = (wake: () => void) => {
      bob.awareness.on('change', wake)
      return () => bob.awareness.off('change', wake)
    }
    try {
      ada.awareness.setLocalStateField('user', { name: 'ada' })
      await waitUntil("bob sees ada's tab through redis", hasAda, { subscribe: onChange, timeoutMs: E2E_WAIT_MS })
      const killed = Date.now()
      await a.stop('SIGKILL')
      // Under the 15 s renewal and 30 s awareness timeout: the drop comes from the dead heartbeat.
      await waitUntil("bob's tab drops ada's", () => !hasAda(), { subscribe: onChange, timeoutMs: E2E_WAIT_MS })
      console.info(`presence of a SIGKILLed node dropped after ${Date.now() - killed} ms (--dead-after-ms 2000)`)
      expect(b.stderr).not.toMatch(/ERROR/)
    } finally {
      ada.provider.destroy()
      bob.provider.destroy()
    }
  })
})
