import { serveBoard } from './server.js'

// `npm start -w examples/board`: PORT (default 8080), HOST (default 127.0.0.1) and
// MESH_NODES (comma-separated ws:// URLs the page connects to by default).
const port = Number(process.env.PORT ?? 8080)
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`board: PORT must be a port number; got "${process.env.PORT ?? ''}"`)
  process.exit(1)
}
const nodes = process.env.MESH_NODES?.split(',').filter(Boolean)
const board = await serveBoard({ port, host: process.env.HOST ?? '127.0.0.1', ...(nodes ? { nodes } : {}) })
console.log(`board: serving ${board.url}/ (open it in two tabs; add ?node=ws://HOST:PORT/mesh to pick a node)`)
const stop = () => void board.close().then(() => process.exit(0))
process.once('SIGINT', stop)
process.once('SIGTERM', stop)
