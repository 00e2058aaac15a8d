import { connect, fullMesh, withNodes, type BenchNode } from '../cluster.js'
import type { Context } from '../context.js'
import type { IpcClient } from '../ipc.js'
import { quantile } from '../stats.js'
import type { NodeOps } from '../worker-ops.js'

const TIMEOUT_MS = 180_000

const ipcOf = (node: BenchNode): IpcClient<NodeOps> => {
  if (!node.ipc) throw new Error('needs bench workers')
  return node.ipc
}

/**
 * Issue 16's figures: `rate_limit_take_per_s` (one worker, `take` of one key in a tight loop:
 * no I/O) and `lease_acquire_p99_ms` (3 worker processes fully connected, all declaring
 * `mesh.lease`; A acquires and releases a lease that B or C owns, one after the other; the
 * latency of each acquire, after a warm-up that starts the lease's owner and reserves its
 * first block of tokens).
 */
export const measureRecipes = async (ctx: Context): Promise<void> => {
  const { leaseAcquires, rateTakes } = ctx.options.sizes
  await ctx.guard(['rate_limit_take_per_s'], async () => {
    if (ctx.options.nodes === 'cli') {
      ctx.skip('rate_limit_take_per_s', 'needs bench workers (--nodes worker)')
      return
    }
    const values = await ctx.repeat('rate_limit_take_per_s', 'takes/s', () =>
      withNodes('worker', ['a'], async ([a]) => {
        const ipc = ipcOf(a as BenchNode)
        await ipc.call('take-loop', { count: Math.min(rateTakes, 1_000_000) }, TIMEOUT_MS)
        const span = await ipc.call('take-loop', { count: rateTakes }, TIMEOUT_MS)
        return rateTakes / ((span.endAt - span.startAt) / 1000)
      }),
    )
    ctx.record('metrics', 'rate_limit_take_per_s', 'takes/s', values, `one worker, ${rateTakes} takes of one key`)
  })
  await ctx.guard(['lease_acquire_p99_ms'], async () => {
    if (ctx.options.nodes === 'cli') {
      ctx.skip('lease_acquire_p99_ms', 'needs bench workers (--nodes worker)')
      return
    }
    const p50s: number[] = []
    const maxes: number[] = []
    const values = await ctx.repeat('lease_acquire_p99_ms', 'ms', () =>
      withNodes('worker', ['a', 'b', 'c'], async (nodes) => {
        await connect(nodes, fullMesh(3))
        await Promise.all(nodes.map((n) => ipcOf(n).call('enable-leases', { members: 3 }, 60_000)))
        const a = ipcOf(nodes[0] as BenchNode)
        await a.call('lease-loop', { count: Math.min(200, leaseAcquires) }, TIMEOUT_MS)
        const { latencies } = await a.call('lease-loop', { count: leaseAcquires }, TIMEOUT_MS)
        p50s.push(quantile(latencies, 0.5))
        maxes.push(Math.max(...latencies))
        return quantile(latencies, 0.99)
      }),
    )
    ctx.record(
      'metrics',
      'lease_acquire_p99_ms',
      'ms',
      values,
      `3 worker processes, fully connected; A acquires and releases a lease B or C owns, ${leaseAcquires} times in a row`,
      { p50_ms: quantile(p50s, 0.5), max_ms: Math.max(...maxes) },
    )
  })
}
