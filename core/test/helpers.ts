import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { attachToServer, type Logger, MeshNode, type MeshNodeOptions } from '@mesh/core'
import WebSocket from 'ws'
import { afterEach } from 'vitest'
import { encodePeer, type Room } from '../src/replication/index.js'
import type { MemberRecord, Membership } from '../src/membership/index.js'
import { waitUntil } from '@mesh/core/testing'

/** A logger that keeps every entry, so tests can assert what was logged. */
export const memoryLogger = () => {
  const entries: Array<{ level: string; message: string; fields?: Record<string, unknown> }> = []
  const at =
    (level: string) =>
    (message: string, fields?: Record<string, unknown>): void => {
      entries.push({ level, message, fields })
    }
  const logger: Logger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }
  return { logger, entries }
}

/**
 * The internal room behind `node.room(name)`, for tests that inspect the store's array or
 * pending updates. Applications get only the narrow `RoomHandle`.
 */
export const internalRoom = (node: MeshNode, name = 'default'): Room => node.room(name) as Room

/** A node served over real WebSockets on 127.0.0.1, port 0. */
export interface ServedNode {
  node: MeshNode
  server: http.Server
  port: number
  /** `ws://127.0.0.1:PORT/mesh` */
  url: string
  close(): Promise<void>
}

/** Starts a node on an HTTP server with core's attachToServer. */
export const serveNode = async (options: MeshNodeOptions = {}): Promise<ServedNode> => {
  const node = new MeshNode(options)
  await node.ready()
  const server = http.createServer((_req, res) => res.writeHead(404).end())
  const detach = attachToServer(server, { node })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  node.url = `ws://127.0.0.1:${port}/mesh`
  return {
    node,
    server,
    port,
    url: node.url,
    close: async () => {
      await node.close()
      detach()
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
    },
  }
}

/** Opens a raw WebSocket and resolves with it once open; messages are collected from the start. */
export const openSocket = (
  url: string,
): Promise<{ ws: WebSocket; messages: Buffer[]; closed: Promise<{ code: number; reason: string }> }> =>
  new Promise((resolve, reject) => {
    const ws = new WebSocket(url)
    const messages: Buffer[] = []
    ws.on('message', (data: Buffer) => messages.push(data))
    const closed = new Promise<{ code: number; reason: string }>((r) =>
      ws.on('close', (code, reason) => r({ code, reason: reason.toString() })),
    )
    ws.once('open', () => resolve({ ws, messages, closed }))
    ws.once('error', reject)
  })

/**
 * Nodes a test file starts, stopped after each test with its cleanups: `start` serves a node,
 * `cleanups` takes what else to undo (sockets, clients). Call once at the top of a file.
 */
export const servedPerTest = (): {
  start: (options: MeshNodeOptions) => Promise<ServedNode>
  cleanups: Array<() => void>
} => {
  const served: ServedNode[] = []
  const cleanups: Array<() => void> = []
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) cleanup()
    for (const s of served.splice(0)) await s.close()
  })
  const start = async (options: MeshNodeOptions) => {
    const s = await serveNode(options)
    served.push(s)
    return s
  }
  return { start, cleanups }
}

/**
 * A raw peer link that completes the handshake (no secret): its socket, the frames it got and
 * its close code. With `cleanups`, the socket is closed after the test.
 */
export const rawPeer = async (url: string, cleanups?: Array<() => void>) => {
  const ws = new WebSocket(url)
  ws.binaryType = 'nodebuffer'
  const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)))
  const frames: Buffer[] = []
  ws.on('message', (data: Buffer) => frames.push(data))
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject))
  const nodeId = `raw-${Math.random()}`
  ws.send(encodePeer.hello({ nodeId, name: 'raw', url: '', clientId: 7, onConflict: 'merge', nonce: 'n', proof: '' }))
  await waitUntil('hello answered', () => frames.length >= 1)
  ws.send(encodePeer.prove(''))
  await waitUntil('proof answered', () => frames.length >= 2)
  cleanups?.push(() => ws.close())
  return { ws, closed, frames }
}

/**
 * Simulated link-up between two memberships `a` and `b` (in `nodes`): each notes the link, then
 * sends its whole table through `deliver`, as a real link-up does.
 */
export const linkMemberships = (
  nodes: ReadonlyMap<string, Membership>,
  [a, b]: readonly [string, string],
  now: number,
  deliver: (from: string, to: string, records: MemberRecord[]) => void,
): void => {
  const ma = nodes.get(a) as Membership
  const mb = nodes.get(b) as Membership
  ma.linked({ id: b, name: b, url: `ws://${b}` }, now)
  mb.linked({ id: a, name: a, url: `ws://${a}` }, now)
  deliver(a, b, ma.digest())
  deliver(b, a, mb.digest())
}
