import { layoutLabel, layoutSuffix, withLayout, type Layout } from '../baselines/layout-nodes.js'
import { startNode, stopNodes, type BenchNode } from '../cluster.js'
import type { Context } from '../context.js'
import { summarize } from '../stats.js'
import type { DistinctResult } from '../worker-ops.js'

const TIMEOUT_MS = 900_000
const LAYOUTS: readonly Layout[] = ['map', 'array']
/** Keys per `put(object)` (one per event-loop turn). */
export const DISTINCT_BATCH = 1000

const ipcOf = (node: BenchNode) => {
  if (!node.ipc) throw new Error('needs bench workers')
  return node.ipc
}

/** keys/s of the whole run, and the medians of the details. */
const summary = (results: readonly DistinctResult[], count: number) => {
  const tenth = Math.max(1, Math.floor(count / 10))
  const median = (f: (r: DistinctResult) => number) => summarize(results.map(f)).value
  return {
    rates: results.map((r) => count / (r.ms / 1000)),
    detail: {
      keys: count,
      first_tenth_keys_per_s: median((r) => tenth / (r.firstTenthMs / 1000)),
      last_tenth_keys_per_s: median((r) => tenth / (r.lastTenthMs / 1000)),
      heap_bytes_per_key: median((r) => (r.after.heapUsed - r.before.heapUsed) / count),
      cpu_us_per_key: median((r) => r.cpuUs / count),
    },
  }
}

/**
 * `put_object_distinct_ops` (issue 14): a fresh node writes N distinct keys (1M in full mode)
 * with `await node.put(object)` of {@link DISTINCT_BATCH} keys, one per event-loop turn; keys/s
 * over the run, with the rate of the first and the last tenth of the keys (a write cost that
 * grows with the store shows as a slower last tenth) and the writer's heap per key. The same
 * writes on a bare `Y.Map` and on the bare array layout are the baselines.
 */
export const measureDistinct = async (ctx: Context): Promise<void> => {
  const count = ctx.options.sizes.distinct
  const runs = ctx.options.sizes.heavyRuns
  const what = `${count.toLocaleString('en-US')} distinct keys, put(object) of ${DISTINCT_BATCH} per event-loop turn`
  const name = 'put_object_distinct_ops'
  await ctx.guard([name], async () => {
    if (ctx.options.nodes === 'cli') {
      ctx.skip(name, 'put(object) is not in the REST API (--nodes cli)')
      return
    }
    const results: DistinctResult[] = []
    await ctx.repeat(
      name,
      'keys/s',
      async (i) => {
        const node = await startNode('worker', `distinct${i}`)
        try {
          const r = await ipcOf(node).call('distinct', { prefix: 'd', count, batch: DISTINCT_BATCH }, TIMEOUT_MS)
          results.push(r)
          return count / (r.ms / 1000)
        } finally {
          await stopNodes([node])
        }
      },
      runs,
    )
    const s = summary(results, count)
    ctx.record('metrics', name, 'keys/s', s.rates, `one node, ${what}`, s.detail)
  })
  for (const layout of LAYOUTS) {
    const baseline = `${name}${layoutSuffix(layout)}`
    await ctx.guard([baseline], async () => {
      const results: DistinctResult[] = []
      await ctx.repeat(
        baseline,
        'keys/s',
        (i) =>
          withLayout(layout, `distinct${i}`, async (node) => {
            const r = await node.ipc.call('distinct', { prefix: 'd', count, batch: DISTINCT_BATCH }, TIMEOUT_MS)
            results.push(r)
            return count / (r.ms / 1000)
          }),
        runs,
      )
      const s = summary(results, count)
      ctx.record('baselines', baseline, 'keys/s', s.rates, `${layoutLabel(layout)}: ${what}`, s.detail)
    })
  }
}
