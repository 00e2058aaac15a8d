import { loadavg } from 'node:os'
import { join } from 'node:path'
import { startNode, stopNodes, type BenchNode } from '../cluster.js'
import { now } from '../clock.js'
import type { Context } from '../context.js'
import { stopChild } from '../processes.js'
import { quantile } from '../stats.js'
import { startRedis, which } from '../baselines/redis.js'

/** Cluster kinds of the scale figures: a peer mesh with gossip dialing, or nodes on the Redis backbone. */
type Kind = 'mesh' | 'backbone'

/** Node processes started at once: more would only queue on 2 cores and time out their start. */
const START_BATCH = 4
/** How long a node may take to start on a machine that other work keeps busy. */
const LISTEN_TIMEOUT_MS = 180_000
/** How long a join may take: the seed of a busy mesh answers slowly (its links and gossip grow with the mesh). */
const JOIN_TIMEOUT_MS = 60_000
/** A cluster counts as settled once members and links stayed the same over this many polls. */
const STABLE_POLLS = 3
const POLL_MS = 1_000
const SETTLE_TIMEOUT_MS = 180_000
/** Offered load of the convergence phase, puts/s on one writer. */
const PACED_RATE = 500

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const ipcOf = (node: BenchNode) => {
  if (!node.ipc) throw new Error('needs bench workers')
  return node.ipc
}

/**
 * Starts `n` bench workers. `mesh`: every node but the seed then joins the seed with core's
 * default `maxPeers`, so gossip dials the rest as in `mesh serve --join SEED`. All processes
 * start before any joins: a busy mesh would slow the start of the last ones. `backbone`: every
 * node on `redisUrl` (`redisBackbone(url)`), no peer links.
 */
const startCluster = async (
  kind: Kind,
  n: number,
  redisUrl: string | undefined,
  onSlowJoins: (count: number) => void,
): Promise<BenchNode[]> => {
  const nodes: BenchNode[] = []
  try {
    const args = ['--max-peers', 'default', ...(redisUrl ? ['--backbone', redisUrl] : [])]
    for (let i = 0; i < n; i += START_BATCH) {
      const batch = Array.from({ length: Math.min(START_BATCH, n - i) }, (_, j) =>
        startNode('worker', `${kind}${i + j}`, { args, listenTimeoutMs: LISTEN_TIMEOUT_MS }),
      )
      const started = await Promise.allSettled(batch)
      for (const s of started) if (s.status === 'fulfilled') nodes.push(s.value)
      const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected')
      if (failed) throw failed.reason
    }
    const [seed, ...others] = nodes
    // A few at a time, as in a rolling start: 39 joins at once left the seed unreachable for 10 s at load 30.
    // A join that does not finish its sync in time is not fatal: settle() decides whether the mesh came together.
    let slow = 0
    for (let i = 0; kind === 'mesh' && seed && i < others.length; i += START_BATCH) {
      await Promise.all(
        others.slice(i, i + START_BATCH).map((node) =>
          ipcOf(node)
            .call('join', { urls: [seed.peerUrl], timeoutMs: JOIN_TIMEOUT_MS }, JOIN_TIMEOUT_MS * 3)
            .catch(() => {
              slow++
            }),
        ),
      )
    }
    if (slow > 0) onSlowJoins(slow)
    return nodes
  } catch (error) {
    await stopNodes(nodes)
    throw error
  }
}

interface Settled {
  ms: number
  settled: boolean
  /** Mean open peer links per node. */
  links: number
  /** Fewest alive node members a node knew. */
  minMembers: number
}

/**
 * Waits until every node knows all `n` nodes alive and no node's member count or open links
 * changed over {@link STABLE_POLLS} polls; gives up after {@link SETTLE_TIMEOUT_MS} (the figure says so).
 */
const settle = async (nodes: readonly BenchNode[]): Promise<Settled> => {
  const started = now()
  let last = ''
  let stable = 0
  for (;;) {
    const seen = await Promise.all(
      nodes.map(async (node) => {
        const ipc = ipcOf(node)
        const [members, links] = await Promise.all([ipc.call('members', null), ipc.call('links', null)])
        return { members, links: links.filter((l) => l.link === 'open').length }
      }),
    )
    const minMembers = Math.min(...seen.map((s) => s.members))
    const links = seen.reduce((sum, s) => sum + s.links, 0) / nodes.length
    const key = JSON.stringify(seen)
    stable = key === last && minMembers >= nodes.length ? stable + 1 : 0
    last = key
    const ms = now() - started
    if (stable >= STABLE_POLLS) return { ms, settled: true, links, minMembers }
    if (ms > SETTLE_TIMEOUT_MS) return { ms, settled: false, links, minMembers }
    await sleep(POLL_MS)
  }
}

/** CPU % of one core of every node over `windowMs` of doing nothing (no bench calls in between). */
const idleCpu = async (nodes: readonly BenchNode[], windowMs: number): Promise<number[]> => {
  const before = await Promise.all(nodes.map((n) => ipcOf(n).call('cpu', null)))
  const t0 = now()
  await sleep(windowMs)
  const after = await Promise.all(nodes.map((n) => ipcOf(n).call('cpu', null)))
  const elapsedUs = (now() - t0) * 1000
  return after.map((us, i) => ((us - (before[i] ?? 0)) / elapsedUs) * 100)
}

