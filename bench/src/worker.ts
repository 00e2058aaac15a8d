/**
 * Bench worker: one Mesh node (`@mesh/core`) in its own process, controlled by the bench
 * over IPC. It serves the peer and light-peer endpoints with core's `attachToServer` and
 * the REST API under `/mesh/api`, and prints the same `mesh: NAME listening on
 * http://HOST:PORT` line as `mesh serve`, so the bench can start either.
 *
 * Usage (the bench does this): node worker.js --port 0 --host 127.0.0.1 --name a [--join URL]...
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { attachToServer, createRestHandler, MeshNode, type ChangeEvent } from '@mesh/core'
import * as Y from 'yjs'
import { cpuMicros, nextTurn, now } from './clock.js'
import { serveIpc } from './ipc.js'
import { recipeOps } from './recipe-ops.js'
import { startWatch, stopWatch } from './pause-watch.js'
import { routingOps } from './routing-ops.js'
import { collectGarbage, parseServeArgs, sleep } from './serve-args.js'
import type {
  ArmArgs,
  ChurnArgs,
  ChurnResult,
  DistinctArgs,
  DistinctResult,
  HeapFigures,
  NodeOps,
  PutLoopArgs,
  WaitResult,
} from './worker-ops.js'

const args = parseServeArgs(process.argv.slice(2))
// Gossip discovery stays off unless asked for: the bench decides the topology (a chain must stay a chain).
const node = new MeshNode({ name: args.name, maxPeers: args.maxPeers ?? 0 })
const rest = createRestHandler(node)
const API = '/mesh/api'

const readBody = (req: IncomingMessage): Promise<string> =>
  new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    req.on('error', reject)
  })

const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
  const url = new URL(req.url ?? '/', 'http://localhost')
  if (!url.pathname.startsWith(`${API}/`)) {
    res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not found"}')
    return
  }
  const length = req.headers['content-length']
  rest({
    method: req.method ?? 'GET',
    path: url.pathname.slice(API.length),
    query: url.searchParams,
    contentLength: length === undefined ? undefined : Number(length),
    body: () => readBody(req),
    header: (name) => {
      const value = req.headers[name.toLowerCase()]
      return Array.isArray(value) ? value.join(', ') : value
    },
  }).then(
    (answer) => res.writeHead(answer.status, { 'content-type': 'application/json' }).end(JSON.stringify(answer.body)),
    () => res.writeHead(500).end(),
  )
}

const server = createServer(onRequest)
const detach = attachToServer(server, { node })

// ------------------------------------------------------------------ counting applied keys

interface Counter {
  target: number
  seen: number
  prefix: string | undefined
  times: number[] | undefined
  doneAt: number | undefined
  done: Promise<void>
  resolve: () => void
}

let counter: Counter | undefined

const onChange = (event: ChangeEvent): void => {
  const c = counter
  if (!c || c.doneAt !== undefined) return
  if (c.prefix === undefined || c.times === undefined) c.seen += event.keys.length
  else {
    const at = now()
    const { prefix, times } = c
    for (const key of event.keys) {
      if (!key.startsWith(prefix)) continue
      const index = Number(key.slice(prefix.length))
      if (times[index] === -1) {
        times[index] = at
        c.seen++
      }
    }
  }
  if (c.seen >= c.target) {
    c.doneAt = now()
    node.off('change', onChange)
    c.resolve()
  }
}

const arm = ({ count, timesPrefix }: ArmArgs): null => {
  node.off('change', onChange)
  let resolve = () => {}
  const done = new Promise<void>((r) => (resolve = r))
  counter = {
    target: count,
    seen: 0,
    prefix: timesPrefix,
    times: timesPrefix === undefined ? undefined : new Array<number>(count).fill(-1),
    doneAt: undefined,
    done,
    resolve,
  }
  node.on('change', onChange)
  return null
}

const wait = async ({ timeoutMs }: { timeoutMs: number }): Promise<WaitResult> => {
  const c = counter
  if (!c) throw new Error('wait without arm')
  let timer: ReturnType<typeof setTimeout> | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${args.name}: ${c.seen} of ${c.target} keys applied after ${timeoutMs} ms`)),
      timeoutMs,
    )
  })
  try {
    await Promise.race([c.done, timeout])
  } finally {
    clearTimeout(timer)
  }
  counter = undefined
  return { doneAt: c.doneAt ?? now(), ...(c.times ? { times: c.times } : {}) }
}

// ------------------------------------------------------------------ writing

const putLoop = async ({ prefix, count, batch, perTurn }: PutLoopArgs) => {
  const startAt = now()
  let i = 0
  if (batch <= 1) {
    // `perTurn` puts in flight per turn: a put resolves once applied (at the end of its turn),
    // so awaiting each before the next would make every put a turn, and a transaction, of its own.
    const turn: Array<Promise<void>> = []
    while (i < count) {
      const end = Math.min(count, i + perTurn)
      for (; i < end; i++) turn.push(node.put(prefix + i, i))
      await Promise.all(turn.splice(0))
      await nextTurn()
    }
  } else {
    while (i < count) {
      const turnEnd = Math.min(count, i + perTurn)
      while (i < turnEnd) {
        const entries: Record<string, number> = {}
        const end = Math.min(turnEnd, i + batch)
        for (; i < end; i++) entries[prefix + i] = i
        await node.put(entries)
      }
      await nextTurn()
    }
  }
  return { startAt, endAt: now() }
}

const paced = async ({ prefix, count, rate }: { prefix: string; count: number; rate: number }) => {
  const sent = new Array<number>(count).fill(0)
  const t0 = now()
  let i = 0
  while (i < count) {
    const due = Math.min(count, Math.floor(((now() - t0) * rate) / 1000) + 1)
    for (; i < due; i++) {
      sent[i] = now()
      await node.put(prefix + i, i)
    }
    if (i < count) await sleep(Math.max(0, t0 + (i * 1000) / rate - now()))
  }
  return { sent }
}

const fill = async ({ prefix, count, batch }: { prefix: string; count: number; batch: number }) => {
  const t0 = now()
  for (let i = 0; i < count;) {
    const entries: Record<string, number> = {}
    const end = Math.min(count, i + batch)
    for (; i < end; i++) entries[prefix + i] = i
    await node.put(entries)
    await nextTurn()
  }
  return { ms: now() - t0 }
}

const heap = (): HeapFigures => {
  collectGarbage()
  const m = process.memoryUsage()
  return { heapUsed: m.heapUsed, rss: m.rss, external: m.external, arrayBuffers: m.arrayBuffers }
}

const coldJoin = async ({ url, keys, timeoutMs }: { url: string; keys: number; timeoutMs: number }) => {
  const before = heap()
  const t0 = now()
  await node.join([url], { timeoutMs })
  await node.syncUp({ timeoutMs })
  if (node.data.size < keys) {
    arm({ count: keys - node.data.size })
    await wait({ timeoutMs })
  }
  const ms = now() - t0
  return { ms, before, after: heap(), keys: node.data.size }
}

// Hot keys are `h<i>`, distinct keys `<prefix><i>`: small integer values, like the other figures.
const churn = async ({ keys, writes }: ChurnArgs): Promise<ChurnResult> => {
  for (let i = 0; i < keys; i++) await node.put(`h${i}`, 0)
  const before = heap()
  const cpu0 = cpuMicros()
  const t0 = now()
  // `put` resolves when the turn's puts are applied, so each await is its own turn and transaction.
  for (let i = 0; i < writes; i++) await node.put(`h${i % keys}`, i)
  const ms = now() - t0
  const cpuUs = cpuMicros() - cpu0
  const after = heap()
  const stateBytes = Y.encodeStateAsUpdateV2(node.room('default').doc).length
  return { ms, cpuUs, before, after, stateBytes }
}

const distinct = async ({ prefix, count, batch }: DistinctArgs): Promise<DistinctResult> => {
  const before = heap()
  const cpu0 = cpuMicros()
  const t0 = now()
  const tenth = Math.max(1, Math.floor(count / 10))
  let firstTenthMs = 0
  let lastTenthStart = t0
  for (let i = 0; i < count;) {
    const entries: Record<string, number> = {}
    const end = Math.min(count, i + batch)
    if (i <= count - tenth && end > count - tenth) lastTenthStart = now()
    for (; i < end; i++) entries[prefix + i] = i
    await node.put(entries)
    if (firstTenthMs === 0 && i >= tenth) firstTenthMs = now() - t0
  }
  const t1 = now()
  const cpuUs = cpuMicros() - cpu0
  return { ms: t1 - t0, firstTenthMs, lastTenthMs: t1 - lastTenthStart, cpuUs, before, after: heap() }
}

// ------------------------------------------------------------------ lifecycle

let closing: Promise<void> | undefined
const shutdown = (): Promise<void> =>
  (closing ??= (async () => {
    await node.close()
    detach()
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
    process.exit(0)
  })())

process.on('SIGTERM', () => void shutdown())
process.on('SIGINT', () => void shutdown())

serveIpc<NodeOps>({
  now: () => now(),
  cpu: () => {
    const { user, system } = process.cpuUsage()
    return user + system
  },
  relays: () => node.status().relays ?? { duplicatesApplied: 0, duplicatesDropped: 0 },
  watch: ({ on }) => {
    if (!on) return stopWatch()
    startWatch()
    return null
  },
  join: async ({ urls }) => {
    await node.join(urls)
    await node.syncUp()
    return null
  },
  settle: async () => {
    await node.syncUp()
    return null
  },
  links: () =>
    node.status().peers.map((p) => ({
      id: p.id,
      name: p.name,
      link: p.link,
    })),
  arm,
  wait,
  'put-loop': putLoop,
  paced,
  fill,
  heap,
  'cold-join': coldJoin,
  churn,
  distinct,
  ...routingOps(node),
  ...recipeOps(node),
  write: async ({ key, value }) => {
    const at = now()
    await node.put(key, value)
    return { at }
  },
  close: async () => {
    await shutdown()
    return null
  },
})

server.listen(args.port, args.host, () => {
  const address = server.address()
  const port = typeof address === 'object' && address ? address.port : args.port
  node.url = `ws://${args.host}:${port}/mesh`
  process.stdout.write(`mesh: ${args.name} listening on http://${args.host}:${port}\n`)
  if (args.join.length > 0) node.join(args.join).catch(() => {})
})
