import { createInspectorHandler } from '../observability/index.js'
import type { MeshNode } from '../node/index.js'
import type { MeshHttpOptions } from './node-handler.js'
import { declaredLength, pathBelow, trimBase } from './paths.js'
import { drainBodyStream, readBodyStream } from './read-body.js'
import { createRestHandler, DEFAULT_MAX_BODY_BYTES, type RestOptions } from './rest.js'

/** Serves the REST API on a Fetch request; `prefix` is the API root (default: the request path is below it). */
export type FetchRestHandler = (request: Request, prefix?: string) => Promise<Response>

/**
 * Serves Mesh's HTTP paths on a Fetch request, or resolves undefined for any other request.
 * `prefix` is where the app is mounted in an outer app, stripped before matching.
 */
export type FetchHandler = (request: Request, prefix?: string) => Promise<Response | undefined>

/**
 * The REST API (DESIGN.md §3) on the Fetch API's Request and Response, for runtimes and
 * frameworks built on it (Hono, Deno, Bun). The body is read up to the limit; the rest of a
 * refused or ignored body is read and dropped before the answer (bounded), since closing while
 * the client still sends would reset the connection before it reads the answer. When that
 * drain is cut short, the answer says `Connection: close`.
 *
 * @example
 * const api = createFetchRestHandler(node)
 * Deno.serve((request) => api(request, '/mesh/api'))
 */
export const createFetchRestHandler = (node: MeshNode, options: RestOptions = {}): FetchRestHandler => {
  const handle = createRestHandler(node, options)
  const limit = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES
  return async (request, prefix = '') => {
    const url = new URL(request.url)
    const reply = await handle({
      method: request.method,
      path: pathBelow(trimBase(prefix), url.pathname) ?? url.pathname,
      query: url.searchParams,
      contentLength: declaredLength(request.headers.get('content-length')),
      body: () => readBodyStream(request.body, limit),
      header: (name) => request.headers.get(name) ?? undefined,
    })
    const headers = new Headers({ 'content-type': reply.contentType ?? 'application/json; charset=utf-8' })
    if (!(await drainBodyStream(request.body))) headers.set('connection', 'close')
    const text = reply.contentType ? String(reply.body) : JSON.stringify(reply.body ?? null)
    return new Response(text, { status: reply.status, headers })
  }
}

/**
 * Serves Mesh's HTTP paths on the Fetch API: the REST API under `<basePath>/api`, the web
 * inspector under `<basePath>/inspector` with `inspector: true`, and a 426 for a plain GET on
 * a WebSocket endpoint (`<basePath>`, `<basePath>/:room`). Resolves undefined for any other
 * request, WebSocket upgrades included, so the app's own routing goes on.
 *
 * @example
 * app.all('/mesh/*', async (c, next) => (await mesh(c.req.raw)) ?? next())
 */
export const createFetchHandler = (node: MeshNode, options: MeshHttpOptions = {}): FetchHandler => {
  const base = trimBase(options.basePath)
  const rest = createFetchRestHandler(node, options.rest)
  const inspector = options.inspector ? createInspectorHandler({ base }) : undefined
  return async (request, prefix = '') => {
    const url = new URL(request.url)
    const path = pathBelow(trimBase(prefix), url.pathname)
    if (path === undefined) return undefined
    const page = inspector?.(request.method, path)
    if (page) return new Response(request.method === 'HEAD' ? null : page.body, page)
    if (pathBelow(`${base}/api`, path) !== undefined) return rest(request, `${trimBase(prefix)}${base}/api`)
    // `<base>` and `<base>/:room` are the WebSocket endpoints: one segment below the base at most.
    const endpoint = pathBelow(base, path)?.lastIndexOf('/') === 0
    if (!endpoint || request.method !== 'GET' || request.headers.has('upgrade')) return undefined
    return Response.json({ error: 'expected a WebSocket upgrade' }, { status: 426, headers: { upgrade: 'websocket' } })
  }
}
