import type { IncomingMessage, RequestListener, Server, ServerResponse } from 'node:http'
import {
  createRestHandler,
  drainRequestBody,
  readRequestBody,
  type InspectorHandler,
  type MeshNode,
  type RestOptions,
} from '@mesh/core'

/**
 * Serves the REST API under `prefix` on a Node HTTP server, ahead of the server's other
 * `request` listeners (the framework). Nest's default body parsers run before any Nest
 * middleware or controller: the JSON one refuses top-level strings and numbers, the
 * urlencoded one rewrites bodies, and their errors are not `{ "error" }` JSON. Mesh needs the
 * raw body, so like the WebSocket upgrades its REST routes are served below the framework.
 * The inspector, when given, is served there too: its paths sit under the same base.
 * Returns a function that hands the server back to its listeners.
 */
export const serveRestFirst = (
  server: Server,
  options: { node: MeshNode; prefix: string; rest?: RestOptions; inspector?: InspectorHandler },
): (() => void) => {
  const { prefix } = options
  const handle = createRestHandler(options.node, options.rest)
  const limit = options.rest?.maxBodyBytes ?? 1024 * 1024
  const serve = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://localhost')
    const declared = Number(req.headers['content-length'])
    const reply = await handle({
      method: req.method ?? 'GET',
      path: url.pathname.slice(prefix.length) || '/',
      query: url.searchParams,
      contentLength: Number.isFinite(declared) ? declared : undefined,
      body: () => readRequestBody(req, limit),
      header: (name) => {
        const value = req.headers[name.toLowerCase()]
        return Array.isArray(value) ? value.join(', ') : value
      },
    })
    // The rest of a refused or ignored body is read and dropped (bounded), so the client reads the answer.
    drainRequestBody(req)
    const text = reply.contentType ? String(reply.body) : JSON.stringify(reply.body ?? null)
    res.writeHead(reply.status, {
      'content-type': reply.contentType ?? 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(text),
    })
    res.end(text)
  }
  const others = server.listeners('request') as RequestListener[]
  const onRequest: RequestListener = (req, res) => {
    const page = options.inspector?.(req.method ?? 'GET', req.url ?? '/')
    if (page) return void res.writeHead(page.status, page.headers).end(page.body)
    const path = (req.url ?? '/').split('?', 1)[0] ?? '/'
    if (path === prefix || path.startsWith(`${prefix}/`)) return void serve(req, res).catch(() => res.destroy())
    for (const listener of others) listener.call(server, req, res)
  }
  server.removeAllListeners('request')
  server.on('request', onRequest)
  return () => {
    server.off('request', onRequest)
    for (const listener of others) server.on('request', listener)
  }
}
