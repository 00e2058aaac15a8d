import type { IncomingMessage, Server } from 'node:http'
import { Router, type Application, type Request, type Response } from 'express'
import {
  advertiseWhenListening,
  attachToServer,
  createInspectorHandler,
  createRestHandler,
  drainRequestBody,
  readRequestBody,
  type MeshNode,
  type RestOptions,
} from '@mesh/core'

export { attachToServer, type AttachOptions } from '@mesh/core'

const DEFAULT_MAX_BODY = 1024 * 1024

/** A body some earlier parser already consumed, turned back into text. */
const parsedBody = (req: Request): string | undefined => {
  if (!req.readableEnded) return undefined
  const body: unknown = req.body
  if (typeof body === 'string') return body
  if (Buffer.isBuffer(body)) return body.toString('utf8')
  return body === undefined ? '' : JSON.stringify(body)
}

/**
 * An Express router serving the REST API of DESIGN.md §3 (`/kv`, `/members`, `/status`,
 * `/join`, `/health`, ...). Mount it at `<basePath>/api`. Bodies must be sent as
 * `application/json` (415 otherwise). It reads raw bodies itself so that any JSON value is
 * accepted; mount it before a global `express.json()`, whose strict mode refuses top-level
 * strings and numbers.
 *
 * @example
 * app.use('/mesh/api', meshRouter(node))
 */
export const meshRouter = (node: MeshNode, options: RestOptions = {}): Router => {
  const handle = createRestHandler(node, options)
  const limit = options.maxBodyBytes ?? DEFAULT_MAX_BODY
  const router = Router()
  router.use(async (req: Request, res: Response) => {
    // `req.url` is relative to the mount point and keeps the raw percent-encoding core expects.
    const url = new URL(req.url, 'http://localhost')
    const declared = Number(req.headers['content-length'])
    const reply = await handle({
      method: req.method,
      path: url.pathname,
      query: url.searchParams,
      contentLength: Number.isFinite(declared) ? declared : undefined,
      body: async () => parsedBody(req) ?? readRequestBody(req, limit),
      header: (name) => req.get(name),
    })
    // The rest of a refused or ignored body is read and dropped (bounded), so the client reads the answer.
    drainRequestBody(req)
    if (reply.contentType) res.status(reply.status).type(reply.contentType).send(String(reply.body))
    else res.status(reply.status).json(reply.body)
  })
  return router
}

/** Options of {@link mountMesh}. */
export interface MountOptions extends RestOptions {
  node: MeshNode
  /** Base path of every Mesh endpoint. Default `/mesh`. */
  basePath?: string
  /** Decides whether a light peer may write; default: every light peer may. */
  readOnly?: (request: IncomingMessage, room: string) => boolean
  /** Serve the web inspector (`@mesh/inspector`, when installed and built) at `<basePath>/inspector`. Default false. */
  inspector?: boolean
}

/**
 * Serves all of Mesh on an Express app and its HTTP server: the WebSocket endpoints
 * (`<basePath>` and `<basePath>/:room`, other upgrades left alone) and the REST API at
 * `<basePath>/api`; with `inspector: true`, the web inspector at `<basePath>/inspector`. Unless
 * `node.url` is set, the node advertises `ws://<address>:<port><basePath>` once the server
 * listens (the hostname for `app.listen(port)`, which binds every interface; logged at info).
 * Returns a function that detaches the WebSocket endpoints.
 *
 * @example
 * const server = app.listen(3000)
 * const detach = mountMesh(app, server, { node, inspector: true })
 */
export const mountMesh = (app: Application, server: Server, options: MountOptions): (() => void) => {
  const { node, readOnly, basePath: rawBase = '/mesh', inspector, ...rest } = options
  const basePath = rawBase.replace(/\/+$/, '')
  if (inspector) {
    const handle = createInspectorHandler({ base: basePath })
    app.use(`${basePath}/inspector`, (req: Request, res: Response, next: () => void) => {
      // `originalUrl`: the mount strips the prefix from `req.url`, and with it the trailing slash that matters.
      const reply = handle(req.method, req.originalUrl)
      if (reply) res.writeHead(reply.status, reply.headers).end(reply.body)
      else next()
    })
  }
  app.use(`${basePath}/api`, meshRouter(node, rest))
  const stopAdvertising = advertiseWhenListening(server, { node, path: basePath })
  const detach = attachToServer(server, { node, path: basePath, readOnly })
  return () => {
    stopAdvertising()
    detach()
  }
}
