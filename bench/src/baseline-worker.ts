/**
 * Baseline worker, controlled by the bench over IPC. Two roles:
 *
 * - `--role naive`: what a user would write by hand instead of Mesh: a plain `Y.Doc`, a `ws`
 *   server, and one WebSocket message per Yjs update, sent to every peer of a full mesh
 *   and applied with `Y.applyUpdate` on arrival. No batching, no relaying.
 * - `--role ws`: raw `ws` sockets: a sink that counts binary messages, or (after `connect`)
 *   a source that sends them one `send` per message.
 *
 * Prints `mesh: NAME listening on http://HOST:PORT` like the other bench servers.
 */
import { createServer } from 'node:http'
import { WebSocket, WebSocketServer } from 'ws'
import * as Y from 'yjs'
import { nextTurn, now } from './clock.js'
import { pacedLoop } from './paced-loop.js'
import { serveIpc } from './ipc.js'
import { parseServeArgs } from './serve-args.js'
import type { ArmArgs, BaselineOps, PutLoopArgs, WaitResult } from './worker-ops.js'

const args = parseServeArgs(process.argv.slice(2))
if (args.role !== 'naive' && args.role !== 'ws') throw new Error('--role must be naive or ws')
const naive = args.role === 'naive'

const server = createServer((_req, res) => res.writeHead(404).end())
const wss = new WebSocketServer({ server })
const sockets = new Set<WebSocket>()

const doc = new Y.Doc()
const map = doc.getMap<number>('kv')

let echo = false
/** Round trips the `rpc` source still waits for, and what to do on each answer. */
let onAnswer: (() => void) | undefined
let target = 0
let seen = 0
let doneAt: number | undefined
let done: (() => void) | undefined

const count = (n: number): void => {
  if (doneAt !== undefined || target === 0) return
  seen += n
  if (seen >= target) {
    doneAt = now()
    done?.()
  }
}

const adopt = (ws: WebSocket): void => {
  sockets.add(ws)
  ws.on('message', (data: Buffer) => {
    if (naive) Y.applyUpdate(doc, data, ws)
    else if (echo) ws.send(data, { binary: true })
    else if (onAnswer) onAnswer()
    else count(1)
  })
  ws.on('close', () => sockets.delete(ws))
  ws.on('error', () => ws.terminate())
}

wss.on('connection', adopt)

if (naive) {
  map.observe((event) => count(event.keysChanged.size))
  doc.on('update', (update: Uint8Array, origin: unknown) => {
    // Only local changes go out: in a full mesh every peer hears from the writer directly.
    if (origin !== null) return
    for (const ws of sockets) ws.send(update)
  })
}

const arm = ({ count: n }: ArmArgs): null => {
  target = n
  seen = 0
  doneAt = undefined
  done = undefined
  return null
}

const wait = async ({ timeoutMs }: { timeoutMs: number }): Promise<WaitResult> => {
  if (doneAt === undefined) {
    let timer: ReturnType<typeof setTimeout> | undefined
    try {
      await new Promise<void>((resolve, reject) => {
        done = resolve
        timer = setTimeout(
          () => reject(new Error(`${args.name}: ${seen} of ${target} arrived after ${timeoutMs} ms`)),
          timeoutMs,
        )
      })
    } finally {
      clearTimeout(timer)
    }
  }
  target = 0
  return { doneAt: doneAt ?? now() }
}

const connect = async ({ urls }: { urls: string[] }): Promise<null> => {
  await Promise.all(
    urls.map(
      (url) =>
        new Promise<void>((resolve, reject) => {
          const ws = new WebSocket(url)
          adopt(ws)
          ws.once('open', () => resolve())
          ws.once('error', reject)
        }),
    ),
  )
  return null
}

const putLoop = async ({ prefix, count: n, batch, perTurn }: PutLoopArgs) => {
  if (batch !== 1) throw new Error('the naive baseline writes one key per update')
  const startAt = now()
  for (let i = 0; i < n;) {
    const end = Math.min(n, i + perTurn)
    for (; i < end; i++) map.set(prefix + i, i)
    await nextTurn()
  }
  return { startAt, endAt: now() }
}

/** Keeps the sender's buffer bounded without batching: waits while the kernel catches up. */
const HIGH_WATER = 4 * 1024 * 1024

const blast = async ({ count: n, size }: { count: number; size: number }) => {
  const ws = [...sockets][0]
  if (!ws) throw new Error('blast before connect')
  const payload = Buffer.alloc(size, 7)
  const startAt = now()
  const deadline = startAt + 120_000
  for (let i = 0; i < n;) {
    const end = Math.min(n, i + 256)
    for (; i < end; i++) ws.send(payload, { binary: true })
    while (ws.bufferedAmount > HIGH_WATER) {
      if (now() > deadline) throw new Error('socket did not drain')
      await nextTurn()
    }
  }
  return { startAt, endAt: now() }
}

/** Request/response over one socket: answers come back in order, so a counter is enough. */
const rpc = async ({ count: n, size, inflight }: { count: number; size: number; inflight: number }) => {
  const ws = [...sockets][0]
  if (!ws) throw new Error('rpc before connect')
  const payload = Buffer.alloc(size, 7)
  const startAt = now()
  let sent = 0
  let answered = 0
  await new Promise<void>((resolve) => {
    onAnswer = () => {
      answered++
      if (sent < n) {
        sent++
        ws.send(payload, { binary: true })
      }
      if (answered === n) resolve()
    }
    for (; sent < Math.min(inflight, n); sent++) ws.send(payload, { binary: true })
  })
  onAnswer = undefined
  return { startAt, endAt: now() }
}

/**
 * The same round trips offered at a fixed `rate` by the routed calls' pacer: each request's
 * answer comes back in order, so the answer resolves the oldest request waiting.
 */
const rpcPaced = ({
  count: n,
  size,
  rate,
  inflight,
}: {
  count: number
  size: number
  rate: number
  inflight: number
}) => {
  const ws = [...sockets][0]
  if (!ws) throw new Error('rpc-paced before connect')
  const payload = Buffer.alloc(size, 7)
  const waiting: Array<() => void> = []
  let head = 0
  onAnswer = () => waiting[head++]?.()
  return pacedLoop(
    n,
    rate,
    inflight,
    (i) =>
      new Promise<number>((resolve) => {
        waiting.push(() => resolve(i))
        ws.send(payload, { binary: true })
      }),
  ).finally(() => {
    onAnswer = undefined
  })
}

const shutdown = (): void => {
  for (const ws of sockets) ws.terminate()
  wss.close()
  server.close()
  doc.destroy()
  process.exit(0)
}
process.on('SIGTERM', shutdown)
process.on('SIGINT', shutdown)

serveIpc<BaselineOps>({
  now: () => now(),
  cpu: () => {
    const { user, system } = process.cpuUsage()
    return user + system
  },
  connect,
  arm,
  wait,
  'put-loop': putLoop,
  blast,
  echo: () => {
    echo = true
    return null
  },
  rpc,
  'rpc-paced': rpcPaced,
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
