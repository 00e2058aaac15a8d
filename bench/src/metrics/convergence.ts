import { connect, withNodes, type BenchNode } from '../cluster.js'
import type { Context } from '../context.js'
import type { PauseStats } from '../pause-watch.js'
import { quantile, summarize } from '../stats.js'

const ipcOf = (node: BenchNode | undefined) => {
  if (!node?.ipc) throw new Error('needs bench workers')
  return node.ipc
}

/**
 * One paced phase: A writes `count` keys at `rate` puts/s; C records when each arrived.
 * Returns the A→C latency of every key, in ms, corrected for the clock offsets.
 */
const pacedPhase = async (
  a: BenchNode,
  c: BenchNode,
  options: { prefix: string; count: number; rate: number },
): Promise<number[]> => {
  await c.arm({ count: options.count, timesPrefix: options.prefix })
  const { sent } = await ipcOf(a).call('paced', options, 300_000)
  const { times } = await c.wait(30_000)
  if (!times) throw new Error('no arrival times')
  return times.map((at, i) => at - c.offset - ((sent[i] ?? 0) - a.offset))
}

/**
 * What bounds the tail (issue 19): per run, the GCs of all three nodes in the measured phase
 * (count, how many over 2 ms, the longest) and the worst node's event-loop delay p99 and
 * maximum; the median over the runs.
 */
const pauseDetail = (runs: PauseStats[][]): Record<string, number> => {
  if (runs.length === 0) return {}
  const median = (of: (run: PauseStats[]) => number): number => summarize(runs.map(of)).value
  const sum = (run: PauseStats[], f: (p: PauseStats) => number) => run.reduce((n, p) => n + f(p), 0)
  const max = (run: PauseStats[], f: (p: PauseStats) => number) => Math.max(0, ...run.map(f))
  return {
    gc_count: median((r) => sum(r, (p) => p.gcCount)),
    gc_over_2ms: median((r) => sum(r, (p) => p.gcOver2ms)),
    gc_total_ms: median((r) => sum(r, (p) => p.gcTotalMs)),
    gc_max_ms: median((r) => max(r, (p) => p.gcMaxMs)),
    loop_delay_p99_ms: median((r) => max(r, (p) => p.loopDelayP99Ms)),
    loop_delay_max_ms: median((r) => max(r, (p) => p.loopDelayMaxMs)),
  }
}

/**
 * `convergence_p50_ms`, `convergence_p99_ms`: chain A–B–C (A and C are not linked), A writes
 * at a fixed offered load; time from each put on A until C's change event for that key.
 */
export const measureConvergence = async (ctx: Context): Promise<void> => {
  const names = ['convergence_p50_ms', 'convergence_p99_ms']
  await ctx.guard(names, async () => {
    if (ctx.options.nodes === 'cli') {
      for (const n of names) ctx.skip(n, 'per-key arrival times need bench workers (--nodes worker)')
      return
    }
    const { convergenceRate: rate, convergenceWarmupMs, convergenceMs } = ctx.options.sizes
    const p50: number[] = []
    const p99: number[] = []
    /** Per run, what stalled each node's event loop in the measured phase. */
    const pauses: PauseStats[][] = []
    let topology = ''
    await ctx.repeat('convergence_p99_ms', 'ms', () =>
      withNodes('worker', ['a', 'b', 'c'], async (nodes) => {
        const [a, , c] = nodes as [BenchNode, BenchNode, BenchNode]
        await connect(nodes, [
          [0, 1],
          [2, 1],
        ])
        const cLinks = await c.links()
        if (cLinks.some((l) => l.link === 'open' && l.name === 'a')) topology = 'C linked to A directly (not a chain)'
        await pacedPhase(a, c, { prefix: 'w:', count: Math.ceil((rate * convergenceWarmupMs) / 1000), rate })
        await Promise.all(nodes.map((n) => ipcOf(n).call('watch', { on: true })))
        const latencies = await pacedPhase(a, c, {
          prefix: 'm:',
          count: Math.ceil((rate * convergenceMs) / 1000),
          rate,
        })
        const watched = await Promise.all(nodes.map((n) => ipcOf(n).call('watch', { on: false })))
        pauses.push(watched.filter((w): w is PauseStats => w !== null))
        p50.push(quantile(latencies, 0.5))
        const tail = quantile(latencies, 0.99)
        p99.push(tail)
        return tail
      }),
    )
    const note = `chain A–B–C, ${rate} puts/s offered on A${topology ? `; ${topology}` : ''}`
    ctx.record('metrics', 'convergence_p50_ms', 'ms', p50, note)
    ctx.record('metrics', 'convergence_p99_ms', 'ms', p99, note, pauseDetail(pauses))
  })
}
