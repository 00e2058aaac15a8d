import { existsSync } from 'node:fs'
import { Agent, request } from 'node:http'
import { join } from 'node:path'
import { clockOffset, now } from './clock.js'
import { IpcClient } from './ipc.js'
import { benchScript, spawnChild, stopChild, waitListening, type Child } from './processes.js'
import type { ArmArgs, LinkInfo, NodeOps, PutLoopArgs, PutLoopResult, RelayCounts, WaitResult } from './worker-ops.js'

/**
 * How bench nodes are started: `worker` = the bench's own worker script on `@mesh/core`,
 * controlled over IPC (most accurate); `cli` = `mesh serve` processes driven over their
 * REST API (end to end through HTTP; put(object) and per-key timing are not available).
 */
export type NodeKind = 'worker' | 'cli'

/** Path of the `mesh` CLI entry (override with `MESH_BENCH_CLI`). */
export const cliPath = (): string =>
  process.env.MESH_BENCH_CLI ?? join(import.meta.dirname, '..', '..', 'cli', 'dist', 'bin.js')

/** One Mesh node process under the bench's control, whichever way it was started. */
export interface BenchNode {
  readonly name: string
  readonly kind: NodeKind
  /** `http://127.0.0.1:PORT` */
  readonly httpUrl: string
  /** `ws://127.0.0.1:PORT/mesh`: what other nodes join. */
  readonly peerUrl: string
  /** How far this node's clock is ahead of the bench's, in ms (0 for CLI nodes: times are the bench's). */
  readonly offset: number
  /** The IPC client of a worker node, for worker-only operations. */
  readonly ipc: IpcClient<NodeOps> | undefined
  join(urls: string[]): Promise<void>
  settle(): Promise<void>
  links(): Promise<LinkInfo[]>
  arm(args: ArmArgs): Promise<void>
  wait(timeoutMs: number): Promise<WaitResult>
  putLoop(args: PutLoopArgs): Promise<PutLoopResult>
  /** CPU time the process used so far (µs), when it can be read (workers only). */
  cpu(): Promise<number | undefined>
  /** The node's duplicate counters so far (workers only). */
  relays(): Promise<RelayCounts | undefined>
  stop(): Promise<void>
}

class WorkerNode implements BenchNode {
  readonly kind = 'worker'
  offset = 0
  constructor(
    readonly name: string,
    readonly httpUrl: string,
    readonly child: Child,
    readonly ipc: IpcClient<NodeOps>,
  ) {}
  get peerUrl(): string {
    return `${this.httpUrl.replace(/^http/, 'ws')}/mesh`
  }
  async join(urls: string[]): Promise<void> {
    await this.ipc.call('join', { urls })
  }
  async settle(): Promise<void> {
    await this.ipc.call('settle', null)
  }
  links(): Promise<LinkInfo[]> {
    return this.ipc.call('links', null)
  }
  async arm(args: ArmArgs): Promise<void> {
    await this.ipc.call('arm', args)
  }
  wait(timeoutMs: number): Promise<WaitResult> {
    return this.ipc.call('wait', { timeoutMs }, timeoutMs + 5_000)
  }
  putLoop(args: PutLoopArgs): Promise<PutLoopResult> {
    return this.ipc.call('put-loop', args, 300_000)
  }
  cpu(): Promise<number | undefined> {
    return this.ipc.call('cpu', null)
  }
  relays(): Promise<RelayCounts | undefined> {
    return this.ipc.call('relays', null)
  }
  stop(): Promise<void> {
    return stopChild(this.child, { request: () => void this.ipc.call('close', null).catch(() => {}) })
  }
}

interface RestStatus {
  peers: Array<{ id: string | null; name: string | null; link: string; rooms: Record<string, { state: string }> }>
  rooms: Record<string, { keys: number }>
}

/**
 * How often a CLI node's key count is read while waiting (there is no event to await over
 * REST). Each read costs the node a status report, so not too often: the figure's error is
 * at most this, on phases of seconds.
 */
const REST_POLL_MS = 20

/** Link states of a peer that need no more waiting: synced, or a redundant dialer that stood down. */
const SETTLED_LINKS = new Set(['dormant', 'self', 'stopped'])

/** A `mesh serve` process, driven over the REST API of DESIGN.md §3. */
class CliNode implements BenchNode {
  readonly kind = 'cli'
  readonly offset = 0
  readonly ipc = undefined
  #target = 0

  constructor(
    readonly name: string,
    readonly httpUrl: string,
    readonly child: Child,
  ) {}
  get peerUrl(): string {
    return `${this.httpUrl.replace(/^http/, 'ws')}/mesh`
  }
  #agent = new Agent({ keepAlive: true, maxSockets: 64 })

