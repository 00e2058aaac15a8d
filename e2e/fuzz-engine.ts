/**
 * The fuzzer (issue 8, item 3). It attacks node A, a real `mesh serve` process, with seeded
 * garbage (e2e/fuzz-frames.ts) on the peer endpoint (before and after a valid handshake), the
 * light-peer endpoint and the REST API, many sockets in flight at once, while honest traffic
 * keeps flowing: a y-websocket writer on A and a y-websocket reader on B, a second
 * `mesh serve` joined to A.
 *
 * Checks: A never exits, answers `/health` and still lets a new light peer in; every garbage
 * socket ends with a 44xx close (or an HTTP 4xx on upgrade) unless its frames were valid and
 * accepted (a ping after them is answered); no REST answer is a 5xx, and an oversized body gets
 * a 413 the client reads before any reset; the honest writer's data and state-vector entry end up
 * identical on A, on B and in the writer, its awareness state survives forged entries, and
 * the honest reader on B keeps receiving writes during the attack.
 */
import * as prng from 'lib0/prng'
import { request as httpRequest } from 'node:http'
import { isDeepStrictEqual } from 'node:util'
import WebSocket from 'ws'
import { WebsocketProvider } from 'y-websocket'
import * as Y from 'yjs'
import { YKeyValue } from 'y-utility/y-keyvalue'
import { metric, readMetrics } from './fault/metrics.js'
import { startNode, type MeshProcess } from './harness.js'
import {
  buildSeeds,
  createCaseSource,
  validHello,
  peerFrame,
  type Frame,
  type FuzzCase,
  type RestCase,
  type SocketCase,
} from './fuzz-frames.js'

/** Options of {@link runFuzz}. */
export interface FuzzOptions {
  seed: number
  /** Garbage frames (and REST requests) to send. */
  frames: number
  /** Sockets in flight at once. Default 48. */
  parallel?: number
  /** Families to leave out, by name (see FAMILIES in e2e/fuzz-frames.ts). */
  skip?: readonly string[]
  /** Where progress lines go. */
  log?: (line: string) => void
}

/** How one case ended. */
type Outcome =
  | { kind: 'closed'; code: number; reason: string }
  | { kind: 'accepted' }
  | { kind: 'http'; status: number }
  | { kind: 'timeout' }
  | { kind: 'error'; message: string }

/** Figures of a run. */
export interface FuzzReport {
  seed: number
  frames: number
  cases: number
  durationMs: number
  byFamily: Record<string, number>
  /** Socket endings: `closed 4400`, `accepted`, `http 404`, … */
  outcomes: Record<string, number>
  /** REST answers by status. */
  rest: Record<string, number>
  honest: {
    writes: number
    /** Replication lag writer (on A) → reader (on B) during the attack, ms. */
    lagP50: number
    lagP99: number
    lagMax: number
    writerDisconnects: number
    readerDisconnects: number
  }
  /** A's heap before and after, from /metrics when it exists. */
  heapBefore?: number
  heapAfter?: number
  rejected?: Record<string, number>
  /** Families with the longest mean time per case. */
  slowest: string[]
  violations: string[]
}

const SOCKET_TIMEOUT_MS = 10_000
const HEALTH_TIMEOUT_MS = 5000
const HEALTH_EVERY_CASES = 250

const hex = (frame: Frame): string =>
  'text' in frame
    ? `text:${JSON.stringify(frame.text.slice(0, 60))}`
    : Buffer.from(frame.subarray(0, 96)).toString('hex') + (frame.length > 96 ? `…(${frame.length} B)` : '')

const describeCase = (c: FuzzCase): string =>
  c.target === 'rest'
    ? `${c.family}: ${c.method} ${c.path.slice(0, 120)} ${c.body === undefined ? '' : JSON.stringify(c.body.slice(0, 80))}`
    : `${c.family} ${c.target}${c.room === undefined ? '' : ` room=${c.room.slice(0, 40)}`}: ${c.frames.map(hex).join(' ')}`

