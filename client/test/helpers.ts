import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { MeshClient, type MeshClientOptions } from '@mesh/client'
import { attachToServer, MeshNode, type MeshNodeOptions } from '@mesh/core'
import { nodeEvents } from '@mesh/core/testing'
import WebSocket from 'ws'

/** A node served over real WebSockets on 127.0.0.1 with core's attachToServer. */
export interface ServedNode {
  node: MeshNode
  port: number
  /** `ws://127.0.0.1:PORT/mesh` */
  url: string
  close(): Promise<void>
}

/** Starts a node; `port` reuses a port (a node coming back at the same address), default any free one. */
export const serveNode = async (
  options: MeshNodeOptions & { port?: number; readOnly?: boolean } = {},
): Promise<ServedNode> => {
  const { port: wanted = 0, readOnly, ...nodeOptions } = options
  const node = new MeshNode(nodeOptions)
  const server = http.createServer((_req, res) => res.writeHead(404).end())
  const detach = attachToServer(server, { node, ...(readOnly ? { readOnly: () => true } : {}) })
  await new Promise<void>((resolve) => server.listen(wanted, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  node.url = `ws://127.0.0.1:${port}/mesh`
  let closed = false
  return {
    node,
    port,
    url: node.url,
    close: async () => {
      if (closed) return
      closed = true
      await node.close()
      detach()
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
    },
  }
}

/** A client that uses the `ws` package, with fast retries so tests do not wait on backoff. */
export const nodeClient = (options: Omit<MeshClientOptions, 'WebSocket'>): MeshClient =>
  new MeshClient({ backoff: { minDelayMs: 20, maxDelayMs: 200 }, ...options, WebSocket })

/** Something whose events mean "look again". */
type Source = MeshClient | MeshNode

/**
 * A `subscribe` for `waitUntil` of `@mesh/core/testing`: wakes the check on every event of
 * these clients and nodes (nodes through `nodeEvents`; it still re-checks on its interval, for state without an event).
 *
 * @example await waitUntil('a has k', () => a.node.has('k'), { subscribe: wakeOn(a.node, c) })
 */
export const wakeOn =
  (...sources: Source[]) =>
  (wake: () => void): (() => void) => {
    const offs: Array<() => void> = []
    for (const source of sources) {
      if (source instanceof MeshClient) {
        for (const event of ['change', 'status', 'presence', 'readonly'] as const) offs.push(source.on(event, wake))
      } else {
        offs.push(nodeEvents(source)(wake))
      }
    }
    return () => {
      for (const off of offs) off()
    }
  }

/** A port nothing listens on (bound, then released). */
export const deadPort = async (): Promise<number> => {
  const server = http.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}
