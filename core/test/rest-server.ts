import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { createRestHandler, readRequestBody, type MeshNode } from '@mesh/core'

/** Serves `node`'s REST API under `/mesh/api`; `cleanups` gets what stops the server. Returns the API's base URL. */
export const serveRest = async (node: MeshNode, cleanups: Array<() => Promise<void> | void>): Promise<string> => {
  const handle = createRestHandler(node)
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost')
    const declared = Number(req.headers['content-length'])
    void handle({
      method: req.method ?? 'GET',
      path: url.pathname.replace(/^\/mesh\/api/, ''),
      query: url.searchParams,
      contentLength: Number.isFinite(declared) ? declared : undefined,
      body: () => readRequestBody(req, 1024 * 1024),
      header: (name) => {
        const value = req.headers[name.toLowerCase()]
        return Array.isArray(value) ? value.join(', ') : value
      },
    }).then((reply) =>
      res.writeHead(reply.status, { 'content-type': 'application/json' }).end(JSON.stringify(reply.body)),
    )
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  cleanups.push(async () => {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  })
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/mesh/api`
}
