import type { IncomingMessage, Server } from 'node:http'
import type { Duplex } from 'node:stream'
import { WebSocketServer, type WebSocket } from 'ws'
import type { Connection, Logger } from '../common/index.js'
import { INSPECT_ROOM } from '../observability/index.js'
import type { MeshNode } from '../node/index.js'
import { advertiseWhenListening } from './advertise-url.js'
import { trimBase } from './paths.js'

/** Largest frame the one-way inspector feed accepts; it only ever receives frames to refuse them. */
const FEED_MAX_PAYLOAD = 1024

/** Options of {@link attachToServer}. */
export interface AttachOptions {
  node: MeshNode
  /** Base path of the endpoints. Default `/mesh`. */
  path?: string
  /** Decides whether a light peer may write; default: every light peer may. */
  readOnly?: (request: IncomingMessage, room: string) => boolean
  /**
   * Also set `node.url` from the address the server listens on (see
   * {@link advertiseWhenListening}); the adapters turn it on. Default false.
   */
  advertise?: boolean
}

const reject = (socket: Duplex, status: number, text: string): void => {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`)
}

/** An `error` listener that needs no closure of its own (`this` is the socket). */
function destroyOnError(this: Duplex): void {
  this.destroy()
}

/**
 * Feeds an upgraded socket's frames to its connection. Its own scope, not the upgrade
 * handler's: the listeners live as long as the socket, and would otherwise keep the upgrade
 * request (headers, parser state) and the raw socket alive with them, about a kilobyte per
 * idle socket.
 */
const serveSocket = (ws: WebSocket, connection: Connection, logger: Logger, room: string | undefined): void => {
  ws.on('message', (data: Buffer, isBinary: boolean) => connection.receive(isBinary ? data : data.toString()))
  ws.on('close', () => connection.close())
  ws.on('error', (error: Error) => {
    // ws closed the socket itself already (1009 for an oversized frame, 1002 for a protocol error).
    logger.warn('closing socket after a WebSocket error', { room, error: error.message })
    ws.terminate()
  })
}

/**
 * Serves the peer endpoint (`<path>`) and light-peer endpoint (`<path>/:room`) on a Node
 * HTTP server, for frameworks without an upgrade pipeline (Express, NestJS). It claims only
 * upgrades under `path`; when it is the server's only upgrade listener it answers the rest
 * with 404, since an unanswered upgrade would keep `server.close()` hanging. With
 * `advertise: true` the node advertises the URL of the bound server too.
 * Returns a function that detaches it.
 */
export const attachToServer = (server: Server, options: AttachOptions): (() => void) => {
  const base = trimBase(options.path)
  const { node } = options
  const { peerMessageBytes, lightMessageBytes } = node.limits
  // Each endpoint refuses frames past its own limit before buffering them: one byte over it, so
  // core still sees a frame at the limit + 1 and closes with 4413; anything larger is cut off
  // by ws (1009) while it arrives. The feed is one-way: any frame from it is refused.
  const servers = {
    peer: new WebSocketServer({ noServer: true, maxPayload: peerMessageBytes + 1 }),
    light: new WebSocketServer({ noServer: true, maxPayload: lightMessageBytes + 1 }),
    feed: new WebSocketServer({ noServer: true, maxPayload: FEED_MAX_PAYLOAD }),
  }
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
    socket.on('error', destroyOnError)
    const wss = room === undefined ? servers.peer : room === INSPECT_ROOM ? servers.feed : servers.light
    wss.handleUpgrade(request, socket, head, (ws: WebSocket) => {
      // Undefined, not false, without the option: the node's own `lightPeers.readOnly` then decides.
      const readOnly = room !== undefined ? options.readOnly?.(request, room) : undefined
      serveSocket(ws, node.accept(ws, { room, request, readOnly }), node.logger, room)
    })
  }
  server.on('upgrade', onUpgrade)
  const stopAdvertising = options.advertise ? advertiseWhenListening(server, { node, path: base }) : undefined
  return () => {
    stopAdvertising?.()
    server.off('upgrade', onUpgrade)
    for (const wss of Object.values(servers)) {
      for (const client of wss.clients) client.terminate()
      wss.close()
    }
  }
}