/** The node that writes: not the seed, which every mesh node dialed first. */
const writerOf = (nodes: readonly BenchNode[]): BenchNode => {
  const writer = nodes[1] ?? nodes[0]
  if (!writer) throw new Error('no nodes')
  return writer
}

/** One writer puts `count` keys (100 a turn, one put each); keys/s until every node applied them all. */
const putsToAll = async (nodes: readonly BenchNode[], count: number): Promise<number> => {
  const writer = writerOf(nodes)
  await Promise.all(nodes.map((n) => n.arm({ count })))
  const { startAt } = await writer.putLoop({ prefix: 's:', count, batch: 1, perTurn: 100 })
  const done = await Promise.all(nodes.map(async (n) => (await n.wait(120_000)).doneAt - n.offset))
  return count / ((Math.max(...done) - (startAt - writer.offset)) / 1000)
}

/** One writer puts `count` keys at {@link PACED_RATE}; per key, the time until the last node had it: p99. */
const convergence = async (nodes: readonly BenchNode[], count: number): Promise<number> => {
  const writer = writerOf(nodes)
  await Promise.all(nodes.map((n) => n.arm({ count, timesPrefix: 'c:' })))
  const { sent } = await ipcOf(writer).call('paced', { prefix: 'c:', count, rate: PACED_RATE }, 300_000)
  const arrivals = await Promise.all(
    nodes.map(async (n) => ((await n.wait(120_000)).times ?? []).map((at) => at - n.offset)),
  )
  const latencies = sent.map(
    (at, i) => Math.max(...arrivals.map((times) => times[i] ?? Infinity)) - (at - writer.offset),
  )
  return quantile(latencies, 0.99)
}

/** What one cluster measured. */
interface ClusterFigures {
  idle: number[]
  settled: Settled
  puts?: number
  convergenceP99?: number
  /** Nodes holding every key written, after both phases. */
  converged?: number
}

const measureCluster = async (
  ctx: Context,
  kind: Kind,
  n: number,
  options: { load: boolean },
): Promise<ClusterFigures> => {
  const redis = kind === 'backbone' ? await startRedis(which('redis-server') ?? 'redis-server') : undefined
  try {
    const url = redis ? `redis://127.0.0.1:${redis.port}` : undefined
    ctx.log(`  ${kind} of ${n}: starting`)
    const nodes = await startCluster(kind, n, url, (count) =>
      ctx.log(`  ${kind} of ${n}: ${count} join(s) did not sync within ${JOIN_TIMEOUT_MS / 1000} s`),
    )
    try {
      const settled = await settle(nodes)
      ctx.log(
        `  ${kind} of ${n}: ${settled.settled ? 'settled' : 'NOT settled'} after ${(settled.ms / 1000).toFixed(1)} s, ` +
          `${settled.links.toFixed(1)} links per node, members ≥ ${settled.minMembers}; load ${(loadavg()[0] ?? 0).toFixed(2)}`,
      )
      const idleMs = ctx.options.sizes.scaleIdleMs
      // MESH_BENCH_IDLE_WARMUP_MS starts the window later: a process's first half minute also
      // compiles and collects startup garbage (a lone node: 0.65 % of a core, then 0.07 %).
      const warmupMs = Number(process.env.MESH_BENCH_IDLE_WARMUP_MS ?? 0)
      if (warmupMs > 0) await sleep(warmupMs)
      const profileDir = process.env.MESH_BENCH_IDLE_PROF
      // The profile spans the idle window of one node (not the seed); it costs that node a little CPU.
      const profiling = profileDir
        ? ipcOf(writerOf(nodes)).call('profile', { ms: idleMs, file: join(profileDir, `${kind}-${n}-idle.cpuprofile`) })
        : undefined
      const measured = await idleCpu(nodes, idleMs)
      await profiling
      // The profiled node pays for its profiler: it is left out of the figure.
      const idle = profiling ? measured.filter((_, i) => nodes[i] !== writerOf(nodes)) : measured
      const figures: ClusterFigures = { idle, settled }
      if (!options.load) return figures
      const { scalePuts, scalePaced } = ctx.options.sizes
      figures.puts = await putsToAll(nodes, scalePuts)
      figures.convergenceP99 = await convergence(nodes, scalePaced)
      const sizes = await Promise.all(nodes.map((node) => ipcOf(node).call('size', null)))
      figures.converged = sizes.filter((s) => s === scalePuts + scalePaced).length
      return figures
    } finally {
      await stopNodes(nodes)
    }
  } finally {
    if (redis) await stopChild(redis.child)
  }
}

const sum = (values: readonly number[]) => values.reduce((a, b) => a + b, 0)

const backboneNames = (sizes: readonly number[]) => sizes.map((n) => `backbone_idle_cpu_pct_${n}`)

