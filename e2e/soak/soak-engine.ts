/**
 * The soak run (issue 8, item 7; issue 14, item 5): three `mesh serve` processes under a
 * steady REST write rate (2,000 writes/s by default: hot keys overwritten, some with a TTL,
 * some deletes, a few keys written from every node at once), with y-websocket light peers
 * connecting, writing through y-utility's `YKeyValue`, setting awareness and leaving (some
 * cleanly, some by dropping the socket). It samples every node's heap, light peers, rooms,
 * peers and light members over time, then checks that nothing leaks and nothing is lost:
 *
 * - the live heap (after a forced full collection) grows at most `maxSlopeMiBPerMin` after
 *   warm-up (2 minutes and {@link WARMUP_WRITES} acknowledged writes), on every node. Each
 *   light peer that writes leaves its Yjs client id in the document for good (its structs and
 *   state-vector entry, about 0.5-1 KB of heap on every node: Yjs's floor), so the light churn
 *   alone adds to the slope;
 * - the rate offered was the rate asked for;
 * - every acknowledged write is there: each owned key is written by one node, one write at a
 *   time, so its last acknowledged write (a value, a delete, or a TTL that has expired by the
 *   end) is what every node must hold once the load stops;
 * - all three nodes end with the same store;
 * - once the churn stops, light peers, light members (awareness states) and rooms go back to
 *   what they were.
 */
import * as prng from 'lib0/prng'
import { readFile } from 'node:fs/promises'
import { Agent, request as httpRequest } from 'node:http'
import { fileURLToPath } from 'node:url'
import { isDeepStrictEqual } from 'node:util'
import WebSocket from 'ws'
import { WebsocketProvider } from 'y-websocket'
import * as Y from 'yjs'
import { YKeyValue } from 'y-utility/y-keyvalue'
import { metric, readMetrics } from '../fault/metrics.js'
import { waitUntil } from '@mesh/core/testing'
import { E2E_WAIT_MS, startNode, type MeshProcess } from '../harness.js'

/** Options of {@link runSoak}. */
export interface SoakOptions {
  minutes: number
  seed: number
  /** REST writes per second, spread over the nodes. Default 2,000. */
  writesPerSecond?: number
  /** Keys the REST writes overwrite (each owned by one node). Default 1,000. */
  hotKeys?: number
  /** Heap samples before this are warm-up, left out of the slope. Default 2 min (at most 20 % of the run). */
  warmupMs?: number
  /** Light peers connected at most at once (0: no churn). Default 12. */
  maxLightPeers?: number
  /** Whether each light peer writes one key (a new Yjs client id in the history for good). Default true. */
  lightWrites?: boolean
  /** Sampling interval. Default 5 s (or less for short runs). */
  sampleMs?: number
  /**
   * Old-space limit of each node (`--max-old-space-size`), MiB. A modest limit makes V8 collect
   * garbage promptly, so the samples track live memory, and a real leak ends in a crash.
   * Default 128.
   */
  nodeHeapMiB?: number
  /**
   * Preload e2e/soak/live-heap.cjs into the nodes: a full garbage collection every sample
   * interval, then the surviving (live) heap printed on standard output, the exact quantity a
   * leak makes grow. Default true; false fits the troughs of the sampled heap instead.
   */
  liveHeap?: boolean
  /** Live heap growth allowed after warm-up, MiB per minute. Default 0.1. */
  maxSlopeMiBPerMin?: number
  log?: (line: string) => void
}

/** What happened to the REST writes. */
export interface WriteTally {
  /** Writes the rate asked for over the run. */
  offered: number
  /** Answered 200 (or 404 for a delete of an absent key). */
  ok: number
  failed: number
  /** Why writes failed: the status or error, without the key, and how often. */
  failures: Record<string, number>
  /** Writes sent again because the node closed the idle keep-alive socket they went out on. */
  resent: number
  /** Acknowledged writes per second over the run. */
  ackedPerSecond: number
  /** Owned keys whose last acknowledged write was checked on every node at the end. */
  checked: number
  /** Of those, (key, node) pairs where the node did not hold that write: acknowledged writes lost. */
  lost: number
  /** A few lost writes, for the report. */
  lostExamples: string[]
}

