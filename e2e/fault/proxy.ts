/**
 * A TCP fault-injection proxy for multi-process tests. It listens on 127.0.0.1, port 0,
 * and forwards every connection to a target port, so a node that joins
 * `ws://127.0.0.1:<proxy port>/mesh` reaches the node behind it through a link the test
 * controls:
 *
 * - `cut('both')` resets every connection and refuses new ones (a crashed switch);
 * - `cut('forward' | 'backward')` holds the bytes of one direction, like a network that
 *   drops packets one way: TCP stalls, nothing is lost or corrupted, and `heal()` delivers
 *   what was held (or resets the connections with `heal({ reset: true })`, as a TCP timeout
 *   would after a long cut);
 * - `blackhole()` accepts connections and delivers nothing either way;
 * - `delay(ms)` delays every chunk by `ms` in both directions, keeping the order;
 * - `retarget(port)` points new connections elsewhere (a restarted node has a new port);
 *   `retarget(undefined)` refuses them while the target is down.
 *
 * "forward" is client → target (dialer → acceptor), "backward" is target → client.
 */
import { createServer, connect, type Server, type Socket } from 'node:net'

/** Which direction of a link a fault applies to. */
export type Direction = 'both' | 'forward' | 'backward'

/** What a proxy currently does to its traffic. */
export interface ProxyMode {
  /** Client → target bytes are held. */
  holdForward: boolean
  /** Target → client bytes are held. */
  holdBackward: boolean
  /** New and existing connections are reset. */
  refuse: boolean
  /** Added latency per chunk, in ms. */
  delayMs: number
}

/** Counters of a proxy since it started. */
export interface ProxyStats {
  accepted: number
  refused: number
  active: number
  bytesForward: number
  bytesBackward: number
}

/** Options of {@link startProxy}. */
export interface ProxyOptions {
  /** For messages and reports. */
  name: string
  /** Port on 127.0.0.1 to forward to; undefined refuses connections until {@link FaultProxy.retarget}. */
  target?: number
}

/** A running fault-injection proxy; see the file header. */
export interface FaultProxy {
  readonly name: string
  /** The port it listens on (127.0.0.1). */
  readonly port: number
  /** The port new connections are forwarded to, if any. */
  readonly target: number | undefined
  /** `ws://127.0.0.1:<port><path>`; the default path is `/mesh`. */
  url(path?: string): string
  /** Current faults. */
  mode(): ProxyMode
  /** One-line description of the current faults, e.g. `cut forward, delay 50ms`. */
  describe(): string
  /** Counters. */
  stats(): ProxyStats
  /** Points new connections at another port (or refuses them while `undefined`). */
  retarget(port: number | undefined): void
  /** Cuts the link: `both` resets it and refuses new connections; one direction holds its bytes. */
  cut(direction?: Direction): void
  /** Accepts connections but delivers nothing, either way, until healed. */
  blackhole(): void
  /** Adds latency to every chunk (0 removes it). */
  delay(ms: number): void
  /** Lifts every fault. Held bytes are delivered, or with `reset` the connections that held any are reset. */
  heal(options?: { reset?: boolean }): void
  /** Resets every connection now (faults stay as they are). */
  resetConnections(): void
  /** Closes the listener and every connection. */
  close(): Promise<void>
}

/** One direction of one connection: reads `from`, writes `to`, honouring hold and delay. */
class Pump {
  #from: Socket
  #to: Socket
  #queue: Array<{ chunk: Buffer; due: number }> = []
  #timer: ReturnType<typeof setTimeout> | undefined
  #held = false
  #ended = false
  #delayMs: () => number
  #count: (bytes: number) => void

  constructor(from: Socket, to: Socket, delayMs: () => number, count: (bytes: number) => void) {
    this.#from = from
    this.#to = to
    this.#delayMs = delayMs
    this.#count = count
    from.on('data', (chunk: Buffer) => {
      const last = this.#queue.at(-1)?.due ?? 0
      this.#queue.push({ chunk, due: Math.max(last, Date.now() + this.#delayMs()) })
      this.#drain()
    })
    from.on('end', () => {
      this.#ended = true
      this.#drain()
    })
  }

  hold(held: boolean): void {
    this.#held = held
    if (held) {
      this.#from.pause()
    } else {
      this.#from.resume()
      this.#drain()
    }
  }

