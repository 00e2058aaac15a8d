import type { Context } from '../context.js'
import { startBaselines, stopBaselines } from './baseline-nodes.js'
import { totalCpu } from '../metrics/throughput.js'
import { quantile } from '../stats.js'
import { RPC_P99_RATE } from '../metrics/routing.js'

/** About the size of a routed call's frame for a small payload. */
const MESSAGE_BYTES = 64
const IN_FLIGHT = 100

/**
 * `ws_rpc_calls_per_s`: what a routed call is compared with, a plain `ws` request/response
 * loop between two processes: the source keeps 100 requests in flight, the sink sends each
 * one back; round trips per second. `ws_rpc_p99_ms`: the same round trips offered at
 * `rpc_p99_ms`'s rate by the same pacer, p99 latency from when each was due.
 */
export const measureWsRpc = async (ctx: Context): Promise<void> => {
  const name = 'ws_rpc_calls_per_s'
  await ctx.guard([name, 'ws_rpc_p99_ms'], async () => {
    const nodes = await startBaselines('ws', ['sink', 'source'])
    try {
      const [sink, source] = nodes as [(typeof nodes)[0], (typeof nodes)[0]]
      await sink.ipc.call('echo', null)
      await source.ipc.call('connect', { urls: [sink.wsUrl] })
      const count = ctx.options.sizes.rpcCalls
      // CPU time per round trip of both processes, to set beside a routed call's.
      const cpuPerCall: number[] = []
      const cpu = () => totalCpu(nodes.map((n) => () => n.ipc.call('cpu', null)))
      const loop = async (n: number) => {
        const cpuBefore = await cpu()
        const { startAt, endAt } = await source.ipc.call(
          'rpc',
          { count: n, size: MESSAGE_BYTES, inflight: IN_FLIGHT },
          180_000,
        )
        const cpuAfter = await cpu()
        if (cpuBefore !== undefined && cpuAfter !== undefined) cpuPerCall.push((cpuAfter - cpuBefore) / n)
        return n / ((endAt - startAt) / 1000)
      }
      await loop(Math.ceil(count / 10))
      cpuPerCall.length = 0
      const runs = await ctx.repeat(name, 'calls/s', () => loop(count))
      ctx.record('baselines', name, 'calls/s', runs, `${MESSAGE_BYTES}-byte binary echo, ${IN_FLIGHT} in flight`, {
        cpu_us_per_call: quantile(cpuPerCall, 0.5),
      })
      const { measureSeconds } = ctx.options.sizes
      const tails = await ctx.repeat('ws_rpc_p99_ms', 'ms', async () => {
        const { latencies } = await source.ipc.call(
          'rpc-paced',
          {
            count: Math.max(100, Math.round(RPC_P99_RATE * measureSeconds)),
            size: MESSAGE_BYTES,
            rate: RPC_P99_RATE,
            inflight: 10 * IN_FLIGHT,
          },
          180_000,
        )
        return quantile(latencies, 0.99)
      })
      ctx.record(
        'baselines',
        'ws_rpc_p99_ms',
        'ms',
        tails,
        `the same echo offered at ${RPC_P99_RATE.toLocaleString('en-US')} calls/s by rpc_p99_ms's pacer, from when each was due`,
      )
    } finally {
      await stopBaselines(nodes)
    }
  })
}