  #api<T>(method: string, path: string, body?: unknown): Promise<T> {
    const payload = body === undefined ? undefined : JSON.stringify(body)
    return new Promise<T>((resolve, reject) => {
      const req = request(
        `${this.httpUrl}/mesh/api${path}`,
        {
          method,
          agent: this.#agent,
          headers:
            payload === undefined
              ? {}
              : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
        },
        (res) => {
          let text = ''
          res.setEncoding('utf8')
          res.on('data', (chunk: string) => (text += chunk))
          res.on('end', () => {
            const status = res.statusCode ?? 0
            if (status >= 400) reject(new Error(`${this.name}: ${method} ${path} answered ${status} ${text}`))
            else {
              try {
                resolve(JSON.parse(text) as T)
              } catch (error) {
                reject(error)
              }
            }
          })
        },
      )
      req.on('error', reject)
      req.end(payload)
    })
  }
  async #keys(): Promise<number> {
    return (await this.#api<RestStatus>('GET', '/status')).rooms.default?.keys ?? 0
  }
  async join(urls: string[]): Promise<void> {
    await this.#api('POST', '/join', { urls })
    await this.settle()
  }
  async settle(): Promise<void> {
    const deadline = now() + 10_000
    for (;;) {
      const status = await this.#api<RestStatus>('GET', '/status')
      const synced = status.peers.every(
        (p) =>
          SETTLED_LINKS.has(p.link) || (p.link === 'open' && Object.values(p.rooms).every((r) => r.state === 'synced')),
      )
      if (synced) return
      if (now() > deadline) throw new Error(`${this.name}: links did not finish syncing`)
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  }
  async links(): Promise<LinkInfo[]> {
    const status = await this.#api<RestStatus>('GET', '/status')
    return status.peers.map((p) => ({ id: p.id, name: p.name, link: p.link }))
  }
  async arm(args: ArmArgs): Promise<void> {
    if (args.timesPrefix !== undefined) throw new Error('per-key arrival times need bench workers (--nodes worker)')
    this.#target = (await this.#keys()) + args.count
  }
  async wait(timeoutMs: number): Promise<WaitResult> {
    const deadline = now() + timeoutMs
    for (;;) {
      const keys = await this.#keys()
      if (keys >= this.#target) return { doneAt: now() }
      if (now() > deadline) throw new Error(`${this.name}: ${keys} of ${this.#target} keys after ${timeoutMs} ms`)
      await new Promise((resolve) => setTimeout(resolve, REST_POLL_MS))
    }
  }
  async putLoop({ prefix, count, batch, perTurn }: PutLoopArgs): Promise<PutLoopResult> {
    if (batch !== 1) throw new Error('put(object) is not part of the REST API; needs bench workers')
    const startAt = now()
    let next = 0
    // `perTurn` requests in flight at once, over keep-alive connections.
    const lane = async () => {
      while (next < count) {
        const i = next++
        await this.#api('PUT', `/kv/${encodeURIComponent(prefix + i)}`, i)
      }
    }
    await Promise.all(Array.from({ length: Math.min(perTurn, 64) }, lane))
    return { startAt, endAt: now() }
  }
  cpu(): Promise<number | undefined> {
    return Promise.resolve(undefined)
  }
  relays(): Promise<RelayCounts | undefined> {
    return Promise.resolve(undefined)
  }
  stop(): Promise<void> {
    this.#agent.destroy()
    return stopChild(this.child)
  }
}

/** Starts one node process of the given kind and waits until it serves. */
export const startNode = async (kind: NodeKind, name: string): Promise<BenchNode> => {
  const common = ['--port', '0', '--host', '127.0.0.1', '--name', name]
  if (kind === 'cli') {
    const script = cliPath()
    if (!existsSync(script)) throw new Error(`${script} not found: build the CLI first (npx tsc -b cli)`)
    const child = spawnChild({ script, args: ['serve', ...common], label: `cli-${name}` })
    return new CliNode(name, await waitListening(child), child)
  }
  const child = spawnChild({ script: benchScript('worker.js'), args: common, label: `worker-${name}`, ipc: true })
  const ipc = new IpcClient<NodeOps>(child.process, `worker ${name}`)
  try {
    const node = new WorkerNode(name, await waitListening(child), child, ipc)
    node.offset = await clockOffset(() => ipc.call('now', null))
    return node
  } catch (error) {
    await stopChild(child)
    throw error
  }
}

/** Starts several nodes at once; if one fails, the others are stopped. */
export const startNodes = async (kind: NodeKind, names: readonly string[]): Promise<BenchNode[]> => {
  const started = await Promise.allSettled(names.map((name) => startNode(kind, name)))
  const nodes = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []))
  const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected')
  if (failed) {
    await stopNodes(nodes)
    throw failed.reason
  }
  return nodes
}

/** Stops nodes (in parallel); never throws. */
export const stopNodes = async (nodes: readonly BenchNode[]): Promise<void> => {
  await Promise.allSettled(nodes.map((n) => n.stop()))
}

/** Runs `body` with fresh nodes and always stops them afterwards. */
export const withNodes = async <T>(
  kind: NodeKind,
  names: readonly string[],
  body: (nodes: BenchNode[]) => Promise<T>,
): Promise<T> => {
  const nodes = await startNodes(kind, names)
  try {
    return await body(nodes)
  } finally {
    await stopNodes(nodes)
  }
}

/**
 * Connects nodes with the given edges (pairs of indexes; the first dials the second) and
 * waits until every link finished its initial sync on both ends.
 */
export const connect = async (nodes: readonly BenchNode[], edges: ReadonlyArray<readonly [number, number]>) => {
  const byDialer = new Map<number, string[]>()
  for (const [from, to] of edges) {
    const target = nodes[to]
    if (!target) throw new Error(`no node ${to}`)
    byDialer.set(from, [...(byDialer.get(from) ?? []), target.peerUrl])
  }
  for (const [from, urls] of byDialer) await nodes[from]?.join(urls)
  await Promise.all(nodes.map((n) => n.settle()))
  const expected = nodes.map((_, i) => edges.filter(([a, b]) => a === i || b === i).length)
  const deadline = now() + 10_000
  for (;;) {
    const open = await Promise.all(nodes.map(async (n) => (await n.links()).filter((l) => l.link === 'open').length))
    if (open.every((count, i) => count >= (expected[i] ?? 0))) return open
    if (now() > deadline) throw new Error(`links did not come up: open ${open.join(',')} of ${expected.join(',')}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

/** Edges of a fully connected mesh of n nodes. */
export const fullMesh = (n: number): Array<[number, number]> => {
  const edges: Array<[number, number]> = []
  for (let a = 0; a < n; a++) for (let b = a + 1; b < n; b++) edges.push([a, b])
  return edges
}