/** One sample of one node. */
export interface NodeSample {
  atMs: number
  heapBytes?: number
  rssBytes?: number
  lightPeers: number
  rooms: number
  peers: number
  lightMembers: number
  /** Client ids in the state vectors of every room (each light peer that wrote adds one, for good). */
  clients: number
  /** CPU time the process used so far (user + system), in seconds, where /proc tells. */
  cpuSeconds?: number
}

/** What a soak run measured. */
export interface SoakReport {
  seed: number
  minutes: number
  /** The REST writes (see {@link WriteTally}). */
  writes: WriteTally
  lightSessions: number
  lightWrites: number
  /** CPU seconds this process (the REST writer and the light peers) used during the load. */
  driverCpuSeconds: number
  samples: Record<string, NodeSample[]>
  /** Heap slope after warm-up, MiB/min, per node, fitted on the troughs of the sawtooth (undefined without a heap metric). */
  slopes: Record<string, number | undefined>
  /** The same over every sample, garbage included. */
  rawSlopes: Record<string, number | undefined>
  /** Live heap after each forced full collection, per node: [ms since the run started, bytes]. */
  live: Record<string, Array<[number, number]>>
  /** Of that live heap, V8's compiled code, per node: [ms since the run started, bytes]. */
  liveCode: Record<string, Array<[number, number]>>
  /** Slope of the compiled code alone after warm-up, MiB/min, per node (part of {@link slopes}). */
  codeSlopes: Record<string, number | undefined>
  /** What the slope was fitted on. */
  slopeBasis: string
  /** Samples before this (ms since the start) were left out of the slope. */
  warmupMs: number
  final: Record<string, NodeSample>
  baseline: Record<string, NodeSample>
  violations: string[]
  notes: string[]
}

interface StatusJson {
  lightPeers: number
  rooms: Record<string, { stateVector: Record<string, number> }>
  peers: Array<{ link: string }>
}

interface MemberJson {
  role: string
}

const MiB = 2 ** 20
const ROOMS = ['default', 'soak-0', 'soak-1', 'soak-2']

/** CPU seconds (user + system) of a process, from /proc (Linux); undefined elsewhere. */
const cpuSecondsOf = async (pid: number | undefined): Promise<number | undefined> => {
  if (pid === undefined) return undefined
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    // utime and stime are fields 14 and 15 of the line, in clock ticks (USER_HZ, 100 on Linux).
    return (Number(fields[11]) + Number(fields[12])) / 100
  } catch {
    return undefined
  }
}

const sampleNode = async (node: MeshProcess, atMs: number): Promise<NodeSample> => {
  const [metrics, status, members, cpuSeconds] = await Promise.all([
    readMetrics(node),
    node.api<StatusJson>('/status'),
    node.api<MemberJson[]>('/members'),
    cpuSecondsOf(node.child.pid),
  ])
  return {
    cpuSeconds,
    atMs,
    heapBytes: metric(metrics, 'mesh_heap_used_bytes'),
    rssBytes: metric(metrics, 'mesh_rss_bytes'),
    lightPeers: status.body.lightPeers,
    rooms: Object.keys(status.body.rooms).length,
    peers: status.body.peers.filter((p) => p.link === 'open').length,
    lightMembers: members.body.filter((m) => m.role === 'light').length,
    clients: Object.values(status.body.rooms).reduce((n, r) => n + Object.keys(r.stateVector).length, 0),
  }
}

/** Least-squares slope of y over x. */
export const slope = (points: ReadonlyArray<readonly [number, number]>): number => {
  const n = points.length
  if (n < 2) return 0
  const mx = points.reduce((s, [x]) => s + x, 0) / n
  const my = points.reduce((s, [, y]) => s + y, 0) / n
  let num = 0
  let den = 0
  for (const [x, y] of points) {
    num += (x - mx) * (y - my)
    den += (x - mx) ** 2
  }
  return den === 0 ? 0 : num / den
}

/**
 * Writes acknowledged before the heap slope starts (besides the minimum warm-up time): the store
 * remembers its last 10,000 removals (core's KvIndex) and the commit log its last 1,000
 * commits, so the live heap grows until that many overwrites happened on every node (about
 * 11,000 writes, 95 % of which remove an entry), and only then shows whether anything else
 * grows. Three times that, for margin.
 */
const WARMUP_WRITES = 30_000
/** Most REST writes in flight at once; beyond it the writer falls behind (and the report says so). */
const MAX_IN_FLIGHT = 256
/** How often the writer tops up to the asked rate. */
const WRITE_TICK_MS = 5
/** TTL of the TTL writes. */
const TTL_MS = 3000
/** Keys every node writes at once: concurrent writes of one key, which every replica must resolve alike. */
const SHARED_KEYS = 20

