/**
 * Review of the peer hello gate (issue 12): the node's own outgoing handshakes must not count
 * against the sockets it accepts. A node that dials MAX_PEER_HANDSHAKES URLs whose servers
 * accept the WebSocket and never answer the hello refuses every honest peer with 4429 until its
 * own handshakes time out (10 s), and again after each redial.
 */
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { waitUntil } from '@mesh/core/testing'
import { describe, expect, it } from 'vitest'
import { WebSocketServer } from 'ws'
import { MAX_PEER_HANDSHAKES } from '../src/security/index.js'
import { servedPerTest } from './helpers.js'

const { start, cleanups } = servedPerTest()

/** A WebSocket server on /mesh that accepts every socket and never says anything. */
const silentServer = async (): Promise<{ url: string; sockets: () => number }> => {
  const server = http.createServer()
  const wss = new WebSocketServer({ server })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  cleanups.push(() => {
    for (const ws of wss.clients) ws.terminate()
    wss.close()
    server.close()
  })
  return { url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}/mesh`, sockets: () => wss.clients.size }
}

describe('hello gate and the node own dials', () => {
  it('an honest peer joins a node that is dialing MAX_PEER_HANDSHAKES silent URLs', async () => {
    const silent = await Promise.all(Array.from({ length: MAX_PEER_HANDSHAKES }, silentServer))
    const hub = await start({})
    const honest = await start({})
    await hub.node.join(
      silent.map((s) => s.url),
      { wait: false },
    )
    await waitUntil('the hub dialed every silent URL', () => silent.every((s) => s.sockets() === 1))
    // Well inside the hub's 10 s handshake timeout: on main this takes a few ms.
    await expect(honest.node.join([hub.url], { timeoutMs: 5000 })).resolves.toBeUndefined()
  }, 30_000)
})
