/**
 * Review of the peer hello gate (issue 12): with a global cap of 64 handshakes at once (removed),
 * a node that dialed 64 URLs whose servers accept the WebSocket and never answer refused every
 * honest peer with 4429, and so did a node that one client kept filling with silent sockets.
 */
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { waitUntil } from '@mesh/core/testing'
import { describe, expect, it } from 'vitest'
import WebSocket, { WebSocketServer } from 'ws'
import { servedPerTest, type ServedNode } from './helpers.js'

const { start, cleanups } = servedPerTest()

/** More silent sockets than the removed cap allowed. */
const SILENT = 66

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
  it('an honest peer joins a node that is dialing 66 silent URLs', async () => {
    const silent = await Promise.all(Array.from({ length: SILENT }, silentServer))
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

  /**
   * An unauthenticated client that reopens a pre-hello socket as soon as one of its sockets is
   * closed (4400 after 10 s, or 4429 at once) kept every slot: the honest peer never got in.
   */
  const refilling = (hub: ServedNode, count: number) => {
    let stopped = false
    const sockets = new Set<WebSocket>()
    const open = (): void => {
      if (stopped) return
      const ws = new WebSocket(hub.url)
      sockets.add(ws)
      ws.on('error', () => {})
      ws.on('close', () => {
        sockets.delete(ws)
        open()
      })
    }
    for (let i = 0; i < count; i++) open()
    cleanups.push(() => {
      stopped = true
      for (const ws of sockets) ws.terminate()
    })
  }

  it('an honest peer joins while a client keeps refilling pre-hello sockets', async () => {
    const hub = await start({})
    const honest = await start({})
    refilling(hub, SILENT)
    // With the cap it waited past the 10 s hello timeout and then lost the slots to the refills.
    await expect(honest.node.join([hub.url], { timeoutMs: 20_000 })).resolves.toBeUndefined()
  }, 40_000)
})