/** The last acknowledged write of an owned key. */
interface Acked {
  n: number
  /** Removed by a delete, or by its TTL (which the check waits out). */
  gone: boolean
}

/** The REST write load: what it wrote, what was acknowledged, and the last acknowledged write of each owned key. */
interface RestWriter {
  readonly inFlight: number
  readonly tally: { ok: number; failed: number }
  /** Owned keys whose last write was acknowledged (a failed write makes a key unknown until the next). */
  readonly acked: ReadonlyMap<string, Acked>
  /** When the last TTL write will have expired on every node. */
  readonly ttlDeadline: number
  write(): void
  /** Closes the keep-alive connections. */
  close(): void
}

/**
 * Writes over REST with keep-alive connections. Mix: 5 % deletes, 5 % puts with a TTL, 2 %
 * puts of {@link SHARED_KEYS} keys that every node writes, the rest plain overwrites of
 * `hotKeys` keys. Each hot key belongs to one node and has at most one write in flight, so
 * the order of its acknowledgements is the order of its writes, and the last one is what
 * every node must end up holding.
 */
const restWriter = (nodes: readonly MeshProcess[], options: { hotKeys: number; seed: number }): RestWriter => {
  const gen = prng.create(options.seed + 1)
  const agents = nodes.map(() => new Agent({ keepAlive: true, maxSockets: 64 }))
  const acked = new Map<string, Acked>()
  const busy = new Set<string>()
  const tally = { ok: 0, failed: 0, resent: 0, failures: {} as Record<string, number> }
  let inFlight = 0
  let seq = 0
  let ttlDeadline = 0

  const send = (
    node: number,
    method: string,
    key: string,
    query: string,
    body?: string,
    resent = false,
  ): Promise<number> =>
    new Promise((resolve, reject) => {
      const port = nodes[node]?.port
      const req = httpRequest(
        {
          host: '127.0.0.1',
          port,
          method,
          path: `/mesh/api/kv/${encodeURIComponent(key)}${query}`,
          agent: agents[node],
          headers:
            body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        },
        (res) => {
          res.resume()
          res.on('end', () => resolve(res.statusCode ?? 0))
          res.on('error', reject)
        },
      )
      req.setTimeout(15_000, () => req.destroy(new Error(`${method} ${key}: no answer within 15 s`)))
      req.on('error', (error: NodeJS.ErrnoException) => {
        // The server closed an idle keep-alive socket as this request went out on it, so the
        // request most likely never reached the node; HTTP clients resend it (Node's docs,
        // `request.reusedSocket`). PUT and DELETE are idempotent: resent once, and counted.
        if (req.reusedSocket && error.code === 'ECONNRESET' && !resent) {
          tally.resent++
          return resolve(send(node, method, key, query, body, true))
        }
        reject(error)
      })
      req.end(body)
    })

  const write = (): void => {
    const n = seq++
    const roll = prng.int31(gen, 0, 99)
    let key: string
    let node: number
    if (roll < 2) {
      key = `soak:shared:${prng.int31(gen, 0, SHARED_KEYS - 1)}`
      node = n % nodes.length
    } else {
      let k = prng.int31(gen, 0, options.hotKeys - 1)
      while (busy.has(`soak:${k}`)) k = (k + 1) % options.hotKeys
      key = `soak:${k}`
      node = k % nodes.length
      busy.add(key)
    }
    const owned = roll >= 2
    const del = roll >= 2 && roll < 7
    const ttl = roll >= 7 && roll < 12
    inFlight++
    const answer = del
      ? send(node, 'DELETE', key, '')
      : send(node, 'PUT', key, ttl ? `?ttl=${TTL_MS}` : '', JSON.stringify({ n, at: Date.now() }))
    answer
      .then((status) => {
        if (status !== 200 && !(del && status === 404)) throw new Error(`status ${status}`)
        tally.ok++
        if (owned) acked.set(key, { n, gone: del || ttl })
        if (ttl) ttlDeadline = Date.now() + TTL_MS
      })
      .catch((error: unknown) => {
        tally.failed++
        const reason = (error instanceof Error ? error.message : String(error)).replace(key, 'KEY')
        tally.failures[reason] = (tally.failures[reason] ?? 0) + 1
        if (owned) acked.delete(key)
      })
      .finally(() => {
        inFlight--
        if (owned) busy.delete(key)
      })
  }

  return {
    get inFlight() {
      return inFlight
    },
    tally,
    acked,
    get ttlDeadline() {
      return ttlDeadline
    },
    write,
    close: () => agents.forEach((a) => a.destroy()),
  }
}

