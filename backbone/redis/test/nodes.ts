/** In-process nodes on one test Redis, closed together after each test. */
import { MeshNode, type MeshNodeOptions } from '@mesh/core'
import { waitUntil } from '@mesh/core/testing'
import { redisBackbone, type RedisBackbone, type RedisBackboneOptions } from '@mesh/redis'

/** A node and its backbone. */
export interface BackboneNode {
  node: MeshNode
  backbone: RedisBackbone
}

/** Makes nodes on `url` with a per-test key prefix, and closes every one of them in `closeAll`. */
export const backboneNodes = () => {
  const nodes: MeshNode[] = []
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
    async closeAll(): Promise<void> {
      await Promise.all(nodes.splice(0).map((node) => node.close()))
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