/** Sends one socket case and waits for its ending. */
const runSocket = (url: string, prefix: readonly Frame[], c: SocketCase): Promise<Outcome> =>
  new Promise((resolve) => {
    let settled = false
    let accepted = false
    const ws = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: SOCKET_TIMEOUT_MS })
    const finish = (outcome: Outcome) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      resolve(outcome)
      if (ws.readyState !== WebSocket.CLOSED) ws.terminate()
    }
    const timer = setTimeout(() => finish({ kind: 'timeout' }), SOCKET_TIMEOUT_MS)
    ws.on('unexpected-response', (req, res) => {
      finish({ kind: 'http', status: res.statusCode ?? 0 })
      req.destroy()
    })
    ws.on('error', (error) => finish({ kind: 'error', message: error.message }))
    ws.on('close', (code, reason) =>
      finish(accepted ? { kind: 'accepted' } : { kind: 'closed', code, reason: reason.toString() }),
    )
    // Accepted: close cleanly and settle once the node closed its side too.
    ws.on('pong', () => {
      accepted = true
      ws.close(1000)
    })
    ws.on('open', () => {
      for (const frame of [...prefix, ...c.frames]) {
        if ('text' in frame) ws.send(frame.text)
        else ws.send(frame, { binary: true })
      }
      // Frames are handled in order: a pong means every frame above was taken.
      ws.ping()
    })
  })

/**
 * Sends an oversized body with `node:http`, which reads the answer while still writing, unlike
 * `fetch`. A correct node answers 413 and reads the rest (the client then reads the 413), or,
 * when the body is too big even to drain, cuts the connection after its 413: either way the
 * client got the 413 first. A reset before any answer is a violation.
 */
const runUpload = (base: string, c: RestCase): Promise<Outcome> =>
  new Promise((resolve) => {
    const body = Buffer.from(c.body ?? '')
    let settled = false
    const finish = (outcome: Outcome): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      resolve(outcome)
    }
    const req = httpRequest(`${base}/mesh/api${c.path}`, {
      method: c.method,
      agent: false,
      headers: { ...c.headers, 'content-length': body.length },
    })
    const timer = setTimeout(() => {
      finish({ kind: 'timeout' })
      req.destroy()
    }, SOCKET_TIMEOUT_MS)
    req.on('response', (res) => {
      finish({ kind: 'http', status: res.statusCode ?? 0 })
      res.resume()
    })
    // After the answer, a reset means only that the client could not finish writing.
    req.on('error', (error) => finish({ kind: 'error', message: `${error.message} before any answer` }))
    req.end(body)
  })

const runRest = async (base: string, c: RestCase): Promise<Outcome> => {
  if (c.family === 'rest:big-body') return runUpload(base, c)
  try {
    const res = await fetch(`${base}/mesh/api${c.path}`, {
      method: c.method,
      headers: c.headers,
      body: c.method === 'GET' || c.method === 'HEAD' ? undefined : c.body,
      signal: AbortSignal.timeout(SOCKET_TIMEOUT_MS),
    })
    const text = await res.text()
    // Nobody writes a key named "polluted": if the store lists one, a prototype leaked into it.
    if (c.method === 'GET' && /^\/kv\/?$/.test(c.path) && res.status === 200) {
      const kv = JSON.parse(text) as Record<string, unknown>
      if (Object.hasOwn(kv, 'polluted'))
        return { kind: 'error', message: `GET /kv lists a polluted key: ${text.slice(0, 200)}` }
    }
    return { kind: 'http', status: res.status }
  } catch (error) {
    return { kind: 'error', message: (error as Error).message }
  }
}

const percentile = (sorted: readonly number[], p: number): number =>
  sorted.length === 0 ? 0 : (sorted[Math.min(sorted.length - 1, Math.floor((sorted.length - 1) * p))] ?? 0)

interface StatusJson {
  stateVector: Record<string, number>
}

interface MemberJson {
  role: string
  name: string
  meta?: Record<string, unknown>
}