/**
 * Once the load stopped: waits out the last TTL, waits until the three nodes hold the same
 * store, then checks on every node that each owned key holds its last acknowledged write.
 * Fills in `tally` and returns violations.
 */
const checkWrites = async (nodes: readonly MeshProcess[], writer: RestWriter, tally: WriteTally): Promise<string[]> => {
  const violations: string[] = []
  const wait = writer.ttlDeadline + 500 - Date.now()
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
  let stores: Array<Record<string, unknown>> = []
  try {
    await waitUntil(
      'the nodes did not converge to one store',
      async () => {
        stores = await Promise.all(nodes.map(async (n) => (await n.api<Record<string, unknown>>('/kv')).body))
        return stores.every((s) => isDeepStrictEqual(s, stores[0]))
      },
      { timeoutMs: 30_000 },
    )
  } catch (error) {
    const keys = new Set(stores.flatMap((s) => Object.keys(s)))
    const differing = [...keys].filter((k) => !stores.every((s) => isDeepStrictEqual(s[k], stores[0]?.[k])))
    violations.push(
      `${(error as Error).message}: ${differing.length} keys differ, e.g. ${differing.slice(0, 5).join(', ')}`,
    )
  }
  tally.checked = writer.acked.size
  for (const [key, want] of writer.acked) {
    stores.forEach((store, i) => {
      const held = store[key] as { n?: unknown } | undefined
      const ok = want.gone ? held === undefined : held?.n === want.n
      if (ok) return
      tally.lost++
      if (tally.lostExamples.length < 10) {
        tally.lostExamples.push(
          `${key} on ${String(nodes[i]?.name)}: ${want.gone ? 'removed' : `n=${want.n}`} acknowledged, holds ${JSON.stringify(held)}`,
        )
      }
    })
  }
  return violations
}

