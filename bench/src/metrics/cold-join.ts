import { layoutLabel, layoutSuffix, startLayout, withLayout, type Layout } from '../baselines/layout-nodes.js'
import { startNode, stopNodes, type BenchNode } from '../cluster.js'
import type { Context } from '../context.js'
import { summarize } from '../stats.js'
import type { NodeOps } from '../worker-ops.js'

const LAYOUTS: readonly Layout[] = ['map', 'array']
/** Keys per transaction when a holder is filled. */
const FILL_BATCH = 10_000

const TIMEOUT_MS = 120_000

const metricName = (keys: number): string =>
  keys >= 1_000_000 && keys % 1_000_000 === 0 ? `cold_join_${keys / 1_000_000}m_ms` : `cold_join_${keys / 1000}k_ms`

const ipcOf = (node: BenchNode) => {
  if (!node.ipc) throw new Error('needs bench workers')
  return node.ipc
}

/**
 * `cold_join_100k_ms`, `cold_join_1m_ms` and `heap_bytes_per_key`: a node holds N keys
 * (written in put(object) batches of 10k); per run a fresh node process joins it, and the
 * time runs from `join()` until it is synced and holds all N keys. The joiner's heap
 * (after full GCs) before and after gives the replica's heap per key at the largest N.
 */
export const measureColdJoin = async (ctx: Context): Promise<void> => {
  const sizes = ctx.options.sizes.coldJoin
  const largest = Math.max(...sizes)
  for (const keys of sizes) {
    const name = metricName(keys)
    const names = keys === largest ? [name, 'heap_bytes_per_key'] : [name]
    await ctx.guard(names, async () => {
      if (ctx.options.nodes === 'cli') {
        for (const n of names) ctx.skip(n, 'heap figures and bulk fill need bench workers (--nodes worker)')
        return
      }
      const holder = await startNode('worker', 'holder')
      try {
        const fill = await ipcOf(holder).call('fill', { prefix: 'k', count: keys, batch: FILL_BATCH }, 600_000)
        ctx.log(`  holder filled with ${keys} keys in ${Math.round(fill.ms)} ms`)
        const heap: number[] = []
        const offHeap: number[] = []
        const cpu: number[] = []
        const times = await ctx.repeat(name, 'ms', async (i) => {
          const joiner = await startNode('worker', `joiner${i}`)
          try {
            const args: NodeOps['cold-join']['args'] = { url: holder.peerUrl, keys, timeoutMs: TIMEOUT_MS }
            const r = await ipcOf(joiner).call('cold-join', args, TIMEOUT_MS + 10_000)
            if (r.keys < keys) throw new Error(`joiner holds ${r.keys} of ${keys} keys`)
            heap.push((r.after.heapUsed - r.before.heapUsed) / keys)
            cpu.push(r.cpuUs / 1000)
            offHeap.push((r.after.arrayBuffers - r.before.arrayBuffers) / keys)
            return r.ms
          } finally {
            await stopNodes([joiner])
          }
        })
        // The joiner's CPU time moves far less than wall time when the machine is shared.
        ctx.record('metrics', name, 'ms', times, `fresh process joins a node holding ${keys} keys`, {
          joiner_cpu_ms: Math.round(summarize(cpu).value),
        })
        if (keys === largest) {
          // The store's index keeps ids in typed arrays, whose memory is outside `heapUsed`.
          const arrayBuffers = [...offHeap].sort((x, y) => x - y)[offHeap.length >> 1] ?? 0
          ctx.record('metrics', 'heap_bytes_per_key', 'B', heap, `joined replica, ${keys} keys, heapUsed after gc`, {
            array_buffer_bytes_per_key: Math.round(arrayBuffers * 10) / 10,
          })
        }
      } finally {
        await stopNodes([holder])
      }
    })
    for (const layout of LAYOUTS) await measureLayoutJoin(ctx, layout, keys, keys === largest)
  }
}

/**
 * `cold_join_<N>_ms_ymap` / `_yarray` and `heap_bytes_per_key_ymap` / `_yarray`: the same cold
 * join on a bare layout, no Mesh: a holder filled in transactions of 10k keys sends its whole
 * state as one V2 update to a fresh process, which applies it. Time from opening the socket
 * until applied; the joiner's heap per key after full GCs.
 */
const measureLayoutJoin = async (ctx: Context, layout: Layout, keys: number, heapToo: boolean): Promise<void> => {
  const suffix = layoutSuffix(layout)
  const name = `${metricName(keys)}${suffix}`
  const heapName = `heap_bytes_per_key${suffix}`
  await ctx.guard(heapToo ? [name, heapName] : [name], async () => {
    const holder = await startLayout(layout, 'holder')
    try {
      const fill = await holder.ipc.call('distinct', { prefix: 'k', count: keys, batch: FILL_BATCH }, 600_000)
      ctx.log(`  ${layout} holder filled with ${keys} keys in ${Math.round(fill.ms)} ms`)
      const heap: number[] = []
      const cpu: number[] = []
      const times = await ctx.repeat(
        name,
        'ms',
        (i) =>
          withLayout(layout, `joiner${i}`, async (joiner) => {
            const args = { url: holder.wsUrl, keys, timeoutMs: TIMEOUT_MS }
            const r = await joiner.ipc.call('cold-join', args, TIMEOUT_MS + 10_000)
            heap.push((r.after.heapUsed - r.before.heapUsed) / keys)
            cpu.push(r.cpuUs / 1000)
            return r.ms
          }),
        ctx.options.sizes.heavyRuns,
      )
      ctx.record('baselines', name, 'ms', times, `${layoutLabel(layout)}: a fresh process applies ${keys} keys`, {
        joiner_cpu_ms: Math.round(summarize(cpu).value),
      })
      if (heapToo) {
        ctx.record('baselines', heapName, 'B', heap, `${layoutLabel(layout)}: joined replica, ${keys} keys`)
      }
    } finally {
      await holder.stop()
    }
  })
}
