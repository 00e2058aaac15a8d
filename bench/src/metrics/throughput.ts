import { connect, fullMesh, startNodes, stopNodes, withNodes, type BenchNode } from '../cluster.js'
import type { Context } from '../context.js'
import { measuredKeys } from '../options.js'
import { summarize } from '../stats.js'
import type { RelayCounts } from '../worker-ops.js'

/** Keys the writer offers per event-loop turn: 100 put calls, or one put(object) of 100 keys. */
export const KEYS_PER_TURN = 100
const BATCH = 100
const TIMEOUT_MS = 180_000

/** What one write phase measured. */
export interface PhaseResult {
  /** Keys per second, from the first write to the last apply anywhere. */
  rate: number
  /** CPU time all node processes together spent per key (µs), when readable: robust to a busy machine. */
  cpuUsPerKey: number | undefined
  /** Duplicates of the phase on all nodes together (issue 19), when readable. */
  duplicates?: RelayCounts
}

/** Sums the duplicate counters of nodes; undefined when one cannot tell. */
const totalRelays = async (nodes: readonly BenchNode[]): Promise<RelayCounts | undefined> => {
  const counts = await Promise.all(nodes.map((n) => n.relays()))
  if (!counts.every((c): c is RelayCounts => c !== undefined)) return undefined
  return {
    duplicatesApplied: counts.reduce((n, c) => n + c.duplicatesApplied, 0),
    duplicatesDropped: counts.reduce((n, c) => n + c.duplicatesDropped, 0),
  }
}

/** Sums the CPU time of processes; undefined when one cannot tell. */
export const totalCpu = async (readers: ReadonlyArray<() => Promise<number | undefined>>) => {
  const values = await Promise.all(readers.map((r) => r()))
  return values.every((v): v is number => v !== undefined) ? values.reduce((a, b) => a + b, 0) : undefined
}

/**
 * One write phase: every node arms a counter for all keys of the phase, `writers` nodes
 * write their share concurrently, and the phase ends when the last node has applied the
 * last key.
 */
export const writePhase = async (
  nodes: readonly BenchNode[],
  options: { writers: number; batch: number; total: number; prefix: string },
): Promise<PhaseResult> => {
  const per = Math.floor(options.total / options.writers)
  const total = per * options.writers
  await Promise.all(nodes.map((n) => n.arm({ count: total })))
  const cpuBefore = await totalCpu(nodes.map((n) => () => n.cpu()))
  const relaysBefore = await totalRelays(nodes)
  const loops = nodes
    .slice(0, options.writers)
    .map((n, w) =>
      n.putLoop({ prefix: `${options.prefix}${w}:`, count: per, batch: options.batch, perTurn: KEYS_PER_TURN }),
    )
  const waits = nodes.map((n) => n.wait(TIMEOUT_MS))
  const [ran, applied] = await Promise.all([Promise.all(loops), Promise.all(waits)])
  const cpuAfter = await totalCpu(nodes.map((n) => () => n.cpu()))
  const relaysAfter = await totalRelays(nodes)
  const duplicates =
    relaysBefore && relaysAfter
      ? {
          duplicatesApplied: relaysAfter.duplicatesApplied - relaysBefore.duplicatesApplied,
          duplicatesDropped: relaysAfter.duplicatesDropped - relaysBefore.duplicatesDropped,
        }
      : undefined
  const cpuUsPerKey = cpuBefore === undefined || cpuAfter === undefined ? undefined : (cpuAfter - cpuBefore) / total
  const start = Math.min(...ran.map((r, i) => r.startAt - (nodes[i]?.offset ?? 0)))
  const end = Math.max(
    ...applied.map((a, i) => a.doneAt - (nodes[i]?.offset ?? 0)),
    ...ran.map((r, i) => r.endAt - (nodes[i]?.offset ?? 0)),
  )
  return { rate: total / ((end - start) / 1000), cpuUsPerKey, duplicates }
}

const NAMES = ['a', 'b', 'c']
let phases = 0

/** A warm-up phase, then the measured one (sized from the warm-up's rate), on the given nodes. */
const warmThenMeasure = async (
  ctx: Context,
  nodes: BenchNode[],
  options: { writers: number; batch: number },
): Promise<PhaseResult & { keys: number }> => {
  const { sizes } = ctx.options
  const multiple = options.writers * options.batch
  const warm = Math.max(multiple, Math.round(sizes.warmup / multiple) * multiple)
  const { rate } = await writePhase(nodes, { ...options, total: warm, prefix: `warm${++phases}-` })
  const keys = measuredKeys(sizes, rate, multiple)
  return { ...(await writePhase(nodes, { ...options, total: keys, prefix: `m${++phases}-` })), keys }
}

