/**
 * Layout baseline worker, controlled by the bench over IPC: a bare `Y.Doc` holding keys in one
 * layout, with no Mesh around it, so the memory and cold-join figures of Mesh can be read
 * against the layout they are built on and the one they replaced.
 *
 * - `--layout map`: a `Y.Map` (`map.set(key, value)`): the layout Mesh used before issue 14.
 * - `--layout array`: `{ key, val }` entries in `doc.getArray('kv')`, y-utility's `YKeyValue`
 *   layout, done the cheapest way: a write appends the new entry and deletes the key's
 *   previous one by its id (a `Map` from key to id stands in for Mesh's index).
 *
 * Anyone who opens a WebSocket to it gets its whole state as one V2 update (how the cold-join
 * baselines transfer a store). Prints `mesh: NAME listening on http://HOST:PORT` like the
 * other bench servers.
 *
 * Usage (the bench does this): node layout-worker.js --layout map|array --port 0 --host 127.0.0.1 --name x
 */
import { createServer } from 'node:http'
import { WebSocket, WebSocketServer } from 'ws'
import * as Y from 'yjs'
import { cpuMicros, nextTurn, now } from './clock.js'
import { serveIpc } from './ipc.js'
import { collectGarbage } from './serve-args.js'
import type { ChurnArgs, ChurnResult, DistinctArgs, DistinctResult, HeapFigures, LayoutOps } from './worker-ops.js'

const argv = process.argv.slice(2)
const flag = (name: string, fallback: string): string => {
  const i = argv.indexOf(name)
  return i >= 0 ? (argv[i + 1] ?? fallback) : fallback
}
const layout = flag('--layout', 'map')
if (layout !== 'map' && layout !== 'array') throw new Error('--layout must be map or array')
const host = flag('--host', '127.0.0.1')
const name = flag('--name', layout)

const doc = new Y.Doc()
// Both are named `kv`, as in Mesh (before and after issue 14); a worker uses only one of them.
const map = layout === 'map' ? doc.getMap<number>('kv') : undefined
const array = layout === 'array' ? doc.getArray<{ key: string; val: number }>('kv') : undefined
/** Array layout: where each key's live entry is. */
const ids = new Map<string, Y.ID>()

/** Number of keys held. */
const size = (): number => map?.size ?? array?.length ?? 0

/** Writes `entries` in one transaction, in the worker's layout. */
const write = (entries: ReadonlyArray<readonly [string, number]>): void => {
  if (map) {
    doc.transact(() => {
      for (const [key, value] of entries) map.set(key, value)
    })
    return
  }
  doc.transact((tr) => {
    for (const [key] of entries) {
      const id = ids.get(key)
      if (!id) continue
      const start = Y.getItemCleanStart(tr, id)
      const item = start.length > 1 ? Y.getItemCleanEnd(tr, doc.store, id) : start
      item.delete(tr)
    }
    const clock = Y.getState(doc.store, doc.clientID)
    array?.push(entries.map(([key, val]) => ({ key, val })))
    entries.forEach(([key], i) => ids.set(key, Y.createID(doc.clientID, clock + i)))
  })
}

const heap = (): HeapFigures => {
  collectGarbage()
  const m = process.memoryUsage()
  return { heapUsed: m.heapUsed, rss: m.rss, external: m.external, arrayBuffers: m.arrayBuffers }
}

// The same loops as the Mesh worker's churn and distinct ops, one transaction per event-loop turn.
const churn = async ({ keys, writes }: ChurnArgs): Promise<ChurnResult> => {
  for (let i = 0; i < keys; i++) {
    write([[`h${i}`, 0]])
    await nextTurn()
  }
  const before = heap()
  const cpu0 = cpuMicros()
  const t0 = now()
  for (let i = 0; i < writes; i++) {
    write([[`h${i % keys}`, i]])
    await nextTurn()
  }
  const ms = now() - t0
  const cpuUs = cpuMicros() - cpu0
  const after = heap()
  return { ms, cpuUs, before, after, stateBytes: Y.encodeStateAsUpdateV2(doc).length }
}

const distinct = async ({ prefix, count, batch }: DistinctArgs): Promise<DistinctResult> => {
  const before = heap()
  const cpu0 = cpuMicros()
  const t0 = now()
  const tenth = Math.max(1, Math.floor(count / 10))
  let firstTenthMs = 0
  let lastTenthStart = t0
  for (let i = 0; i < count;) {
    const entries: Array<[string, number]> = []
    const end = Math.min(count, i + batch)
    if (i <= count - tenth && end > count - tenth) lastTenthStart = now()
    for (; i < end; i++) entries.push([prefix + i, i])
    write(entries)
    await nextTurn()
    if (firstTenthMs === 0 && i >= tenth) firstTenthMs = now() - t0
  }
  const t1 = now()
  const cpuUs = cpuMicros() - cpu0
  return { ms: t1 - t0, firstTenthMs, lastTenthMs: t1 - lastTenthStart, cpuUs, before, after: heap() }
}

const coldJoin = async ({ url, keys, timeoutMs }: { url: string; keys: number; timeoutMs: number }) => {
  const before = heap()
  const cpu0 = cpuMicros()
  const t0 = now()
  await new Promise<void>((resolve, reject) => {
    const ws = new WebSocket(url, { maxPayload: 2 ** 30 })
    const timer = setTimeout(() => {
      ws.terminate()
      reject(new Error(`${name}: no state from ${url} within ${timeoutMs} ms`))
    }, timeoutMs)
    ws.once('message', (data: Buffer) => {
      clearTimeout(timer)
      Y.applyUpdateV2(doc, data)
      ws.close()
      resolve()
    })
    ws.once('error', (error) => {
      clearTimeout(timer)
      reject(error)
    })
  })
  const ms = now() - t0
  const cpuUs = cpuMicros() - cpu0
  if (size() < keys) throw new Error(`${name}: holds ${size()} of ${keys} keys after the join`)
  return { ms, cpuUs, before, after: heap(), keys: size() }
}

const server = createServer((_req, res) => res.writeHead(404).end())
const wss = new WebSocketServer({ server })
wss.on('connection', (ws) => {
  ws.on('error', () => ws.terminate())
  ws.send(Y.encodeStateAsUpdateV2(doc))
})

const shutdown = (): void => {
  for (const ws of wss.clients) ws.terminate()
  wss.close()
  server.close()
  doc.destroy()
  process.exit(0)
}
process.on('SIGTERM', shutdown)
process.on('SIGINT', shutdown)

serveIpc<LayoutOps>({
  now: () => now(),
  churn,
  distinct,
  'cold-join': coldJoin,
  close: () => {
    shutdown()
    return null
  },
})

server.listen(0, host, () => {
  const address = server.address()
  const port = typeof address === 'object' && address ? address.port : 0
  process.stdout.write(`mesh: ${name} listening on http://${host}:${port}\n`)
})