  stop(): void {
    clearTimeout(this.#timer)
    this.#queue = []
  }

  #drain = (): void => {
    clearTimeout(this.#timer)
    this.#timer = undefined
    if (this.#held || this.#to.destroyed) return
    const now = Date.now()
    while (this.#queue.length > 0) {
      const head = this.#queue[0]
      if (!head) break
      if (head.due > now) {
        this.#timer = setTimeout(this.#drain, head.due - now)
        return
      }
      this.#queue.shift()
      this.#count(head.chunk.length)
      this.#to.write(head.chunk)
    }
    if (this.#ended) this.#to.end()
  }
}

interface Connection {
  client: Socket
  upstream: Socket | undefined
  forward: Pump | undefined
  backward: Pump | undefined
  /** Accepted while blackholed: not connected upstream yet. */
  parked: boolean
  /** Some direction was held since the last heal. */
  held: boolean
}

/** Starts a proxy on 127.0.0.1, port 0. Close it with {@link FaultProxy.close}. */
export const startProxy = async (options: ProxyOptions): Promise<FaultProxy> => {
  let target = options.target
  const mode: ProxyMode = { holdForward: false, holdBackward: false, refuse: false, delayMs: 0 }
  const stats: ProxyStats = { accepted: 0, refused: 0, active: 0, bytesForward: 0, bytesBackward: 0 }
  const connections = new Set<Connection>()
  let blackholed = false

  const destroy = (c: Connection): void => {
    c.forward?.stop()
    c.backward?.stop()
    c.client.destroy()
    c.upstream?.destroy()
    if (connections.delete(c)) stats.active--
  }

  const applyHolds = (c: Connection): void => {
    if (mode.holdForward || mode.holdBackward) c.held = true
    c.forward?.hold(mode.holdForward)
    c.backward?.hold(mode.holdBackward)
  }

  const wire = (c: Connection): void => {
    c.parked = false
    if (target === undefined) return destroy(c)
    const upstream = connect({ host: '127.0.0.1', port: target })
    c.upstream = upstream
    upstream.setNoDelay(true)
    upstream.on('error', () => destroy(c))
    upstream.on('close', () => destroy(c))
    c.client.pause()
    upstream.once('connect', () => {
      if (!connections.has(c)) return
      c.forward = new Pump(
        c.client,
        upstream,
        () => mode.delayMs,
        (n) => (stats.bytesForward += n),
      )
      c.backward = new Pump(
        upstream,
        c.client,
        () => mode.delayMs,
        (n) => (stats.bytesBackward += n),
      )
      applyHolds(c)
      if (!mode.holdForward) c.client.resume()
    })
  }

  const server: Server = createServer({ pauseOnConnect: true }, (client) => {
    client.setNoDelay(true)
    if (mode.refuse || (target === undefined && !blackholed)) {
      stats.refused++
      client.on('error', () => {})
      client.destroy()
      return
    }
    stats.accepted++
    stats.active++
    const c: Connection = {
      client,
      upstream: undefined,
      forward: undefined,
      backward: undefined,
      parked: true,
      held: false,
    }
    connections.add(c)
    client.on('error', () => destroy(c))
    client.on('close', () => destroy(c))
    // While blackholed the connection is accepted and parked: no upstream, nothing read.
    if (!blackholed) wire(c)
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject)
      resolve()
    })
  })
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error(`${options.name}: proxy has no port`)
  const port = address.port

  const describe = (): string => {
    const parts: string[] = []
    if (mode.refuse) parts.push('cut both')
    else if (blackholed) parts.push('blackhole')
    else {
      if (mode.holdForward) parts.push('cut forward')
      if (mode.holdBackward) parts.push('cut backward')
    }
    if (mode.delayMs > 0) parts.push(`delay ${mode.delayMs}ms`)
    if (target === undefined) parts.push('no target')
    return parts.length > 0 ? parts.join(', ') : 'open'
  }

  return {
    name: options.name,
    port,
    get target() {
      return target
    },
    url: (path = '/mesh') => `ws://127.0.0.1:${port}${path}`,
    mode: () => ({ ...mode }),
    describe,
    stats: () => ({ ...stats }),
    retarget: (next) => {
      target = next
    },
    cut: (direction = 'both') => {
      if (direction === 'both') {
        mode.refuse = true
        for (const c of [...connections]) destroy(c)
        return
      }
      if (direction === 'forward') mode.holdForward = true
      else mode.holdBackward = true
      for (const c of connections) applyHolds(c)
    },
    blackhole: () => {
      blackholed = true
      mode.holdForward = true
      mode.holdBackward = true
      for (const c of connections) applyHolds(c)
    },
    delay: (ms) => {
      mode.delayMs = Math.max(0, ms)
    },
    heal: (healOptions = {}) => {
      const wasBlackholed = blackholed
      blackholed = false
      mode.refuse = false
      mode.holdForward = false
      mode.holdBackward = false
      mode.delayMs = 0
      for (const c of [...connections]) {
        if (healOptions.reset && (c.held || c.parked)) {
          destroy(c)
          continue
        }
        c.held = false
        if (c.parked && wasBlackholed) wire(c)
        else applyHolds(c)
      }
    },
    resetConnections: () => {
      for (const c of [...connections]) destroy(c)
    },
    close: async () => {
      for (const c of [...connections]) destroy(c)
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