/** Runs the fuzzer against two fresh `mesh serve` processes; resolves with figures and violations. */
export const runFuzz = async (options: FuzzOptions): Promise<FuzzReport> => {
  const parallel = options.parallel ?? 48
  const log = options.log ?? (() => {})
  const gen = prng.create(options.seed)
  const violations: string[] = []
  const a: MeshProcess = await startNode({ name: 'fuzz-a', args: ['--log-level', 'error'], timeoutMs: 30_000 })
  const b: MeshProcess = await startNode({
    name: 'fuzz-b',
    join: [a.peerUrl],
    args: ['--log-level', 'error', '--max-peers', '0'],
    timeoutMs: 30_000,
  })
  let aExit: string | undefined
  void a.exited.then((exit) => (aExit = `${exit.code ?? exit.signal}`))

  // Honest traffic: a writer on A, a reader on B.
  const wsUrl = (p: MeshProcess) => `ws://127.0.0.1:${p.port}/mesh`
  const polyfill = WebSocket as unknown as typeof globalThis.WebSocket
  const writerDoc = new Y.Doc()
  const writer = new WebsocketProvider(wsUrl(a), 'default', writerDoc, { WebSocketPolyfill: polyfill, disableBc: true })
  writer.awareness.setLocalState({ user: { name: 'honest-writer' } })
  const readerDoc = new Y.Doc()
  const reader = new WebsocketProvider(wsUrl(b), 'default', readerDoc, { WebSocketPolyfill: polyfill, disableBc: true })
  let writerDisconnects = 0
  let readerDisconnects = 0
  writer.on('connection-close', () => writerDisconnects++)
  reader.on('connection-close', () => readerDisconnects++)
  const writtenAt = new Map<string, number>()
  const lags: number[] = []
  const readerKv = new YKeyValue<unknown>(readerDoc.getArray('kv'))
  const writerKv = new YKeyValue<unknown>(writerDoc.getArray('kv'))
  readerKv.on('change', (changes: Map<string, unknown>) => {
    const now = Date.now()
    for (const key of changes.keys()) {
      const at = writtenAt.get(key)
      if (at !== undefined && !lags[Number(key.slice(7))]) lags[Number(key.slice(7))] = now - at
    }
  })
  const synced = (p: WebsocketProvider) =>
    new Promise<void>((resolve, reject) => {
      if (p.synced) return resolve()
      const timer = setTimeout(() => reject(new Error('honest light peer did not sync within 15 s')), 15_000)
      p.on('sync', (s: boolean) => {
        if (s) {
          clearTimeout(timer)
          resolve()
        }
      })
    })
  let honestWrites = 0
  let writing: ReturnType<typeof setInterval> | undefined
  const report: FuzzReport = {
    seed: options.seed,
    frames: 0,
    cases: 0,
    durationMs: 0,
    byFamily: {},
    outcomes: {},
    rest: {},
    honest: { writes: 0, lagP50: 0, lagP99: 0, lagMax: 0, writerDisconnects: 0, readerDisconnects: 0 },
    slowest: [],
    violations,
  }
  const timeByFamily: Record<string, number> = {}
  const bump = (record: Record<string, number>, key: string) => (record[key] = (record[key] ?? 0) + 1)

  const health = async (): Promise<string | undefined> => {
    if (aExit !== undefined) return `node A exited (${aExit})`
    try {
      const res = await fetch(`${a.url}/mesh/api/health`, { signal: AbortSignal.timeout(HEALTH_TIMEOUT_MS) })
      return res.status === 200 ? undefined : `GET /health answered ${res.status}`
    } catch (error) {
      return `GET /health failed within ${HEALTH_TIMEOUT_MS} ms: ${(error as Error).message}`
    }
  }

  /** A new honest light peer must still get in: the node speaks first (sync step 1). */
  const newcomer = (): Promise<string | undefined> =>
    new Promise((resolve) => {
      const ws = new WebSocket(`${wsUrl(a)}/default`, { perMessageDeflate: false })
      const done = (problem: string | undefined) => {
        clearTimeout(timer)
        resolve(problem)
        ws.terminate()
      }
      const timer = setTimeout(
        () => done(`a new light peer got nothing within ${HEALTH_TIMEOUT_MS} ms`),
        HEALTH_TIMEOUT_MS,
      )
      ws.once('message', () => done(undefined))
      ws.once('close', (code, reason) => done(`a new light peer was refused: ${code} ${reason.toString()}`))
      ws.once('error', (error) => done(`a new light peer could not connect: ${error.message}`))
    })

  try {
    await Promise.all([synced(writer), synced(reader)])
    report.heapBefore = metric(await readMetrics(a), 'mesh_heap_used_bytes')
    writing = setInterval(() => {
      const key = `honest:${honestWrites++}`
      writtenAt.set(key, Date.now())
      writerKv.set(key, { i: honestWrites, by: 'honest-writer' })
    }, 20)

    const seeds = buildSeeds(gen)
    const next = createCaseSource(
      gen,
      seeds,
      { honestClientId: writerDoc.clientID, honestDocClientId: writerDoc.clientID },
      options.skip,
    )
    const recent: string[] = []
    let stop: string | undefined
    let checking: Promise<void> | undefined
    const attackStarted = Date.now()
    log(
      `fuzz seed ${options.seed}: ${options.frames} frames against ${a.url} (B ${b.url}), ${parallel} sockets in flight`,
    )
    const record = (c: FuzzCase, outcome: Outcome, ms: number): void => {
      report.cases++
      bump(report.byFamily, c.family)
      timeByFamily[c.family] = (timeByFamily[c.family] ?? 0) + ms
      if (c.target === 'rest') {
        if (outcome.kind === 'http') {
          bump(report.rest, String(outcome.status))
          if (outcome.status >= 500) violations.push(`REST ${outcome.status} for ${describeCase(c)}`)
          else if (c.family === 'rest:big-body' && outcome.status !== 413) {
            violations.push(`REST ${outcome.status} instead of 413 for ${describeCase(c)}`)
          }
        } else {
          const why = outcome.kind === 'error' ? outcome.message : outcome.kind
          violations.push(`REST request failed (${why}): ${describeCase(c)}`)
        }
        return
      }
      const label =
        outcome.kind === 'closed'
          ? `closed ${outcome.code}`
          : outcome.kind === 'http'
            ? `http ${outcome.status}`
            : outcome.kind
      bump(report.outcomes, label)
      const fine =
        outcome.kind === 'accepted' ||
        // Paths that are no room (`/mesh/inspector`, `/mesh/..`) answer as plain HTTP routes.
        (c.family === 'light:room-names' && outcome.kind === 'http' && outcome.status < 500) ||
        (outcome.kind === 'closed' && outcome.code >= 4400 && outcome.code <= 4499) ||
        (outcome.kind === 'http' && outcome.status >= 400 && outcome.status < 500)
      if (!fine && violations.length < 40) {
        const detail =
          outcome.kind === 'closed' ? ` "${outcome.reason}"` : outcome.kind === 'error' ? ` ${outcome.message}` : ''
        violations.push(`socket ended ${label}${detail} (not a 44xx close): ${describeCase(c)}`)
      }
    }
    /** Checks A's health; the first problem stops every worker. */
    const check = async (): Promise<void> => {
      const problem = (await health()) ?? (await newcomer())
      if (problem && stop === undefined) {
        stop = problem
        violations.unshift(
          `${problem} after ${report.cases} cases (${report.frames} frames; seed ${options.seed}).\n` +
            `Most recent cases (newest last):\n${recent.join('\n')}\n` +
            `A's stderr:\n${a.stderr.trimEnd().split('\n').slice(-25).join('\n')}`,
        )
      }
    }
    // Most handshakes reuse the worker's fake node id (one socket per worker at a time): every
    // fresh id is a member the node keeps for a minute and sends to every new link.
    const worker = async (_: unknown, w: number): Promise<void> => {
      while (stop === undefined && report.frames < options.frames) {
        const c = next()
        report.frames += c.target === 'rest' ? 1 : c.frames.length
        recent.push(describeCase(c))
        if (recent.length > 2 * parallel) recent.shift()
        const t0 = Date.now()
        let outcome: Outcome
        if (c.target === 'rest') outcome = await runRest(a.url, c)
        else {
          const url = c.target === 'light' ? `${wsUrl(a)}/${c.room ?? 'default'}` : wsUrl(a)
          const id = prng.int31(gen, 0, 9) === 0 ? undefined : `fuzz-worker-${w}`
          const prefix = c.target === 'peer-open' ? [validHello(gen, '', id), peerFrame.prove()] : []
          outcome = await runSocket(url, prefix, c)
        }
        record(c, outcome, Date.now() - t0)
        if (outcome.kind === 'timeout' || aExit !== undefined) await check()
        else if (report.cases % HEALTH_EVERY_CASES === 0 && !checking) {
          checking = check().finally(() => (checking = undefined))
          if (report.cases % (HEALTH_EVERY_CASES * 10) === 0) {
            log(
              `  ${report.frames} frames, ${report.cases} cases, ${((Date.now() - attackStarted) / 1000).toFixed(1)} s`,
            )
          }
        }
      }
    }
    await Promise.all(Array.from({ length: parallel }, worker))
    await checking
    report.durationMs = Date.now() - attackStarted
    report.slowest = Object.entries(timeByFamily)
      .map(([family, ms]) => [family, Math.round(ms / (report.byFamily[family] ?? 1))] as const)
      .sort((x, y) => y[1] - x[1])
      .slice(0, 5)
      .map(([family, ms]) => `${family} ${ms} ms`)
    clearInterval(writing)
    writing = undefined

    if (!(await health())) {
      // Honest data: the writer's keys and state-vector entry agree on A, B and the writer.
      const expected = Object.fromEntries(
        [...writerKv.map.entries()].map(([k, e]) => [k, e.val] as const).filter(([k]) => k.startsWith('honest:')),
      )
      const clock = Y.decodeStateVector(Y.encodeStateVector(writerDoc)).get(writerDoc.clientID)
      const honestOn = async (p: MeshProcess) => {
        const [kv, status] = await Promise.all([p.api<Record<string, unknown>>('/kv'), p.api<StatusJson>('/status')])
        if (kv.status !== 200 || status.status !== 200)
          throw new Error(`${p.name}: GET /kv ${kv.status}, /status ${status.status}`)
        const honest = Object.fromEntries(Object.entries(kv.body).filter(([k]) => k.startsWith('honest:')))
        return {
          honest,
          clock: status.body.stateVector[String(writerDoc.clientID)],
          all: kv.body,
          sv: status.body.stateVector,
        }
      }
      try {
        const deadline = Date.now() + 15_000
        let last = ''
        for (;;) {
          const [onA, onB] = await Promise.all([honestOn(a), honestOn(b)])
          const readerHonest = Object.fromEntries(
            [...readerKv.map.entries()].map(([k, e]) => [k, e.val] as const).filter(([k]) => k.startsWith('honest:')),
          )
          const ok =
            isDeepStrictEqual(onA.honest, expected) &&
            isDeepStrictEqual(onB.honest, expected) &&
            isDeepStrictEqual(readerHonest, expected) &&
            onA.clock === clock &&
            onB.clock === clock &&
            isDeepStrictEqual(onA.all, onB.all) &&
            isDeepStrictEqual(onA.sv, onB.sv)
          if (ok) break
          const differing = [...new Set([...Object.keys(onA.all), ...Object.keys(onB.all)])]
            .filter((k) => !isDeepStrictEqual(onA.all[k], onB.all[k]))
            .slice(0, 3)
            .map(
              (k) =>
                `${k}: A ${JSON.stringify(onA.all[k])?.slice(0, 80)} B ${JSON.stringify(onB.all[k])?.slice(0, 80)}`,
            )
          last = `${differing.join('; ')} writer has ${Object.keys(expected).length} honest keys at clock ${clock}; A ${Object.keys(onA.honest).length} at ${onA.clock}, B ${Object.keys(onB.honest).length} at ${onB.clock}, reader ${Object.keys(readerHonest).length}; A and B ${isDeepStrictEqual(onA.all, onB.all) ? 'agree' : 'differ'} (${Object.keys(onA.all).length} / ${Object.keys(onB.all).length} keys)`
          if (Date.now() > deadline) {
            violations.push(`honest data did not settle identically within 15 s: ${last}`)
            break
          }
          await new Promise((resolve) => setTimeout(resolve, 100))
        }
        for (const p of [a, b]) {
          const members = await p.api<MemberJson[]>('/members')
          const mine = members.body.filter((m) => m.role === 'light' && m.name === 'honest-writer')
          if (mine.length !== 1)
            violations.push(
              `${p.name}: the honest writer's awareness state is gone or forged (${JSON.stringify(members.body.filter((m) => m.role === 'light').slice(0, 5))})`,
            )
        }
      } catch (error) {
        violations.push(`checking honest data failed: ${(error as Error).message}`)
      }
      const metrics = await readMetrics(a)
      report.heapAfter = metric(metrics, 'mesh_heap_used_bytes')
      const rejected = metrics?.filter((s) => s.name === 'mesh_rejected_total')
      if (rejected) report.rejected = Object.fromEntries(rejected.map((s) => [s.labels.reason ?? '', s.value]))
    } else {
      violations.unshift(`node A is not healthy at the end: ${await health()}`)
    }
    if (writerDisconnects > 0) violations.push(`the honest writer was disconnected ${writerDisconnects} times`)
    if (readerDisconnects > 0) violations.push(`the honest reader was disconnected ${readerDisconnects} times`)
    const sorted = lags.filter((l) => l !== undefined).sort((x, y) => x - y)
    report.honest = {
      writes: honestWrites,
      lagP50: percentile(sorted, 0.5),
      lagP99: percentile(sorted, 0.99),
      lagMax: sorted.at(-1) ?? 0,
      writerDisconnects,
      readerDisconnects,
    }
    if (report.honest.lagMax > 5000)
      violations.push(`honest replication stalled during the attack: lag up to ${report.honest.lagMax} ms`)
  } finally {
    if (writing) clearInterval(writing)
    writer.destroy()
    reader.destroy()
    writerDoc.destroy()
    readerDoc.destroy()
    for (const p of [b, a]) if (p.child.exitCode === null && p.child.signalCode === null) await p.stop('SIGKILL')
  }
  return report
}

