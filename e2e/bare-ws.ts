/**
 * A bare `ws` server in a process of its own, with the live-memory probe: the floor any
 * WebSocket server shows for a socket, against which `mesh serve`'s cost per socket is judged
 * (e2e/socket-cost.test.ts, and the fuzz report beside each campaign that holds sockets).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { LIVE_MEMORY_OPTIONS } from './live-memory.js'

/** A `ws` server that only answers each socket once (as a node sends SyncStep1). */
const BARE_WS = `
import { createServer } from 'node:http'
import { WebSocketServer } from 'ws'
const server = createServer((req, res) => res.end())
new WebSocketServer({ server }).on('connection', (ws) => {
  ws.on('message', () => {})
  ws.send(new Uint8Array([0, 0, 1, 0]))
})
server.listen(0, '127.0.0.1', () => console.log('bare listening on ' + server.address().port))
`

/** A running bare ws server. */
export interface BareWs {
  child: ChildProcess
  port: number
  stop(): void
}

/** Starts a bare ws server on 127.0.0.1, port 0; resolves once it listens. */
export const startBareWs = async (): Promise<BareWs> => {
  const child = spawn(process.execPath, ['--input-type=module', '-e', BARE_WS], {
    env: { ...process.env, NODE_OPTIONS: LIVE_MEMORY_OPTIONS },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const port = await new Promise<number>((resolve, reject) => {
    let out = ''
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString()
      const match = /bare listening on (\d+)/.exec(out)
      if (match) resolve(Number(match[1]))
    })
    child.once('exit', (code) => reject(new Error(`bare ws server exited (${String(code)})`)))
  })
  return { child, port, stop: () => void child.kill('SIGKILL') }
}
