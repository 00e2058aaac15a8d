/**
 * The Yjs reference server as a bench baseline (issue 19): `@y/websocket-server`'s
 * `setupWSConnection`, wired exactly as the package's own `src/server.js` wires it (an HTTP
 * server whose upgrades go to a `noServer` WebSocket server of the `ws` version the package
 * depends on), listening on a free port. A client joins room NAME at `ws://HOST:PORT/NAME`.
 *
 * The bench controls it over IPC: `write` sets a key in a room's shared doc on the server, the
 * way a Mesh node's `put` is the server-side write in `light_peers_fanout_p99_ms`; the server
 * then sends the update to every socket of the room.
 *
 * Prints `mesh: NAME listening on http://HOST:PORT` like the other bench servers.
 */
import { createServer, type IncomingMessage } from 'node:http'
import { createRequire } from 'node:module'
import type { Duplex } from 'node:stream'
import { getYDoc, setupWSConnection } from '@y/websocket-server/utils'
import { now } from './clock.js'
import { serveIpc } from './ipc.js'
import { parseServeArgs } from './serve-args.js'
import type { YWebsocketOps } from './worker-ops.js'

/** The part of `ws`'s server API (v6 and v8 alike) that the reference server uses. */
interface UpgradeServer {
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer, done: (ws: unknown) => void): void
  emit(event: 'connection', ws: unknown, request: IncomingMessage): boolean
  on(event: 'connection', listener: (ws: never, request: IncomingMessage) => void): void
  close(): void
}

// The `ws` the package itself depends on (6.x), not the bench's: the reference as shipped.
const requireFromPackage = createRequire(createRequire(import.meta.url).resolve('@y/websocket-server/package.json'))
const ws = requireFromPackage('ws') as { Server: new (options: { noServer: true }) => UpgradeServer }
const versions = {
  server: (requireFromPackage('./package.json') as { version: string }).version,
  ws: (requireFromPackage('ws/package.json') as { version: string }).version,
}

const args = parseServeArgs(process.argv.slice(2))
const wss = new ws.Server({ noServer: true })
const server = createServer((_request, response) => {
  response.writeHead(200, { 'Content-Type': 'text/plain' })
  response.end('okay')
})
wss.on('connection', setupWSConnection)
server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
  wss.handleUpgrade(request, socket, head, (conn) => wss.emit('connection', conn, request))
})

const shutdown = (): void => {
  wss.close()
  server.close()
  process.exit(0)
}
process.on('SIGTERM', shutdown)
process.on('SIGINT', shutdown)

serveIpc<YWebsocketOps>({
  now: () => now(),
  cpu: () => {
    const { user, system } = process.cpuUsage()
    return user + system
  },
  write: ({ room, key, value }) => {
    const at = now()
    getYDoc(room).getMap('kv').set(key, value)
    return { at }
  },
  version: () => versions,
  close: () => {
    shutdown()
    return null
  },
})

server.listen(args.port, args.host, () => {
  const address = server.address()
  const port = typeof address === 'object' && address ? address.port : args.port
  process.stdout.write(`mesh: ${args.name} listening on http://${args.host}:${port}\n`)
})
