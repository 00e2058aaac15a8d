/**
 * What a held, idle socket costs `mesh serve` (issue 12: no amplification above 10× from
 * unauthenticated input): anyone may open one with a 160-byte upgrade, so the node's own share
 * of its cost is kept small. Measured as live heap (after a full garbage collection) per socket,
 * against a bare `ws` server on the same machine, whose cost is the floor.
 */
import { spawn } from 'node:child_process'
import { afterAll, expect, it } from 'vitest'
import WebSocket from 'ws'
import { startNode, stopAll } from './harness.js'
import { LIVE_MEMORY_OPTIONS, liveMemory } from './live-memory.js'

afterAll(stopAll)

const SOCKETS = 300
/** What `mesh serve` may keep per idle socket beyond a bare ws server, bytes. */
const OWN_COST = 5 * 1024

/** A `ws` server that only answers each socket once (as a node sends SyncStep1), with the probe. */
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

const startBare = async () => {
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
  return { child, port }
}

/** Live heap per socket of `SOCKETS` idle sockets to `url`, on the process `child`. */
const perSocket = async (child: Parameters<typeof liveMemory>[0], url: string): Promise<number> => {
  const open = (): Promise<WebSocket> =>
    new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { perMessageDeflate: false })
      ws.once('open', () => resolve(ws))
      ws.once('error', reject)
    })
  // Warm-up: what the first sockets make the runtime compile and allocate once is no socket's cost.
  for (const ws of await Promise.all(Array.from({ length: 50 }, open))) ws.terminate()
  const before = await liveMemory(child)
  const sockets: WebSocket[] = []
  for (let i = 0; i < SOCKETS; i += 100) sockets.push(...(await Promise.all(Array.from({ length: 100 }, open))))
  const held = await liveMemory(child)
  for (const ws of sockets) ws.terminate()
  if (before === undefined || held === undefined) throw new Error('the process did not report its live memory')
  return (held - before) / SOCKETS
}

it(`an idle light peer or peer socket costs mesh serve at most ${OWN_COST} bytes of live heap more than a bare ws server`, async () => {
  const bare = await startBare()
  try {
    const floor = await perSocket(bare.child, `ws://127.0.0.1:${bare.port}/mesh/default`)
    const node = await startNode({ name: 'socket-cost', env: { NODE_OPTIONS: LIVE_MEMORY_OPTIONS } })
    const light = await perSocket(node.child, `ws://127.0.0.1:${node.port}/mesh/default`)
    const peer = await perSocket(node.child, `ws://127.0.0.1:${node.port}/mesh`)
    const costs = `bare ws ${floor.toFixed(0)} B, light peer ${light.toFixed(0)} B, peer socket before its hello ${peer.toFixed(0)} B`
    console.log(`live heap per idle socket: ${costs}`)
    expect(light - floor, costs).toBeLessThan(OWN_COST)
    expect(peer - floor, costs).toBeLessThan(OWN_COST)
  } finally {
    bare.child.kill('SIGKILL')
  }
})
