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

/** An `error` listener that needs no closure of its own (`this` is the socket), for the upgrade handshake. */
function destroyOnError(this: Duplex): void {
  this.destroy()
}

/**
 * The upgraded sockets of one `attachToServer` and their connections. Every socket shares the
 * same three listeners (`this` is the socket), which find its connection here: a socket held
 * open costs an entry, not closures of its own, and keeps nothing of its upgrade (the request,
 * its headers and parser state) alive. Anyone may hold sockets open with 160-byte upgrades.
 */
const socketFeeds = (logger: Logger) => {
  const connections = new Map<WebSocket, Connection>()
  function onMessage(this: WebSocket, data: Buffer, isBinary: boolean): void {
    connections.get(this)?.receive(isBinary ? data : data.toString())
  }
  function onClose(this: WebSocket): void {
    const connection = connections.get(this)
    connections.delete(this)
    connection?.close()
  }
  function onError(this: WebSocket, error: Error): void {
    // ws closed the socket itself already (1009 for an oversized frame, 1002 for a protocol error).
    logger.warn('closing socket after a WebSocket error', { error: error.message })
    this.terminate()
  }
  return {
    serve: (ws: WebSocket, connection: Connection): void => {
      connections.set(ws, connection)
      ws.on('message', onMessage)
      ws.on('close', onClose)
      ws.on('error', onError)
    },
    terminateAll: (): void => {
      for (const ws of connections.keys()) ws.terminate()
    },
  }
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
  // The sockets are tracked in `feeds`, not by ws (a listener of its own on every socket).
  const servers = {
    peer: new WebSocketServer({ noServer: true, clientTracking: false, maxPayload: peerMessageBytes + 1 }),
    light: new WebSocketServer({ noServer: true, clientTracking: false, maxPayload: lightMessageBytes + 1 }),
    feed: new WebSocketServer({ noServer: true, clientTracking: false, maxPayload: FEED_MAX_PAYLOAD }),
  }
  const feeds = socketFeeds(node.logger)
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
      // ws listens for errors itself from here on.
      socket.off('error', destroyOnError)
      // Undefined, not false, without the option: the node's own `lightPeers.readOnly` then decides.
      const readOnly = room !== undefined ? options.readOnly?.(request, room) : undefined
      feeds.serve(ws, node.accept(ws, { room, request, readOnly }))
    })
  }
  server.on('upgrade', onUpgrade)
  const stopAdvertising = options.advertise ? advertiseWhenListening(server, { node, path: base }) : undefined
  return () => {
    stopAdvertising?.()
    server.off('upgrade', onUpgrade)
    feeds.terminateAll()
    for (const wss of Object.values(servers)) wss.close()
  }
}
