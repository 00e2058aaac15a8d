import { createServer, connect, type Socket } from 'node:net'
import type { AddressInfo } from 'node:net'
import { describe, expect, it } from 'vitest'
import { withTestRedis, holds, ready } from './nodes.js'

const { nodes, redis } = withTestRedis()

/**
 * A TCP proxy to Redis that can hold what Redis sends back (TCP stalls, nothing is lost):
 * a node behind it falls behind the log while its commands still reach Redis.
 */
const holdingProxy = async (port: number) => {
  const upstreams = new Set<Socket>()
  let held = false
  const server = createServer((client) => {
    const upstream = connect(port, '127.0.0.1')
    upstreams.add(upstream)
    if (held) upstream.pause()
    client.pipe(upstream)
    upstream.pipe(client)
    const end = () => {
      upstreams.delete(upstream)
      client.destroy()
      upstream.destroy()
    }
    client.on('error', end).on('close', end)
    upstream.on('error', end).on('close', end)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `redis://127.0.0.1:${(server.address() as AddressInfo).port}`,
    hold() {
      held = true
      for (const upstream of upstreams) upstream.pause()
    },
    release() {
      held = false
      for (const upstream of upstreams) upstream.resume()
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const upstream of upstreams) upstream.destroy()
        server.close(() => resolve())
      }),
  }
}

describe('a reader that fell behind a trimmed log', () => {
  it('sees the entry numbers skip and reads the room anew', async () => {
    nodes.fresh()
    const proxy = await holdingProxy(redis.port)
    try {
      const writer = nodes.start(redis.url, { name: 'writer' }, { snapshotEvery: 10 })
      const reader = nodes.start(proxy.url, { name: 'reader' }, { snapshotEvery: 10_000 })
      await Promise.all([ready(writer), ready(reader)])
      proxy.hold()
      for (let i = 0; i < 100; i++) {
        await writer.node.put(`k${i}`, i)
        await writer.backbone.settled()
      }
      expect(writer.backbone.stats.snapshots).toBeGreaterThan(3)
      proxy.release()
      await holds(reader, 'k99', 99)
      for (let i = 0; i < 100; i++) expect(reader.node.get(`k${i}`)).toBe(i)
      expect(reader.backbone.stats.gaps).toBeGreaterThan(0)
    } finally {
      await nodes.closeAll()
      await proxy.close()
    }
  })
})
