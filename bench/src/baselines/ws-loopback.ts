import type { Context } from '../context.js'
import { startBaselines, stopBaselines } from './baseline-nodes.js'

const MESSAGE_BYTES = 100

/**
 * `ws_loopback_msgs`: raw `ws` throughput between two processes over 127.0.0.1, 100-byte
 * binary messages, one way, one `send` per message; from the first send until the
 * receiver counted the last one.
 */
export const measureWsLoopback = async (ctx: Context): Promise<void> => {
  const name = 'ws_loopback_msgs'
  await ctx.guard([name], async () => {
    const nodes = await startBaselines('ws', ['sink', 'source'])
    try {
      const [sink, source] = nodes as [(typeof nodes)[0], (typeof nodes)[0]]
      await source.ipc.call('connect', { urls: [sink.wsUrl] })
      const blast = async (count: number) => {
        await sink.ipc.call('arm', { count })
        const sent = await source.ipc.call('blast', { count, size: MESSAGE_BYTES })
        const { doneAt } = await sink.ipc.call('wait', { timeoutMs: 120_000 })
        return count / ((doneAt - sink.offset - (sent.startAt - source.offset)) / 1000)
      }
      const count = ctx.options.sizes.wsMessages
      await blast(Math.ceil(count / 10))
      const runs = await ctx.repeat(name, 'msgs/s', () => blast(count))
      ctx.record('baselines', name, 'msgs/s', runs, `${MESSAGE_BYTES}-byte binary, one way, unbatched`)
    } finally {
      await stopBaselines(nodes)
    }
  })
}
