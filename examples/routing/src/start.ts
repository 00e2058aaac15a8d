/**
 * What both examples share: a node on a plain Node HTTP server, configured from the
 * environment (`PORT`, `HOST`, `MESH_NAME`, `MESH_JOIN`), with Mesh's WebSockets, REST API
 * and inspector under `/mesh`, and the app's own routes beside them.
 */
import { createServer, type IncomingMessage, type RequestListener, type ServerResponse } from 'node:http'
import { MeshNode, serveNode, type Logger, type MeshNodeOptions } from '@mesh/core'

const stderr: Logger = {
  debug: () => {},
  info: () => {},
  warn: (message, fields) => console.error(`warn: ${message}`, fields ?? ''),
  error: (message, fields) => console.error(`error: ${message}`, fields ?? ''),
}

/** Sends `body` as JSON. */
export const sendJson = (res: ServerResponse, status: number, body: unknown): void => {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body))
}

/** Reads a JSON body of at most 64 KiB; undefined when it is not JSON. */
export const readJson = async (req: IncomingMessage): Promise<unknown> => {
  let text = ''
  for await (const chunk of req) {
    text += String(chunk)
    if (text.length > 64 * 1024) return undefined
  }
  try {
    return JSON.parse(text) as unknown
  } catch {
    return undefined
  }
}

/**
 * Starts the node and the server; prints `mesh: NAME listening on http://HOST:PORT` once it
 * listens, and leaves the mesh gracefully on SIGTERM or SIGINT.
 */
export const start = (options: MeshNodeOptions, app: (node: MeshNode) => RequestListener): MeshNode => {
  const port = Number(process.env.PORT ?? 4001)
  const host = process.env.HOST ?? '127.0.0.1'
  const join = (process.env.MESH_JOIN ?? '')
    .split(',')
    .map((url) => url.trim())
    .filter(Boolean)
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`PORT must be an integer from 0 to 65535; got "${process.env.PORT ?? ''}"`)
    process.exit(1)
  }
  const node = new MeshNode({ name: process.env.MESH_NAME || undefined, logger: stderr, ...options })
  const server = createServer(app(node))
  const served = serveNode(node, server, { join, inspector: true })
  server.once('error', (error) => {
    console.error(`cannot listen on ${host}:${port}: ${error.message}`)
    process.exit(1)
  })
  server.listen(port, host, () => {
    const address = server.address()
    const bound = typeof address === 'object' && address ? address.port : port
    console.log(`mesh: ${node.name} listening on http://${host}:${bound}`)
  })
  const stop = () => void served.close().then(() => server.close(() => process.exit(0)))
  process.once('SIGTERM', stop)
  process.once('SIGINT', stop)
  return node
}
