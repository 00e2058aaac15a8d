/** In-process nodes on one test Redis, closed together after each test. */
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { attachToServer, MeshNode, type MeshNodeOptions } from '@mesh/core'
import { waitUntil } from '@mesh/core/testing'
import { redisBackbone, type RedisBackbone, type RedisBackboneOptions } from '@mesh/redis'
import { startRedis, type RedisServer } from '@mesh/redis/testing'
import { afterAll, afterEach, beforeAll } from 'vitest'

/** A node and its backbone. */
export interface BackboneNode {
  node: MeshNode
  backbone: RedisBackbone
}

/** Makes nodes on `url` with a per-test key prefix, and closes every one of them in `closeAll`. */
export const backboneNodes = () => {
  const nodes: MeshNode[] = []
  const servers: http.Server[] = []
  let prefix = `t${Date.now().toString(36)}`
  return {
    /** A new key prefix: the next nodes form a new mesh on the same Redis. */
    fresh(): string {
      prefix = `t${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`
      return prefix
    },
    get prefix() {
      return prefix
    },
    start(
      url: string,
      options: MeshNodeOptions = {},
      backboneOptions: Partial<RedisBackboneOptions> = {},
    ): BackboneNode {
      const backbone = redisBackbone({ url, prefix, resyncJitterMs: 20, ...backboneOptions })
      const node = new MeshNode({ membership: { heartbeatMs: 100, deadAfterMs: 1000 }, ...options, backbone })
      nodes.push(node)
      return { node, backbone }
    },
    /** A node without the backbone (peer links only), closed with the others. */
    plain(options: MeshNodeOptions = {}): MeshNode {
      const node = new MeshNode({ membership: { heartbeatMs: 100, deadAfterMs: 1000 }, ...options })
      nodes.push(node)
      return node
    },
    /** Serves a node's endpoint (peers and light peers) on a real socket (port 0); returns its URL. */
    async serve(node: MeshNode): Promise<string> {
      const server = http.createServer((_req, res) => res.writeHead(404).end())
      attachToServer(server, { node })
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
      servers.push(server)
      node.url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/mesh`
      return node.url
    },
    async closeAll(): Promise<void> {
      await Promise.all(nodes.splice(0).map((node) => node.close()))
      for (const server of servers.splice(0)) {
        server.closeAllConnections()
        await new Promise((resolve) => server.close(resolve))
      }
    },
  }
}

/** Waits until the backbone is connected and has read every room once. */
export const ready = (b: BackboneNode, timeoutMs = 10_000): Promise<true> =>
  waitUntil(`${b.node.name} synced with redis`, () => b.backbone.connected && b.backbone.stats.resyncs > 0, {
    timeoutMs,
  })

/** Waits until `node` holds `value` at `key` in room `default`. */
export const holds = (b: BackboneNode, key: string, value: unknown, timeoutMs = 10_000): Promise<true> =>
  waitUntil(
    `${b.node.name} holds ${key}=${JSON.stringify(value)}`,
    () => JSON.stringify(b.node.get(key)) === JSON.stringify(value),
    { timeoutMs, subscribe: (wake) => b.node.on('change', wake) },
  )

/**
 * One test redis-server for the file (started before its tests, stopped after them) and the
 * nodes on it, closed after each test. `redis` stands for the server once it runs.
 */
export const withTestRedis = (): { nodes: ReturnType<typeof backboneNodes>; redis: RedisServer } => {
  const nodes = backboneNodes()
  let server: RedisServer | undefined
  const current = (): RedisServer => {
    if (!server) throw new Error('the test redis-server has not started')
    return server
  }
  beforeAll(async () => {
    server = await startRedis()
  })
  afterEach(() => nodes.closeAll())
  afterAll(() => server?.stop())
  const redis: RedisServer = {
    get url() {
      return current().url
    },
    get port() {
      return current().port
    },
    get running() {
      return current().running
    },
    client: () => current().client(),
    stop: (options) => current().stop(options),
    start: () => current().start(),
  }
  return { nodes, redis }
}

/**
 * A node on the backbone that can be made to die as Redis sees it: it connects as its own ACL
 * user, and `kill()` disables that user and drops its connections, so it can never renew its
 * heartbeat (the process keeps running, as a partitioned one would).
 */
export const mortal = async (
  redis: RedisServer,
  nodes: ReturnType<typeof backboneNodes>,
  name: string,
  options: { heartbeatMs?: number; deadAfterMs?: number } & MeshNodeOptions = {},
): Promise<BackboneNode & { kill(): Promise<void>; revive(): Promise<void> }> => {
  const user = `u${Math.random().toString(36).slice(2, 10)}`
  const revive = async (): Promise<void> => {
    await redis.client().call('ACL', 'SETUSER', user, 'on', '>secret-pass', '~*', '&*', '+@all')
  }
  await revive()
  const url = redis.url.replace('redis://', `redis://${user}:secret-pass@`)
  const { heartbeatMs, deadAfterMs, ...rest } = options
  const started = nodes.start(url, {
    ...rest,
    name,
    membership: { heartbeatMs: heartbeatMs ?? 100, deadAfterMs: deadAfterMs ?? 1000 },
  })
  return {
    ...started,
    async kill() {
      const admin = redis.client()
      await admin.call('ACL', 'SETUSER', user, 'off')
      await admin.call('CLIENT', 'KILL', 'USER', user)
    },
    /** Lets it in again (also after Redis restarted empty and forgot the user). */
    revive,
  }
}
