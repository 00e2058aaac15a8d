import type { IncomingMessage, ServerResponse } from 'node:http'
import { createInspectorHandler } from '../observability/index.js'
import type { MeshNode } from '../node/index.js'
import { drainRequestBody, readRequestBody } from './read-body.js'
import { createRestHandler, DEFAULT_MAX_BODY_BYTES, type RestOptions, type RestResponse } from './rest.js'
import { declaredLength, pathBelow, trimBase } from './paths.js'

/**
 * A Node `request` listener with Connect's `next`, so Express takes it as middleware as it is:
 * it answers Mesh's own paths and calls `next()` for every other request.
 */
export type NodeHandler = (req: IncomingMessage, res: ServerResponse, next: () => void) => void

/** A Node `request` listener serving the REST API; the request path is taken as below the API root. */
export type NodeRestHandler = (req: IncomingMessage, res: ServerResponse) => void

/** Where and what {@link createNodeHandler} and {@link createFetchHandler} serve. */
export interface MeshHttpOptions {
  /** Base path of every Mesh endpoint: the REST API is served at `<basePath>/api`. Default `/mesh`. */
  basePath?: string
  /** Options of the REST API. */
  rest?: RestOptions
  /**
   * Serve the web inspector (`@mesh/inspector`, when installed and built) at
   * `<basePath>/inspector`. Default false.
   * @example { basePath: '/mesh', inspector: true }
   */
  inspector?: boolean
}

/**
 * A body an earlier parser already consumed (Express's `express.json()` and body-parser leave it
 * in `req.body`), turned back into text, so the API still works behind a global parser.
 */
const parsedBody = (req: IncomingMessage): string | undefined => {
  if (!req.readableEnded) return undefined
  const body: unknown = (req as { body?: unknown }).body
  if (typeof body === 'string') return body
  if (Buffer.isBuffer(body)) return body.toString('utf8')
  return body === undefined ? '' : JSON.stringify(body)
}

const header = (req: IncomingMessage, name: string): string | undefined => {
  const value = req.headers[name.toLowerCase()]
  return Array.isArray(value) ? value.join(', ') : value
}

const write = (res: ServerResponse, reply: RestResponse): void => {
  const text = reply.contentType ? String(reply.body) : JSON.stringify(reply.body ?? null)
  res.writeHead(reply.status, {
    'content-type': reply.contentType ?? 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  })
  res.end(text)
}

/** Answers one REST request; `path` is the path below the API root. */
const restOnNode = (node: MeshNode, options: RestOptions = {}) => {
  const handle = createRestHandler(node, options)
  const limit = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES
  return async (req: IncomingMessage, res: ServerResponse, path: string): Promise<void> => {
    const reply = await handle({
      method: req.method ?? 'GET',
      path,
      query: new URL(req.url ?? '/', 'http://localhost').searchParams,
      contentLength: declaredLength(header(req, 'content-length')),
      body: async () => parsedBody(req) ?? readRequestBody(req, limit),
      header: (name) => header(req, name),
    })
    // The rest of a refused or ignored body is read and dropped (bounded) before the answer, as
    // the Fetch handler does: answered while the client still sent it, the connection could be
    // closed under the client's write (EPIPE before it read the 413; e2e/fuzz rest:big-body).
    drainRequestBody(req)
    if (!req.readableEnded && !req.destroyed) {
      await new Promise<void>((resolve) => {
        req.once('end', resolve)
        req.once('close', resolve)
      })
    }
    try {
      write(res, reply)
    } catch {
      res.destroy()
    }
  }
}

/**
 * The REST API (DESIGN.md §3) on Node's request and response, for frameworks on a Node HTTP
 * server, with `req.url` taken as the path below the API root (as in an Express router). The
 * body is read raw up to the limit, so any JSON value is accepted (strict parsers refuse
 * top-level strings and numbers); a body an earlier parser consumed is used as it left it.
 *
 * @example
 * app.use('/mesh/api', Router().use(createNodeRestHandler(node)))
 */
export const createNodeRestHandler = (node: MeshNode, options: RestOptions = {}): NodeRestHandler => {
  const serve = restOnNode(node, options)
  // `req.url` keeps the raw percent-encoding the handler expects of keys.
  return (req, res) => void serve(req, res, pathBelow('', req.url ?? '/') ?? '/')
}

/**
 * Serves Mesh's HTTP paths on a Node server or in Express: the REST API under
 * `<basePath>/api` and, with `inspector: true`, the web inspector under `<basePath>/inspector`.
 * Every other request goes to `next()`. The WebSocket endpoints are {@link attachToServer}'s.
 *
 * @example
 * app.use(createNodeHandler(node, { basePath: '/mesh', inspector: true }))
 */
export const createNodeHandler = (node: MeshNode, options: MeshHttpOptions = {}): NodeHandler => {
  const base = trimBase(options.basePath)
  const rest = restOnNode(node, options.rest)
  const inspector = options.inspector ? createInspectorHandler({ base }) : undefined
  return (req, res, next) => {
    const page = inspector?.(req.method ?? 'GET', req.url ?? '/')
    if (page) return void res.writeHead(page.status, page.headers).end(page.body)
    const path = pathBelow(`${base}/api`, req.url ?? '/')
    if (path === undefined) return next()
    void rest(req, res, path)
  }
}
