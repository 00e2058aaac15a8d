import dgram from 'node:dgram'
import { lookup } from 'node:dns/promises'
import { MeshError, unrefTimer, errorText } from '../common/index.js'
import type { Logger } from '../common/index.js'

/**
 * What a discovery mechanism gets from the node it runs for. Hand every address found to
 * {@link offer}, as often as the mechanism finds them (each DNS answer, each announcement):
 * the node decides which to dial.
 */
export interface DiscoveryContext {
  readonly id: string
  /** The node's advertised peer URL (may be empty until the server listens). */
  url(): string
  /**
   * Peer URLs (`ws://host:port/mesh`) found: the node remembers them and dials, in random order,
   * only as many as it needs to reach `maxPeers` links (one if it has no link at all, whatever
   * `maxPeers` says); gossip then links it to the rest. Returns at once; duplicates, this
   * node's own URL and malformed URLs are ignored. An address whose dial failed before it
   * reached a node is tried again once offered again (or while the node has no link): offer
   * what you find every time you find it.
   */
  offer(urls: readonly string[]): void
  /**
   * The same as {@link offer}, kept so discoveries written before it still work. It used to
   * dial every URL; to do that on purpose, call `node.join(urls)` on the node itself.
   * @deprecated Use `offer`.
   */
  join(urls: readonly string[]): void
  readonly logger: Logger
}

/** A way of finding peers; the node starts it and stops it on close. */
export interface Discovery {
  readonly name: string
  start(context: DiscoveryContext): void
  stop(): void
}

const peerUrl = (host: string, port: number): string => `ws://${host.includes(':') ? `[${host}]` : host}:${port}/mesh`

/**
 * DNS discovery: resolves `hostname` every `intervalMs` (default 5 s) and offers every address
 * it returns, at `port`, to the node, which dials enough of them to reach `maxPeers` links
 * (DiscoveryContext.offer). A Kubernetes headless service resolves to one address per pod,
 * so new pods are found as they appear.
 */
export const dnsDiscovery = (options: {
  hostname: string
  port: number
  intervalMs?: number
  /** Replaces the resolver, e.g. in tests. */
  resolve?: (hostname: string) => Promise<string[]>
}): Discovery => {
  const resolve = options.resolve ?? (async (host: string) => (await lookup(host, { all: true })).map((a) => a.address))
  let timer: ReturnType<typeof setInterval> | undefined
  return {
    name: `dns:${options.hostname}:${options.port}`,
    start(context) {
      const run = () =>
        resolve(options.hostname).then(
          (addresses) => context.offer(addresses.map((a) => peerUrl(a, options.port))),
          (error: unknown) =>
            context.logger.warn('DNS discovery failed', { hostname: options.hostname, error: errorText(error) }),
        )
      void run()
      timer = setInterval(() => void run(), options.intervalMs ?? 5000)
      unrefTimer(timer)
    },
    stop() {
      clearInterval(timer)
    },
  }
}

/** Default multicast group and port of {@link multicastDiscovery}. */
export const MULTICAST_DEFAULTS = { group: '239.255.77.77', port: 47777 } as const

/**
 * UDP multicast discovery on a LAN (opt-in): every `intervalMs` the node announces its id
 * and peer URL to the group and offers the URLs others announce to the node, which dials
 * enough of them to reach `maxPeers` links (DiscoveryContext.offer). `interfaceAddress` picks the
 * network interface; tests use 127.0.0.1 so nothing leaves the machine. The TTL is 1, so
 * announcements never cross a router.
 */
export const multicastDiscovery = (
  options: { group?: string; port?: number; interfaceAddress?: string; intervalMs?: number } = {},
): Discovery => {
  const group = options.group ?? MULTICAST_DEFAULTS.group
  const port = options.port ?? MULTICAST_DEFAULTS.port
  let socket: dgram.Socket | undefined
  let timer: ReturnType<typeof setInterval> | undefined
  return {
    name: `multicast:${group}:${port}`,
    start(context) {
      const s = dgram.createSocket({ type: 'udp4', reuseAddr: true })
      socket = s
      s.on('error', (error) => context.logger.warn('multicast discovery failed', { error: error.message }))
      s.on('message', (message) => {
        try {
          const { mesh, id, url } = JSON.parse(message.toString('utf8')) as {
            mesh?: unknown
            id?: unknown
            url?: unknown
          }
          if (mesh !== 1 || typeof id !== 'string' || id === context.id || typeof url !== 'string') return
          if (!/^wss?:\/\//.test(url) || url.length > 2048) return
          context.offer([url])
        } catch {
          // Not ours: other software may share the group.
        }
      })
      s.bind(port, () => {
        try {
          s.addMembership(group, options.interfaceAddress)
          if (options.interfaceAddress) s.setMulticastInterface(options.interfaceAddress)
          s.setMulticastTTL(1)
          s.setMulticastLoopback(true)
        } catch (error) {
          context.logger.warn('multicast discovery unavailable', { group, error: errorText(error) })
          return
        }
        const announce = () => {
          const url = context.url()
          if (url === '') return
          s.send(JSON.stringify({ mesh: 1, id: context.id, url }), port, group)
        }
        announce()
        timer = setInterval(announce, options.intervalMs ?? 2000)
        unrefTimer(timer)
      })
      s.unref()
    },
    stop() {
      clearInterval(timer)
      socket?.close()
      socket = undefined
    },
  }
}

/**
 * Parses the CLI form: `dns:NAME:PORT` or `multicast[:GROUP:PORT]`.
 * @example parseDiscovery('dns:mesh-headless.default.svc:4000')
 */
export const parseDiscovery = (spec: string, extra: { interfaceAddress?: string } = {}): Discovery => {
  const parts = spec.split(':')
  const port = (text: string | undefined) => {
    const n = Number(text)
    if (!Number.isInteger(n) || n < 1 || n > 65535) throw new MeshError('bad_option', `bad port in "${spec}"`)
    return n
  }
  if (parts[0] === 'dns' && parts.length === 3 && parts[1])
    return dnsDiscovery({ hostname: parts[1], port: port(parts[2]) })
  if (parts[0] === 'multicast' && parts.length === 1) return multicastDiscovery(extra)
  if (parts[0] === 'multicast' && parts.length === 3 && parts[1]) {
    return multicastDiscovery({ ...extra, group: parts[1], port: port(parts[2]) })
  }
  throw new MeshError('bad_option', `"${spec}" is not a discovery spec; use dns:NAME:PORT or multicast[:GROUP:PORT]`)
}
