import type { Context } from '../context.js'
import { KEYS_PER_TURN, totalCpu, type PhaseResult } from '../metrics/throughput.js'
import { measuredKeys } from '../options.js'
import { summarize } from '../stats.js'
import { startBaselines, stopBaselines, type BaselineNode } from './baseline-nodes.js'

const phase = async (nodes: BaselineNode[], total: number, prefix: string): Promise<PhaseResult> => {
  const [writer] = nodes
  if (!writer) throw new Error('no writer')
  await Promise.all(nodes.map((n) => n.ipc.call('arm', { count: total })))
  const cpu = () => totalCpu(nodes.map((n) => () => n.ipc.call('cpu', null)))
  const cpuBefore = await cpu()
  const loop = writer.ipc.call('put-loop', { prefix, count: total, batch: 1, perTurn: KEYS_PER_TURN }, 300_000)
  const waits = nodes.map((n) => n.ipc.call('wait', { timeoutMs: 180_000 }, 185_000))
  const [ran, applied] = await Promise.all([loop, Promise.all(waits)])
  const cpuAfter = await cpu()
  const end = Math.max(ran.endAt - writer.offset, ...applied.map((a, i) => a.doneAt - (nodes[i]?.offset ?? 0)))
  return {
    rate: total / ((end - (ran.startAt - writer.offset)) / 1000),
    cpuUsPerKey: cpuBefore === undefined || cpuAfter === undefined ? undefined : (cpuAfter - cpuBefore) / total,
  }
}

/**
 * `naive_yjs_mesh_1w`: what a user would write by hand: 3 processes, each a plain `Y.Doc`
 * and a `ws` server, fully connected; one writer, one WebSocket message per update (each
 * `map.set` is its own transaction), applied one by one. Same write loop as
 * `replicated_puts_1w` (100 puts per event-loop turn); puts/s fully applied on all 3.
 */
export const measureNaiveMesh = async (ctx: Context): Promise<void> => {
  const name = 'naive_yjs_mesh_1w'
  await ctx.guard([name], async () => {
    const { sizes } = ctx.options
    const cpu: number[] = []
    const keys: number[] = []
    const runs = await ctx.repeat(name, 'puts/s', async () => {
      const nodes = await startBaselines('naive', ['a', 'b', 'c'])
      try {
        const [a, b, c] = nodes as [BaselineNode, BaselineNode, BaselineNode]
        await a.ipc.call('connect', { urls: [b.wsUrl, c.wsUrl] })
        await b.ipc.call('connect', { urls: [c.wsUrl] })
        const warm = await phase(nodes, sizes.warmup, 'warm:')
        const total = measuredKeys(sizes, warm.rate, 1)
        const result = await phase(nodes, total, 'm:')
        keys.push(total)
        if (result.cpuUsPerKey !== undefined) cpu.push(result.cpuUsPerKey)
        return result.rate
      } finally {
        await stopBaselines(nodes)
      }
    })
    ctx.record('baselines', name, 'puts/s', runs, 'plain Y.Doc + ws, one message per update, full mesh of 3', {
      keys: summarize(keys).value,
      ...(cpu.length > 0 ? { cpu_us_per_key: summarize(cpu).value } : {}),
    })
  })
}