/** Wanted by exact name or by its family (`--only membership_idle_cpu_pct` selects every size). */
const wantsFamily = (ctx: Context, name: string): boolean => {
  const only = ctx.options.only
  return only === undefined || only.has(name) || only.has(name.replace(/_\d+$/, ''))
}

/**
 * Issue 19 point 5 and issue 18 point 6, at scale, each node its own process:
 * - `membership_idle_cpu_pct_10`, `_40`: a peer mesh of `mesh serve`-like workers, each joining
 *   one seed with gossip dialing on (core's default `maxPeers`); once members and links are
 *   stable, CPU % of one core per node over a window in which nothing is asked of them.
 * - `backbone_idle_cpu_pct_10`, `_30`: the same on the Redis backbone (a redis-server of the
 *   bench's own), beside `membership_idle_cpu_pct_10`, `_30` of the mesh in the same run; for
 *   both, `<kind>_replicated_puts_<n>` (one writer, keys/s until every node applied them) and
 *   `<kind>_convergence_p99_ms_<n>` (a paced writer, time until the last node has a key), and
 *   how many nodes hold every key.
 * Heavy (tens of processes): in full mode, or with --only.
 */
export const measureScale = async (ctx: Context): Promise<void> => {
  const { mode, only } = ctx.options
  // Issue 19's sizes come with `--only membership_idle_cpu_pct`; the mesh at 30 with the backbone's (or by its full name).
  const meshAlone = [10, 40].filter((n) => wantsFamily(ctx, `membership_idle_cpu_pct_${n}`))
  if (ctx.options.only?.has('membership_idle_cpu_pct_30')) meshAlone.push(30)
  const backboneSizes = [10, 30].filter((n) => wantsFamily(ctx, `backbone_idle_cpu_pct_${n}`))
  if (meshAlone.length === 0 && backboneSizes.length === 0) return
  const allNames = [10, 30, 40].map((n) => `membership_idle_cpu_pct_${n}`).concat(backboneNames(backboneSizes))
  if (mode === 'smoke' || (mode === 'quick' && only === undefined) || ctx.options.nodes === 'cli') {
    const reason = ctx.options.nodes === 'cli' ? 'needs bench workers' : 'full mode, or --only NAME'
    for (const name of allNames) if (name !== 'membership_idle_cpu_pct_30') ctx.skip(name, reason)
    return
  }
  const redisServer = which('redis-server')
  if (backboneSizes.length > 0 && !redisServer) {
    for (const name of backboneNames(backboneSizes)) {
      ctx.skip(name, 'redis-server not installed (Debian: apt-get install redis-server)')
    }
  }
  // Mesh and backbone of one size one after the other, so both see about the same machine.
  const plan: Array<{ kind: Kind; n: number; load: boolean }> = []
  for (const n of [...new Set([...meshAlone, ...backboneSizes])].sort((a, b) => a - b)) {
    const load = backboneSizes.includes(n)
    plan.push({ kind: 'mesh', n, load })
    if (load && redisServer) plan.push({ kind: 'backbone', n, load })
  }
  for (const { kind, n, load } of plan) {
    const prefix = kind === 'mesh' ? 'membership' : 'backbone'
    const name = `${prefix}_idle_cpu_pct_${n}`
    // Not ctx.guard: the figure runs when its family is named, and the mesh of a backbone comparison runs anyway.
    try {
      const loadStart = loadavg()[0] ?? 0
      const f = await measureCluster(ctx, kind, n, { load })
      const total = (sum(f.idle) / f.idle.length) * n
      const note =
        `${n} node processes, ${kind === 'mesh' ? 'peer mesh (join one seed, gossip dialing)' : 'Redis backbone'}; ` +
        `CPU % of a core per node over ${ctx.options.sizes.scaleIdleMs / 1000} s idle after ` +
        `${f.settled.settled ? 'settling' : 'NOT settling'} in ${(f.settled.ms / 1000).toFixed(0)} s`
      ctx.record('metrics', name, '% core/node', [total / n], note, {
        total_pct: total,
        max_node_pct: Math.max(...f.idle),
        median_node_pct: quantile(f.idle, 0.5),
        links_per_node: f.settled.links,
        load_1m: loadStart,
      })
      if (f.puts !== undefined) {
        ctx.record(
          'metrics',
          `${kind}_replicated_puts_${n}`,
          'puts/s',
          [f.puts],
          `${n} nodes, one writer, applied on all`,
        )
      }
      if (f.convergenceP99 !== undefined) {
        ctx.record(
          'metrics',
          `${kind}_convergence_p99_ms_${n}`,
          'ms',
          [f.convergenceP99],
          `${n} nodes, ${PACED_RATE} puts/s on one node, until the last node has the key`,
          { converged_nodes: f.converged ?? 0, nodes: n },
        )
        if (f.converged !== n) ctx.log(`  ${kind} of ${n}: only ${f.converged ?? 0} of ${n} nodes hold every key`)
      }
    } catch (error) {
      ctx.failed.push(name)
      ctx.skip(name, `failed: ${(error instanceof Error ? error.message : String(error)).split('\n')[0] ?? ''}`)
    }
  }
}