/** Fresh nodes for one run (1 alone, or 3 fully connected), or the shared cluster in smoke mode. */
const run = async (
  ctx: Context,
  shared: () => Promise<BenchNode[]>,
  options: { nodes: 1 | 3; writers: number; batch: number },
): Promise<PhaseResult & { keys: number }> => {
  if (options.nodes === 3 && ctx.options.sizes.shareNodes) return warmThenMeasure(ctx, await shared(), options)
  return withNodes(ctx.options.nodes, NAMES.slice(0, options.nodes), async (nodes) => {
    if (nodes.length > 1) await connect(nodes, fullMesh(nodes.length))
    return warmThenMeasure(ctx, nodes, options)
  })
}

/**
 * `put_local_ops`, `replicated_puts_1w`, `replicated_puts_batched`, `replicated_puts_3w`:
 * put throughput on one node, and fully applied on all 3 of a full mesh.
 */
export const measureThroughput = async (ctx: Context): Promise<void> => {
  let cluster: BenchNode[] | undefined
  const shared = async () => {
    if (!cluster) {
      cluster = await startNodes(ctx.options.nodes, NAMES)
      await connect(cluster, fullMesh(cluster.length))
    }
    return cluster
  }
  try {
    await measureAll(ctx, shared)
  } finally {
    if (cluster) await stopNodes(cluster)
  }
}

/** Repeats one throughput figure and records it with the median CPU cost per key. */
const figure = async (
  ctx: Context,
  shared: () => Promise<BenchNode[]>,
  figureOf: { name: string; unit: string; note: string },
  options: { nodes: 1 | 3; writers: number; batch: number },
): Promise<void> => {
  const cpu: number[] = []
  const keys: number[] = []
  const applied: number[] = []
  const dropped: number[] = []
  const runs = await ctx.repeat(figureOf.name, figureOf.unit, async () => {
    const result = await run(ctx, shared, options)
    if (result.cpuUsPerKey !== undefined) cpu.push(result.cpuUsPerKey)
    if (result.duplicates) {
      applied.push(result.duplicates.duplicatesApplied)
      dropped.push(result.duplicates.duplicatesDropped)
    }
    keys.push(result.keys)
    return result.rate
  })
  // Issue 19: live updates a replica received with nothing new, and relays left out, in the
  // measured phase on all nodes together (a full mesh should apply none twice).
  const detail = {
    keys: summarize(keys).value,
    ...(cpu.length > 0 ? { cpu_us_per_key: summarize(cpu).value } : {}),
    ...(options.nodes === 3 && applied.length > 0
      ? { duplicates_applied: summarize(applied).value, relays_dropped: summarize(dropped).value }
      : {}),
  }
  ctx.record('metrics', figureOf.name, figureOf.unit, runs, figureOf.note, detail)
}

const measureAll = async (ctx: Context, shared: () => Promise<BenchNode[]>): Promise<void> => {
  const { nodes } = ctx.options
  await ctx.guard(['put_local_ops'], () =>
    figure(
      ctx,
      shared,
      { name: 'put_local_ops', unit: 'puts/s', note: 'one node, await put(key, value) per key' },
      { nodes: 1, writers: 1, batch: 1 },
    ),
  )
  await ctx.guard(['replicated_puts_1w'], () =>
    figure(
      ctx,
      shared,
      { name: 'replicated_puts_1w', unit: 'puts/s', note: '3-node full mesh, 1 writer, applied on all 3' },
      { nodes: 3, writers: 1, batch: 1 },
    ),
  )
  await ctx.guard(['replicated_puts_batched'], async () => {
    if (nodes === 'cli') {
      ctx.skip('replicated_puts_batched', 'put(object) is not in the REST API (--nodes cli)')
      return
    }
    await figure(
      ctx,
      shared,
      { name: 'replicated_puts_batched', unit: 'keys/s', note: `put(object) of ${BATCH} keys, applied on all 3` },
      { nodes: 3, writers: 1, batch: BATCH },
    )
  })
  await ctx.guard(['replicated_puts_3w'], () =>
    figure(
      ctx,
      shared,
      { name: 'replicated_puts_3w', unit: 'puts/s', note: '3 writers at once, total, applied on all 3' },
      { nodes: 3, writers: 3, batch: 1 },
    ),
  )
}