/** A few lines summing up a report. */
export const formatFuzzReport = (r: FuzzReport): string => {
  const list = (rec: Record<string, number> | undefined) =>
    Object.entries(rec ?? {})
      .sort((x, y) => y[1] - x[1])
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')
  const mb = (n: number | undefined) => (n === undefined ? '?' : `${(n / 2 ** 20).toFixed(1)} MiB`)
  return [
    `fuzz seed=${r.seed} (replay: MESH_SEED=${r.seed}): ${r.frames} frames in ${r.cases} cases, attack ${(r.durationMs / 1000).toFixed(1)} s (${Math.round(r.frames / Math.max(1, r.durationMs / 1000))} frames/s)`,
    `  families: ${list(r.byFamily)}`,
    `  socket endings: ${list(r.outcomes)}`,
    `  REST answers: ${list(r.rest)}`,
    `  node rejections (metrics): ${list(r.rejected) || '-'}`,
    `  honest traffic: ${r.honest.writes} writes on A, lag to B p50 ${r.honest.lagP50} ms, p99 ${r.honest.lagP99} ms, max ${r.honest.lagMax} ms; disconnects writer ${r.honest.writerDisconnects}, reader ${r.honest.readerDisconnects}`,
    `  slowest families (mean per case): ${r.slowest.join(', ')}`,
    `  heap of A: ${mb(r.heapBefore)} before, ${mb(r.heapAfter)} after`,
    `  violations: ${r.violations.length === 0 ? 'none' : `\n    ${r.violations.slice(0, 20).join('\n    ')}`}`,
  ].join('\n')
}