/** Runs the soak; resolves with the report (violations listed, never thrown). */
export const runSoak = async (options: SoakOptions): Promise<SoakReport> => {
  const log = options.log ?? (() => {})
  const gen = prng.create(options.seed)
  const durationMs = options.minutes * 60_000
  const sampleMs = options.sampleMs ?? Math.min(5000, Math.max(500, durationMs / 60))
  const rate = options.writesPerSecond ?? 2000
  const hotKeys = options.hotKeys ?? 1000
  const maxLight = options.maxLightPeers ?? 12
  const maxSlope = options.maxSlopeMiBPerMin ?? 0.1
  const minWarmMs = options.warmupMs ?? Math.min(120_000, durationMs * 0.2)
  /** Set once the warm-up writes are acknowledged: the slope starts at the later of that and `minWarmMs`. */
  let warmWritesAtMs: number | undefined
  const violations: string[] = []
  const notes: string[] = []
  const report: SoakReport = {
    seed: options.seed,
    minutes: options.minutes,
    writes: {
      offered: 0,
      ok: 0,
      failed: 0,
      failures: {},
      resent: 0,
      ackedPerSecond: 0,
      checked: 0,
      lost: 0,
      lostExamples: [],
    },
    lightSessions: 0,
    lightWrites: 0,
    driverCpuSeconds: 0,
    samples: {},
    slopes: {},
    rawSlopes: {},
    live: {},
    liveCode: {},
    codeSlopes: {},
    slopeBasis: '',
    warmupMs: 0,
    final: {},
    baseline: {},
    violations,
    notes,
  }

  const env = {
    MESH_SOAK_GC_MS: String(sampleMs),
    NODE_OPTIONS: [
      process.env.NODE_OPTIONS ?? '',
      `--max-old-space-size=${options.nodeHeapMiB ?? 128}`,
      options.liveHeap === false
        ? ''
        : `--require ${JSON.stringify(fileURLToPath(new URL('./live-heap.cjs', import.meta.url)))}`,
    ]
      .join(' ')
      .trim(),
  }
  const start = (name: string, join: string[]) =>
    startNode({ name, join, args: ['--log-level', 'warn'], env, timeoutMs: 30_000 })
  const a = await start('soak-a', [])
  const b = await start('soak-b', [a.peerUrl])
  const c = await start('soak-c', [a.peerUrl])
  const nodes = [a, b, c]
  for (const n of nodes) report.samples[n.name] = []
  const exits: string[] = []
  for (const n of nodes) void n.exited.then((e) => exits.push(`${n.name} exited (${String(e.code ?? e.signal)})`))

  const lights = new Set<{ provider: WebsocketProvider; doc: Y.Doc }>()
  // Each y-websocket provider listens for this process's exit.
  process.setMaxListeners(Math.max(process.getMaxListeners(), maxLight + 20))
  const timers: Array<ReturnType<typeof setInterval>> = []
  const started = Date.now()

  const writer = restWriter(nodes, { hotKeys, seed: options.seed })

  const leave = (light: { provider: WebsocketProvider; doc: Y.Doc }, abrupt: boolean) => {
    if (!lights.delete(light)) return
    if (abrupt) {
      // Drop the socket without a close handshake, as a crashed tab would.
      light.provider.shouldConnect = false
      const ws = light.provider.ws as unknown as WebSocket | null
      ws?.terminate()
    }
    light.provider.destroy()
    light.doc.destroy()
  }

  try {
    await waitUntil(
      'the three soak nodes never linked to each other',
      async () => {
        const peers = await Promise.all(nodes.map(async (n) => (await sampleNode(n, 0)).peers))
        return peers.every((p) => p === 2)
      },
      { timeoutMs: 20_000 },
    )
    // Every room exists from the start, so the room count has a fixed baseline. Each holds a key:
    // a room opened and left empty is released at once (rooms.ts) and would never reach b and c.
    for (const room of ROOMS.slice(1)) {
      const doc = new Y.Doc()
      const provider = new WebsocketProvider(`ws://127.0.0.1:${a.port}/mesh`, room, doc, {
        WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
        disableBc: true,
      })
      await waitUntil(`light peer never synced room ${room}`, () => provider.synced, { timeoutMs: E2E_WAIT_MS })
      new YKeyValue<unknown>(doc.getArray('kv')).set('soak:room', room)
      await waitUntil(
        `room ${room} never reached every node`,
        async () => (await Promise.all(nodes.map((n) => sampleNode(n, 0)))).every((s) => s.rooms > ROOMS.indexOf(room)),
        { timeoutMs: E2E_WAIT_MS },
      )
      provider.destroy()
      doc.destroy()
    }
    await waitUntil(
      'rooms did not reach every node',
      async () => {
        const samples = await Promise.all(nodes.map((n) => sampleNode(n, 0)))
        return samples.every((s) => s.rooms === ROOMS.length && s.lightPeers === 0 && s.lightMembers === 0) && samples
      },
      { timeoutMs: 10_000 },
    ).then((samples) => samples.forEach((s, i) => (report.baseline[nodes[i]?.name ?? ''] = s)))
    log(
      `soak seed ${options.seed}: ${options.minutes} min, ${rate} writes/s over 3 nodes (${hotKeys} hot keys), up to ${maxLight} light peers, sample every ${sampleMs} ms, warm-up ${minWarmMs / 1000} s and ${WARMUP_WRITES} writes`,
    )

    // Steady REST writes at `rate`: hot keys overwritten, some with a TTL, some deletes.
    const writesStarted = Date.now()
    const driverCpu = process.cpuUsage()
    let offered = 0
    let dropped = 0
    timers.push(
      setInterval(() => {
        let due = Math.floor(((Date.now() - writesStarted) * rate) / 1000) - dropped
        // A backlog of more than a second is dropped, not caught up: the report then shows the shortfall.
        if (due - offered > rate) {
          dropped += due - offered - rate
          due = offered + rate
        }
        while (offered < due && writer.inFlight < MAX_IN_FLIGHT) {
          offered++
          writer.write()
        }
      }, WRITE_TICK_MS),
    )

    // Light-peer churn: join a random node and room, set awareness, write a little, leave.
    timers.push(
      setInterval(() => {
        if (lights.size >= maxLight) return
        const node = prng.oneOf(gen, nodes)
        const room = prng.oneOf(gen, ROOMS)
        const doc = new Y.Doc()
        const provider = new WebsocketProvider(`ws://127.0.0.1:${node.port}/mesh`, room, doc, {
          WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
          disableBc: true,
        })
        const light = { provider, doc }
        lights.add(light)
        report.lightSessions++
        provider.awareness.setLocalState({ user: { name: `soak-light-${report.lightSessions}` } })
        const session = report.lightSessions
        provider.once('sync', () => {
          if (options.lightWrites === false) return
          new YKeyValue<unknown>(doc.getArray('kv')).set(`light:${session % 50}`, { session })
          report.lightWrites++
        })
        const stay = prng.int31(gen, 500, 5000)
        const abrupt = prng.int31(gen, 0, 4) === 0
        setTimeout(() => leave(light, abrupt), stay)
      }, 300),
    )

    // Sampling.
    const deadline = started + durationMs
    let nextLog = started + 60_000
    while (Date.now() < deadline && exits.length === 0) {
      await new Promise((resolve) => setTimeout(resolve, Math.min(sampleMs, deadline - Date.now())))
      const atMs = Date.now() - started
      if (warmWritesAtMs === undefined && writer.tally.ok >= WARMUP_WRITES) warmWritesAtMs = atMs
      const samples = await Promise.all(nodes.map((n) => sampleNode(n, atMs).catch(() => undefined)))
      samples.forEach((s, i) => s && report.samples[nodes[i]?.name ?? '']?.push(s))
      if (Date.now() >= nextLog) {
        nextLog += 60_000
        log(
          `  ${(atMs / 60_000).toFixed(1)} min: ${samples
            .map(
              (s, i) =>
                `${String(nodes[i]?.name)} heap ${s?.heapBytes ? (s.heapBytes / MiB).toFixed(1) : '?'} MiB, ${s?.lightPeers ?? '?'} light`,
            )
            .join('; ')}; ${writer.tally.ok} writes, ${report.lightSessions} light sessions`,
        )
      }
    }

    // Stop the load and let everything settle back to the baseline.
    for (const t of timers) clearInterval(t)
    timers.length = 0
    const writesMs = Date.now() - writesStarted
    const driverUsed = process.cpuUsage(driverCpu)
    report.driverCpuSeconds = (driverUsed.user + driverUsed.system) / 1e6
    for (const light of [...lights]) leave(light, false)
    await waitUntil('REST writes still in flight', () => writer.inFlight === 0, { timeoutMs: 15_000 })
    report.writes = { ...report.writes, ...writer.tally, offered, ackedPerSecond: (writer.tally.ok * 1000) / writesMs }
    try {
      await waitUntil(
        'light peers, awareness states or rooms did not return to the baseline',
        async () => {
          const samples = await Promise.all(nodes.map((n) => sampleNode(n, Date.now() - started)))
          const back = samples.every((s) => s.lightPeers === 0 && s.lightMembers === 0 && s.rooms === ROOMS.length)
          samples.forEach((s, i) => (report.final[nodes[i]?.name ?? ''] = s))
          return back
        },
        { timeoutMs: 15_000 },
      )
    } catch (error) {
      violations.push(`${(error as Error).message}: ${JSON.stringify(report.final)}`)
    }

    // Every acknowledged write must be on every node, and the nodes must agree.
    violations.push(...(await checkWrites(nodes, writer, report.writes)))
    if (report.writes.lost > 0) {
      violations.push(
        `${report.writes.lost} acknowledged writes lost, e.g. ${report.writes.lostExamples.slice(0, 3).join('; ')}`,
      )
    }
    if (offered < rate * (writesMs / 1000) * 0.95) {
      violations.push(
        `only ${Math.round((offered * 1000) / writesMs)} writes/s offered of ${rate} asked (more than ${MAX_IN_FLIGHT} in flight)`,
      )
    }

    if (warmWritesAtMs === undefined) {
      notes.push(
        `fewer than ${WARMUP_WRITES} writes were acknowledged: bounded memories (such as the store's memory of removals) may still have been filling, which looks like growth`,
      )
    }
    const warmMs = Math.max(minWarmMs, warmWritesAtMs ?? 0)
    report.warmupMs = warmMs
    for (const n of nodes) {
      const points: Array<[number, number]> = []
      const code: Array<[number, number]> = []
      for (const match of n.stdout.matchAll(/^mesh-soak: live (\d+) at (\d+)(?: code (\d+))?$/gm)) {
        const atMs = Number(match[2]) - started
        if (atMs < 0 || atMs > durationMs) continue
        points.push([atMs, Number(match[1])])
        if (match[3] !== undefined) code.push([atMs, Number(match[3])])
      }
      report.live[n.name] = points
      report.liveCode[n.name] = code
    }
    for (const [name, samples] of Object.entries(report.samples)) {
      const live = (report.live[name] ?? []).filter(([atMs]) => atMs >= warmMs)
      if (live.length >= 3) {
        const perMin = slope(live.map(([atMs, bytes]) => [atMs / 60_000, bytes / MiB] as const))
        report.slopes[name] = perMin
        report.slopeBasis = 'live heap after a forced full GC'
        const code = (report.liveCode[name] ?? []).filter(([atMs]) => atMs >= warmMs)
        if (code.length >= 3) {
          report.codeSlopes[name] = slope(code.map(([atMs, bytes]) => [atMs / 60_000, bytes / MiB] as const))
        }
        report.rawSlopes[name] = slope(
          samples
            .filter((s) => s.atMs >= warmMs && s.heapBytes !== undefined)
            .map((s) => [s.atMs / 60_000, (s.heapBytes ?? 0) / MiB] as const),
        )
        if (perMin > maxSlope) {
          violations.push(`${name}: live heap grows ${perMin.toFixed(2)} MiB/min after warm-up (limit ${maxSlope})`)
        }
        continue
      }
      const warm = samples.filter((s) => s.atMs >= warmMs && s.heapBytes !== undefined)
      if (warm.length < 3) {
        report.slopes[name] = undefined
        notes.push(
          `${name}: too few heap samples after warm-up for a slope (${warm.length}); the metrics endpoint may be missing`,
        )
        continue
      }
      // The heap is a sawtooth: fit the troughs (the lowest sample of each window), which is
      // what survives garbage collection, rather than garbage not yet collected.
      const windowMs = Math.max(sampleMs * 6, Math.min(60_000, durationMs / 10))
      const troughs = new Map<number, NodeSample>()
      for (const s of warm) {
        const w = Math.floor(s.atMs / windowMs)
        const low = troughs.get(w)
        if (!low || (s.heapBytes ?? 0) < (low.heapBytes ?? 0)) troughs.set(w, s)
      }
      const points = [...troughs.values()].map((s) => [s.atMs / 60_000, (s.heapBytes ?? 0) / MiB] as const)
      const perMin = slope(
        points.length >= 3 ? points : warm.map((s) => [s.atMs / 60_000, (s.heapBytes ?? 0) / MiB] as const),
      )
      report.slopes[name] = perMin
      report.slopeBasis = 'troughs of the sampled heap (no GC trace)'
      report.rawSlopes[name] = slope(warm.map((s) => [s.atMs / 60_000, (s.heapBytes ?? 0) / MiB] as const))
      if (perMin > maxSlope)
        violations.push(`${name}: heap grows ${perMin.toFixed(2)} MiB/min after warm-up (limit ${maxSlope})`)
      const peersSeen = new Set(samples.map((s) => s.peers))
      if (peersSeen.size > 1) notes.push(`${name}: peer links varied during the run: ${[...peersSeen].join(', ')}`)
    }
    if (report.writes.failed > 0) {
      const why = Object.entries(report.writes.failures).map(([reason, n]) => `${n}× ${reason}`)
      violations.push(`${report.writes.failed} REST writes failed (${why.join('; ')})`)
    }
    for (const n of nodes) {
      const errors = n.stderr.split('\n').filter((l) => / ERROR /.test(l))
      if (errors.length > 0) violations.push(`${n.name} logged ${errors.length} errors, first: ${String(errors[0])}`)
    }
    violations.push(...exits)
  } finally {
    for (const t of timers) clearInterval(t)
    writer.close()
    for (const light of [...lights]) leave(light, false)
    // SIGTERM first, so a node started with --cpu-prof (NODE_OPTIONS) writes its profile.
    await Promise.all(
      nodes.map(async (n) => {
        if (n.child.exitCode !== null || n.child.signalCode !== null) return
        const kill = setTimeout(() => n.child.kill('SIGKILL'), 5000)
        await n.stop('SIGTERM')
        clearTimeout(kill)
      }),
    )
  }
  return report
}

