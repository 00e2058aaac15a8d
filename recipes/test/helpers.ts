import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { attachToServer, MeshNode, type MeshNodeOptions } from '@mesh/core'
import { waitUntil } from '@mesh/core/testing'
import { afterEach } from 'vitest'

/** Fast failure detection, so a dead node is noticed within a few hundred ms. */
export const FAST = { membership: { heartbeatMs: 50, deadAfterMs: 600 } }

/** A node on a real HTTP server on 127.0.0.1, port 0. */
export interface TestNode {
  node: MeshNode
  close(): Promise<void>
}

const started: TestNode[] = []
afterEach(async () => {
  for (const t of started.splice(0)) await t.close()
})

/** Serves a node on port 0; it is closed after the test. */
export const startNode = async (options: MeshNodeOptions = {}): Promise<TestNode> => {
  const node = new MeshNode({ ...FAST, ...options })
  const server = http.createServer((_req, res) => res.writeHead(404).end())
  const detach = attachToServer(server, { node })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  node.url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/mesh`
  let closing: Promise<void> | undefined
  const t: TestNode = {
    node,
    close: () =>
      (closing ??= (async () => {
        await node.close()
        detach()
        server.closeAllConnections()
        await new Promise((resolve) => server.close(resolve))
      })()),
  }
  started.push(t)
  return t
}

/** Starts `n` nodes joined to the first, and waits until each sees all of them alive. */
export const startCluster = async (n: number, options: MeshNodeOptions = {}): Promise<MeshNode[]> => {
  const nodes: MeshNode[] = []
  for (let i = 0; i < n; i++) {
    const { node } = await startNode({ name: `n${i}`, ...options })
    if (i > 0) await node.join([nodes[0]!.url])
    nodes.push(node)
  }
  await allSee(nodes, (m) => m.length === n)
  return nodes
}

/** Waits until every node sees the alive node members for which `check` holds. */
export const allSee = async (
  nodes: MeshNode[],
  check: (alive: Array<{ id: string; capabilities: string[] }>) => boolean,
  what = 'every node sees the expected alive members',
): Promise<void> => {
  for (const node of nodes) {
    await waitUntil(
      `${node.name}: ${what}`,
      () => check(node.members().filter((m) => m.role === 'node' && m.state === 'alive')),
      { timeoutMs: 10_000, subscribe: (wake) => node.on('member:join', wake) },
    )
  }
}

/** Waits until every node sees every node of `nodes` alive with `capability`. */
export const allDeclare = (nodes: MeshNode[], capability: string): Promise<void> =>
  allSee(
    nodes,
    (alive) => nodes.every((n) => alive.some((m) => m.id === n.id && m.capabilities.includes(capability))),
    `all declare ${capability}`,
  )
