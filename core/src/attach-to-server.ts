import type { IncomingMessage, Server } from 'node:http'
import type { Duplex } from 'node:stream'
import { WebSocketServer, type WebSocket } from 'ws'
import type { MeshNode } from './node.js'

/** Options of {@link attachToServer}. */
export interface AttachOptions {
  node: MeshNode
  /** Base path of the endpoints. Default `/mesh`. */
  path?: string
  /** Decides whether a light peer may write; default: every light peer may. */
  readOnly?: (request: IncomingMessage, room: string) => boolean
}

const reject = (socket: Duplex, status: number, text: string): void => {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`)
}

/**
 * Serves the peer endpoint (`<path>`) and light-peer endpoint (`<path>/:room`) on a Node
 * HTTP server, for frameworks without an upgrade pipeline (Express, NestJS). It claims only
 * upgrades under `path`; when it is the server's only upgrade listener it answers the rest
 * with 404, since an unanswered upgrade would keep `server.close()` hanging.
 * Returns a function that detaches it.
 */
export const attachToServer = (server: Server, options: AttachOptions): (() => void) => {
  const base = (options.path ?? '/mesh').replace(/\/+$/, '')
  const { peerMessageBytes, lightMessageBytes } = options.node.limits
  // One byte over the larger limit, so core sees oversized frames and closes with 4413.
  const wss = new WebSocketServer({ noServer: true, maxPayload: Math.max(peerMessageBytes, lightMessageBytes) + 1 })
  const onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const pathname = new URL(request.url ?? '/', 'http://localhost').pathname
    let room: string | undefined
    if (pathname === base) room = undefined
    else if (pathname.startsWith(`${base}/`) && !pathname.slice(base.length + 1).includes('/')) {
      try {
        room = decodeURIComponent(pathname.slice(base.length + 1))
      } catch {
        return reject(socket, 400, 'Bad Request')
      }
    } else {
      if (server.listenerCount('upgrade') === 1) reject(socket, 404, 'Not Found')
      return
    }
    socket.on('error', () => socket.destroy())
    wss.handleUpgrade(request, socket, head, (ws: WebSocket) => {
      // Undefined, not false, without the option: the node's own `lightPeers.readOnly` then decides.
      const readOnly = room !== undefined ? options.readOnly?.(request, room) : undefined
      const connection = options.node.accept(ws, { room, request, readOnly })
      ws.on('message', (data: Buffer, isBinary: boolean) => connection.receive(isBinary ? data : data.toString()))
      ws.on('close', () => connection.close())
      ws.on('error', () => ws.terminate())
    })
  }
  server.on('upgrade', onUpgrade)
  return () => {
    server.off('upgrade', onUpgrade)
    for (const client of wss.clients) client.terminate()
    wss.close()
  }
}