/** A printable report: a per-minute table per node, slopes, leak checks. */
export const formatSoakReport = (r: SoakReport): string => {
  const lines = [
    `soak seed=${r.seed}: ${r.minutes} min, ${r.lightSessions} light-peer sessions (${r.lightWrites} light writes); this process (writer and light peers) used ${r.driverCpuSeconds.toFixed(1)} s of CPU`,
    `  REST writes: ${r.writes.offered} offered, ${r.writes.ok} acknowledged (${Math.round(r.writes.ackedPerSecond)}/s), ${r.writes.failed} failed (${r.writes.resent} resent after a closed keep-alive socket); last acknowledged write of ${r.writes.checked} keys checked on every node: ${r.writes.lost} lost`,
  ]
  for (const [name, samples] of Object.entries(r.samples)) {
    const live = r.live[name] ?? []
    /** The live heap of the last full collection at or before `atMs`. */
    const liveAt = (atMs: number) => live.filter(([t]) => t <= atMs).at(-1)?.[1]
    const everyMinute = samples.filter(
      (s, i) =>
        i === 0 ||
        i === samples.length - 1 ||
        Math.floor(s.atMs / 60_000) !== Math.floor((samples[i - 1]?.atMs ?? 0) / 60_000),
    )
    const slopeText =
      r.slopes[name] === undefined
        ? 'n/a'
        : `${r.slopes[name].toFixed(3)} MiB/min (${r.slopeBasis}; ${String(r.rawSlopes[name]?.toFixed(3))} over the sampled heapUsed)`
    lines.push(`  ${name}: heap slope after warm-up ${slopeText}`)
    const codeSlope = r.codeSlopes[name]
    if (codeSlope !== undefined && r.slopes[name] !== undefined) {
      lines.push(
        `    of it compiled code ${codeSlope.toFixed(3)} MiB/min, everything else ${(r.slopes[name] - codeSlope).toFixed(3)} MiB/min`,
      )
    }
    const first = samples[0]
    const last = samples.at(-1)
    if (first?.cpuSeconds !== undefined && last?.cpuSeconds !== undefined && last.atMs > first.atMs) {
      const cpu = last.cpuSeconds - first.cpuSeconds
      lines.push(
        `    CPU ${cpu.toFixed(1)} s over ${((last.atMs - first.atMs) / 1000).toFixed(0)} s (${((cpu * 1000) / (last.atMs - first.atMs)).toFixed(2)} cores), ${r.writes.ok > 0 ? ((cpu * 1e6) / r.writes.ok).toFixed(0) : '?'} µs per acknowledged write`,
      )
    }
    const warmSample = samples.find((s) => s.atMs >= r.warmupMs)
    if (warmSample && last && last.atMs > warmSample.atMs) {
      const perMin = ((last.clients - warmSample.clients) * 60_000) / (last.atMs - warmSample.atMs)
      lines.push(
        `    after warm-up (${(r.warmupMs / 60_000).toFixed(1)} min): ${perMin.toFixed(0)} new Yjs client ids per minute in the state vectors (each light peer that writes adds one, for good)`,
      )
    }
    lines.push('    t (min)  live MiB  heap MiB  rss MiB  light  light members  rooms  peers  sv clients')
    for (const s of everyMinute) {
      const mb = (n: number | undefined) => (n === undefined ? '?' : (n / MiB).toFixed(1))
      lines.push(
        `    ${(s.atMs / 60_000).toFixed(2).padStart(7)}  ${mb(liveAt(s.atMs)).padStart(8)}  ${mb(s.heapBytes).padStart(8)}  ${mb(s.rssBytes).padStart(7)}  ${String(s.lightPeers).padStart(5)}  ${String(s.lightMembers).padStart(13)}  ${String(s.rooms).padStart(5)}  ${String(s.peers).padStart(5)}  ${String(s.clients).padStart(10)}`,
      )
    }
    const base = r.baseline[name]
    const fin = r.final[name]
    if (base && fin) {
      lines.push(
        `    baseline → after churn: light ${base.lightPeers} → ${fin.lightPeers}, light members ${base.lightMembers} → ${fin.lightMembers}, rooms ${base.rooms} → ${fin.rooms}`,
      )
    }
  }
  if (r.notes.length > 0) lines.push(`  notes: ${r.notes.join('; ')}`)
  lines.push(`  violations: ${r.violations.length === 0 ? 'none' : `\n    ${r.violations.join('\n    ')}`}`)
  return lines.join('\n')
}
