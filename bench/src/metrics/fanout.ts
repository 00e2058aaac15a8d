import { startNode, stopNodes } from '../cluster.js'
import { clockOffset } from '../clock.js'
import type { Context } from '../context.js'
import { IpcClient } from '../ipc.js'
import { benchScript, spawnChild, stopChild, type Child } from '../processes.js'
import { quantile } from '../stats.js'
import type { LightEvents, LightOps } from '../worker-ops.js'

/** Light-peer sockets per client process; the load is spread over at most {@link MAX_CLIENT_PROCESSES}. */
const SOCKETS_PER_PROCESS = 250
const MAX_CLIENT_PROCESSES = 2
const WARMUP_WRITES = 5

interface Client {
  child: Child
  ipc: IpcClient<LightOps, LightEvents>
  offset: number
  arrivals: Map<number, number>
  waiters: Map<number, () => void>
}

const startClient = async (label: string): Promise<Client> => {
  const child = spawnChild({ script: benchScript('light-client.js'), label, ipc: true })
  const ipc = new IpcClient<LightOps, LightEvents>(child.process, label)
  const client: Client = { child, ipc, offset: 0, arrivals: new Map(), waiters: new Map() }
  ipc.on('fanout', ({ index, lastAt }) => {
    client.arrivals.set(index, lastAt)
    client.waiters.get(index)?.()
  })
  client.offset = await clockOffset(() => ipc.call('now', null, 20_000))
  return client
}

const arrived = (client: Client, index: number, timeoutMs: number): Promise<number> => {
  const at = client.arrivals.get(index)
  if (at !== undefined) return Promise.resolve(at)
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      client.waiters.delete(index)
      reject(new Error(`${client.child.label}: update ${index} did not reach every socket in ${timeoutMs} ms`))
    }, timeoutMs)
    client.waiters.set(index, () => {
      clearTimeout(timer)
      client.waiters.delete(index)
      resolve(client.arrivals.get(index) ?? 0)
    })
  })
}

/**
 * `light_peers_fanout_p99_ms`: N y-websocket-protocol sockets on room `default` of one node
 * (spread over client processes); the node writes one key, and the time until the last
 * socket has the update is one sample. Writes are sequential: the next starts once every
 * socket has the previous one.
 */
export const measureFanout = async (ctx: Context): Promise<void> => {
  const name = 'light_peers_fanout_p99_ms'
  await ctx.guard([name], async () => {
    if (ctx.options.nodes === 'cli') {
      ctx.skip(name, 'needs a bench worker to time the write (--nodes worker)')
      return
    }
    const { lightSockets, lightWrites } = ctx.options.sizes
    const processes = Math.min(MAX_CLIENT_PROCESSES, Math.ceil(lightSockets / SOCKETS_PER_PROCESS))
    const perProcess = Math.ceil(lightSockets / processes)
    const runs = await ctx.repeat(name, 'ms', async () => {
      const clients: Client[] = []
      const starting = Array.from({ length: processes }, (_, i) =>
        startClient(`light-${i}`).then((c) => void clients.push(c)),
      )
      const [started] = await Promise.allSettled([startNode('worker', 'fan'), ...starting])
      const node = started.status === 'fulfilled' ? started.value : undefined
      try {
        await Promise.all(starting)
        const ipc = node?.ipc
        if (!node || !ipc) throw started.status === 'rejected' ? started.reason : new Error('needs a bench worker')
        const url = `${node.httpUrl.replace(/^http/, 'ws')}/mesh/default`
        await Promise.all(clients.map((c) => c.ipc.call('open', { url, sockets: perProcess })))
        const latencies: number[] = []
        for (let k = 0; k < WARMUP_WRITES + lightWrites; k++) {
          const { at } = await ipc.call('write', { key: `fan:${k}`, value: k })
          const last = await Promise.all(clients.map(async (c) => (await arrived(c, k, 10_000)) - c.offset))
          if (k >= WARMUP_WRITES) latencies.push(Math.max(...last) - (at - node.offset))
        }
        return quantile(latencies, 0.99)
      } finally {
        await Promise.all(
          clients.map((c) => stopChild(c.child, { request: () => void c.ipc.call('close', null).catch(() => {}) })),
        )
        if (node) await stopNodes([node])
      }
    })
    ctx.record(
      'metrics',
      name,
      'ms',
      runs,
      `${processes * perProcess} sockets in ${processes} process(es), p99 of ${lightWrites} writes`,
    )
  })
}
