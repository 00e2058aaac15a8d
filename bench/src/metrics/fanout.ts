import { startNode, stopNodes } from '../cluster.js'
import { clockOffset } from '../clock.js'
import type { Context } from '../context.js'
import { IpcClient } from '../ipc.js'
import { benchScript, spawnChild, stopChild, waitListening, type Child } from '../processes.js'
import { quantile } from '../stats.js'
import type { LightEvents, LightOps, YWebsocketOps } from '../worker-ops.js'

/** Light-peer sockets per client process; the load is spread over at most {@link MAX_CLIENT_PROCESSES}. */
const SOCKETS_PER_PROCESS = 250
const MAX_CLIENT_PROCESSES = 4
const WARMUP_WRITES = 5
const ROOM = 'default'

interface Client {
  child: Child
  ipc: IpcClient<LightOps, LightEvents>
  offset: number
  arrivals: Map<number, number>
  waiters: Map<number, () => void>
}

/** A server under test: where its room is, and a server-side write timed in the bench's clock. */
interface FanoutServer {
  roomUrl: string
  /** Writes one key on the server; resolves with when the write began, in the bench's clock. */
  write(key: string, value: number): Promise<number>
  /** The server process's CPU time so far (user + system), in µs. */
  cpu(): Promise<number>
  stop(): Promise<void>
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

const clientProcesses = (sockets: number): number =>
  Math.min(MAX_CLIENT_PROCESSES, Math.ceil(sockets / SOCKETS_PER_PROCESS))

/** A Mesh bench worker: light peers on `/mesh/default`, the write is `node.put`. */
const startMesh = async (): Promise<FanoutServer> => {
  const node = await startNode('worker', 'fan')
  const ipc = node.ipc
  if (!ipc) throw new Error('needs a bench worker')
  return {
    roomUrl: `${node.httpUrl.replace(/^http/, 'ws')}/mesh/${ROOM}`,
    write: async (key, value) => (await ipc.call('write', { key, value })).at - node.offset,
    cpu: () => ipc.call('cpu', null),
    stop: () => stopNodes([node]),
  }
}

/** Versions of the reference server and its `ws`, read from the first one started (for the figure's note). */
let referenceVersions = { server: '?', ws: '?' }

/** The Yjs reference server (`@y/websocket-server`) in its own process: the room is the URL path. */
const startReference = async (): Promise<FanoutServer> => {
  const child = spawnChild({
    script: benchScript('ywebsocket-worker.js'),
    args: ['--port', '0', '--host', '127.0.0.1', '--name', 'ywebsocket'],
    label: 'ywebsocket-server',
    ipc: true,
  })
  const ipc = new IpcClient<YWebsocketOps>(child.process, 'ywebsocket-server')
  try {
    const httpUrl = await waitListening(child)
    const offset = await clockOffset(() => ipc.call('now', null))
    referenceVersions = await ipc.call('version', null)
    return {
      roomUrl: `${httpUrl.replace(/^http/, 'ws')}/${ROOM}`,
      write: async (key, value) => (await ipc.call('write', { room: ROOM, key, value })).at - offset,
      cpu: () => ipc.call('cpu', null),
      stop: () => stopChild(child, { request: () => void ipc.call('close', null).catch(() => {}) }),
    }
  } catch (error) {
    await stopChild(child)
    throw error
  }
}

/**
 * One run: `sockets` y-websocket-protocol sockets on one room of a fresh server (spread over
 * client processes); the server writes one key, and the time until the last socket has the
 * update is one sample. Writes are sequential: the next starts once every socket has the
 * previous one. Returns the p99 of `writes` samples, after a warm-up, and the server's CPU
 * time per measured write.
 */
const fanoutRun = async (
  start: () => Promise<FanoutServer>,
  sockets: number,
  writes: number,
): Promise<{ p99: number; cpuUs: number }> => {
  const processes = clientProcesses(sockets)
  const perProcess = Math.ceil(sockets / processes)
  const clients: Client[] = []
  const starting = Array.from({ length: processes }, (_, i) =>
    startClient(`light-${i}`).then((c) => void clients.push(c)),
  )
  const [started] = await Promise.allSettled([start(), ...starting])
  const server = started.status === 'fulfilled' ? started.value : undefined
  try {
    await Promise.all(starting)
    if (!server) throw started.status === 'rejected' ? started.reason : new Error('server did not start')
    await Promise.all(clients.map((c) => c.ipc.call('open', { url: server.roomUrl, sockets: perProcess })))
    const latencies: number[] = []
    let cpuBefore = 0
    for (let k = 0; k < WARMUP_WRITES + writes; k++) {
      if (k === WARMUP_WRITES) cpuBefore = await server.cpu()
      const at = await server.write(`fan:${k}`, k)
      const last = await Promise.all(clients.map(async (c) => (await arrived(c, k, 10_000)) - c.offset))
      if (k >= WARMUP_WRITES) latencies.push(Math.max(...last) - at)
    }
    const cpuUs = (await server.cpu()) - cpuBefore
    return { p99: quantile(latencies, 0.99), cpuUs: cpuUs / writes }
  } finally {
    await Promise.all(
      clients.map((c) => stopChild(c.child, { request: () => void c.ipc.call('close', null).catch(() => {}) })),
    )
    if (server) await server.stop()
  }
}

/**
 * `light_peers_fanout_p99_ms` and, in the same run, the Yjs reference server's
 * `ywebsocket_server_fanout_p99_ms` (issue 19) with the same sockets, clients and writes; the
 * `_5k_` pair does the same with 5,000 sockets. Mesh and the reference take turns run by run,
 * so both see the same machine.
 */
export const measureFanout = async (ctx: Context): Promise<void> => {
  const { lightSockets, lightSocketsLarge, lightWrites } = ctx.options.sizes
  const { mode, only } = ctx.options
  // About 30 s a run for the pair: in full mode, or when --only names it.
  const large = lightSocketsLarge > 0 && (mode === 'full' || only !== undefined)
  if (!large && mode === 'quick') {
    for (const name of ['light_peers_fanout_5k_p99_ms', 'ywebsocket_server_fanout_5k_p99_ms']) {
      ctx.skip(name, 'full mode, or --only NAME')
    }
  }
  const sizes = [
    { sockets: lightSockets, mesh: 'light_peers_fanout_p99_ms', reference: 'ywebsocket_server_fanout_p99_ms' },
    ...(large
      ? [
          {
            sockets: lightSocketsLarge,
            mesh: 'light_peers_fanout_5k_p99_ms',
            reference: 'ywebsocket_server_fanout_5k_p99_ms',
          },
        ]
      : []),
  ]
  for (const { sockets, mesh, reference } of sizes) {
    await ctx.guard([mesh, reference], async () => {
      const sides = [
        { name: mesh, start: startMesh, section: 'metrics' as const },
        { name: reference, start: startReference, section: 'baselines' as const },
      ].filter((s) => ctx.wants(s.name))
      if (ctx.options.nodes === 'cli' && sides.some((s) => s.name === mesh)) {
        ctx.skip(mesh, 'needs a bench worker to time the write (--nodes worker)')
        sides.splice(0, 1)
      }
      const runs = new Map<string, number[]>(sides.map((s) => [s.name, []]))
      const cpu = new Map<string, number[]>(sides.map((s) => [s.name, []]))
      for (let i = 0; i < ctx.options.sizes.runs; i++) {
        for (const side of sides) {
          const { p99, cpuUs } = await fanoutRun(side.start, sockets, lightWrites)
          runs.get(side.name)?.push(p99)
          cpu.get(side.name)?.push(cpuUs)
          ctx.log(
            `  ${side.name} run ${i + 1}/${ctx.options.sizes.runs}: ${p99.toFixed(2)} ms, server ${Math.round(cpuUs)} µs CPU per write`,
          )
        }
      }
      const processes = clientProcesses(sockets)
      const how = `${sockets} sockets in ${processes} client process(es), p99 of ${lightWrites} sequential writes`
      for (const side of sides) {
        const note =
          side.name === reference
            ? `@y/websocket-server ${referenceVersions.server} on ws ${referenceVersions.ws}: ${how}`
            : how
        // The server's CPU time per write (the fan-out to every socket): a busy machine barely moves it.
        const cpuUs = quantile(cpu.get(side.name) ?? [], 0.5)
        ctx.record(side.section, side.name, 'ms', runs.get(side.name) ?? [], note, {
          server_cpu_us_per_write: cpuUs,
          server_cpu_us_per_socket: cpuUs / sockets,
        })
      }
    })
  }
}
