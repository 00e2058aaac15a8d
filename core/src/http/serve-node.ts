import type { RequestListener, Server } from 'node:http'
import type { MeshNode } from '../node/index.js'
import { attachToServer, type AttachOptions } from './attach-to-server.js'
import { checkPeerUrl, errorText } from '../common/index.js'
import { createNodeHandler, type MeshHttpOptions, type NodeHandler } from './node-handler.js'

/** How long Mesh sockets get to finish their close handshake after the node left, before they are cut. */
const CLOSE_GRACE_MS = 2000

/** Options of {@link serveNode}. */
export interface ServeNodeOptions extends MeshHttpOptions, Pick<AttachOptions, 'readOnly'> {
  /**
   * Peers to join, as `ws://host:port/mesh` URLs (checked with {@link checkPeerUrl}): once the
   * server listens, so the node announces its real URL, or at once when it already does.
   */
  join?: readonly string[]
  /**
   * How long to wait for those peers before logging a warning; the node keeps retrying in
   * the background. Default 5000 ms.
   */
  joinTimeoutMs?: number
}

/** A node served by {@link serveNode}. */
export interface ServedNode {
  /**
   * Leaves the mesh gracefully (peers see the node as `left`). Mesh sockets that have not
   * finished their close handshake two seconds later are cut, so `server.close()` can finish.
   */
  close(): Promise<void>
  /** Unhooks from the server now, cutting every Mesh socket still open. */
  detach(): void
}

/**
 * Puts `handler` ahead of the server's `request` listeners (the framework's), which it calls
 * for requests that are not Mesh's. Returns a function that hands the server back to them.
 */
const serveFirst = (server: Server, handler: NodeHandler): (() => void) => {
  const others = server.listeners('request') as RequestListener[]
  const onRequest: RequestListener = (req, res) =>
    handler(req, res, () => {
      for (const listener of others) listener.call(server, req, res)
    })
  server.removeAllListeners('request')
  server.on('request', onRequest)
  return () => {
    server.off('request', onRequest)
    for (const listener of others) server.on('request', listener)
  }
}

/**
 * Serves a node on a Node HTTP server, below whatever framework also serves it: the WebSocket
 * endpoints ({@link attachToServer}), the REST API and, with `inspector: true`, the web
 * inspector ({@link createNodeHandler}, ahead of the server's own request listeners); the node
 * advertises the URL of the bound server and joins the given peers. For frameworks whose body
 * parsers run before any route of theirs (NestJS: its JSON parser refuses top-level strings
 * and its errors are not `{ "error" }` JSON), and for a plain `http.createServer()`. Without a
 * server, it only joins: a node that dials out.
 *
 * @example
 * const served = serveNode(node, http.createServer().listen(3000), { join: ['ws://10.0.0.2:3000/mesh'] })
 * process.once('SIGTERM', () => void served.close())
 */
export const serveNode = (node: MeshNode, server: Server | undefined, options: ServeNodeOptions = {}): ServedNode => {
  const join = (options.join ?? []).map(checkPeerUrl)
  const detachers: Array<() => void> = []
  if (server) {
    detachers.push(
      serveFirst(server, createNodeHandler(node, options)),
      attachToServer(server, { node, path: options.basePath, readOnly: options.readOnly, advertise: true }),
    )
  }
  const startJoin = (): void => {
    node.join(join, { timeoutMs: options.joinTimeoutMs ?? 5000 }).catch((error: unknown) => {
      // Unreachable peers must not stop the app: the node keeps retrying in the background.
      if (!node.closed) node.logger.warn('peers unreachable, retrying in the background', { error: errorText(error) })
    })
  }
  // Registered after attachToServer's advertiser, so the URL is set before the join announces it.
  if (join.length > 0 && server && !server.listening && !node.url) {
    server.once('listening', startJoin)
    detachers.push(() => server.off('listening', startJoin))
  } else if (join.length > 0) startJoin()
  let force: ReturnType<typeof setTimeout> | undefined
  const detach = (): void => {
    clearTimeout(force)
    for (const stop of detachers.splice(0)) stop()
  }
  const close = async (): Promise<void> => {
    await node.close()
    if (detachers.length === 0 || force) return
    force = setTimeout(detach, CLOSE_GRACE_MS)
    force.unref()
  }
  return { close, detach }
}
