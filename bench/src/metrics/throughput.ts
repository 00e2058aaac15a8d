import { connect, fullMesh, startNodes, stopNodes, withNodes, type BenchNode } from '../cluster.js'
import type { Context } from '../context.js'

/** Keys the writer offers per event-loop turn: 100 put calls, or one put(object) of 100 keys. */
export const KEYS_PER_TURN = 100
const BATCH = 100
const TIMEOUT_MS = 180_000

/**
 * One write phase: every node arms a counter for all keys of the phase, `writers` nodes
 * write their share concurrently, and the phase ends when the last node has applied the
 * last key. Returns keys per second, from the first write to the last apply anywhere.
 */
export const writePhase = async (
  nodes: readonly BenchNode[],
  options: { writers: number; batch: number; total: number; prefix: string },
): Promise<number> => {
  const per = Math.floor(options.total / options.writers)
  const total = per * options.writers
  await Promise.all(nodes.map((n) => n.arm({ count: total })))
  const loops = nodes
    .slice(0, options.writers)
    .map((n, w) =>
      n.putLoop({ prefix: `${options.prefix}${w}:`, count: per, batch: options.batch, perTurn: KEYS_PER_TURN }),
    )
  const waits = nodes.map((n) => n.wait(TIMEOUT_MS))
  const [ran, applied] = await Promise.all([Promise.all(loops), Promise.all(waits)])
  const start = Math.min(...ran.map((r, i) => r.startAt - (nodes[i]?.offset ?? 0)))
  const end = Math.max(
    ...applied.map((a, i) => a.doneAt - (nodes[i]?.offset ?? 0)),
    ...ran.map((r, i) => r.endAt - (nodes[i]?.offset ?? 0)),
  )
  return total / ((end - start) / 1000)
}

const NAMES = ['a', 'b', 'c']
let phases = 0

/** A warm-up phase, then the measured one, on the given nodes. */
const warmThenMeasure = async (
  ctx: Context,
  nodes: BenchNode[],
  options: { writers: number; batch: number; total: number },
): Promise<number> => {
  const warm = Math.min(ctx.options.sizes.warmup, options.total)
  await writePhase(nodes, { ...options, total: warm, prefix: `warm${++phases}-` })
  return writePhase(nodes, { ...options, prefix: `m${++phases}-` })
}

/** Fresh nodes for one run (1 alone, or 3 fully connected), or the shared cluster in smoke mode. */
const run = async (
  ctx: Context,
  shared: () => Promise<BenchNode[]>,
  options: { nodes: 1 | 3; writers: number; batch: number; total: number },
): Promise<number> => {
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

const measureAll = async (ctx: Context, shared: () => Promise<BenchNode[]>): Promise<void> => {
  const { sizes, nodes } = ctx.options
  await ctx.guard(['put_local_ops'], async () => {
    const runs = await ctx.repeat('put_local_ops', 'puts/s', () =>
      run(ctx, shared, { nodes: 1, writers: 1, batch: 1, total: sizes.putLocal }),
    )
    ctx.record('metrics', 'put_local_ops', 'puts/s', runs, 'one node, await put(key, value) per key')
  })
  await ctx.guard(['replicated_puts_1w'], async () => {
    const runs = await ctx.repeat('replicated_puts_1w', 'puts/s', () =>
      run(ctx, shared, { nodes: 3, writers: 1, batch: 1, total: sizes.replicated1w }),
    )
    ctx.record('metrics', 'replicated_puts_1w', 'puts/s', runs, '3-node full mesh, 1 writer, applied on all 3')
  })
  await ctx.guard(['replicated_puts_batched'], async () => {
    if (nodes === 'cli') return ctx.skip('replicated_puts_batched', 'put(object) is not in the REST API (--nodes cli)')
    const runs = await ctx.repeat('replicated_puts_batched', 'keys/s', () =>
      run(ctx, shared, { nodes: 3, writers: 1, batch: BATCH, total: sizes.replicatedBatched }),
    )
    ctx.record('metrics', 'replicated_puts_batched', 'keys/s', runs, `put(object) of ${BATCH} keys, applied on all 3`)
  })
  await ctx.guard(['replicated_puts_3w'], async () => {
    const runs = await ctx.repeat('replicated_puts_3w', 'puts/s', () =>
      run(ctx, shared, { nodes: 3, writers: 3, batch: 1, total: sizes.replicated3w }),
    )
    ctx.record('metrics', 'replicated_puts_3w', 'puts/s', runs, '3 writers at once, total, applied on all 3')
  })
}
