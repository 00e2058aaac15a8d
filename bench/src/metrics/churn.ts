import { layoutLabel, layoutSuffix, withLayout, type Layout } from '../baselines/layout-nodes.js'
import { startNode, stopNodes, type BenchNode } from '../cluster.js'
import type { Context } from '../context.js'
import { summarize } from '../stats.js'
import type { ChurnResult } from '../worker-ops.js'

const MB = 2 ** 20
const TIMEOUT_MS = 600_000
const LAYOUTS: readonly Layout[] = ['map', 'array']

const ipcOf = (node: BenchNode) => {
  if (!node.ipc) throw new Error('needs bench workers')
  return node.ipc
}

/** Heap growth (MB), rate and the medians of the details, over the runs of one churn figure. */
const summary = (results: readonly ChurnResult[], writes: number) => ({
  heapMb: results.map((r) => (r.after.heapUsed - r.before.heapUsed) / MB),
  rates: results.map((r) => writes / (r.ms / 1000)),
  detail: {
    state_kb: summarize(results.map((r) => r.stateBytes / 1024)).value,
    cpu_us_per_key: summarize(results.map((r) => r.cpuUs / writes)).value,
  },
})

/**
 * `churn_heap_mb` and `churn_put_ops` (issue 14): a fresh node writes `keys` hot keys, then
 * overwrites them `writes` times in turn through `MeshNode.put`, one put per event-loop turn
 * (one transaction each); the figure is the live heap (`heapUsed` after full GCs) after the
 * overwrites minus before. The same churn on a bare `Y.Map` (`churn_heap_mb_ymap`, what Mesh
 * used before) and on the bare array layout (`churn_heap_mb_yarray`) runs in the same bench.
 */
export const measureChurn = async (ctx: Context): Promise<void> => {
  const { keys, writes } = ctx.options.sizes.churn
  const runs = ctx.options.sizes.heavyRuns
  const what = `${writes.toLocaleString('en-US')} overwrites of ${keys.toLocaleString('en-US')} keys, one put per event-loop turn`
  await ctx.guard(['churn_heap_mb', 'churn_put_ops'], async () => {
    if (ctx.options.nodes === 'cli') {
      for (const n of ['churn_heap_mb', 'churn_put_ops'])
        ctx.skip(n, 'heap figures need bench workers (--nodes worker)')
      return
    }
    const results: ChurnResult[] = []
    await ctx.repeat(
      'churn_heap_mb',
      'MB',
      async (i) => {
        const node = await startNode('worker', `churn${i}`)
        try {
          const r = await ipcOf(node).call('churn', { keys, writes }, TIMEOUT_MS)
          results.push(r)
          return (r.after.heapUsed - r.before.heapUsed) / MB
        } finally {
          await stopNodes([node])
        }
      },
      runs,
    )
    const s = summary(results, writes)
    ctx.record('metrics', 'churn_heap_mb', 'MB', s.heapMb, `${what}; live heap growth (after full GCs)`, {
      state_kb: s.detail.state_kb,
    })
    ctx.record('metrics', 'churn_put_ops', 'puts/s', s.rates, `${what}: puts/s`, {
      cpu_us_per_key: s.detail.cpu_us_per_key,
    })
  })
  for (const layout of LAYOUTS) {
    const name = `churn_heap_mb${layoutSuffix(layout)}`
    await ctx.guard([name], async () => {
      const results: ChurnResult[] = []
      await ctx.repeat(
        name,
        'MB',
        (i) =>
          withLayout(layout, `churn${i}`, async (node) => {
            const r = await node.ipc.call('churn', { keys, writes }, TIMEOUT_MS)
            results.push(r)
            return (r.after.heapUsed - r.before.heapUsed) / MB
          }),
        runs,
      )
      const s = summary(results, writes)
      ctx.record('baselines', name, 'MB', s.heapMb, `${layoutLabel(layout)}: ${what}; live heap growth`, {
        state_kb: s.detail.state_kb,
        puts_per_s: summarize(s.rates).value,
        cpu_us_per_key: s.detail.cpu_us_per_key,
      })
    })
  }
}
