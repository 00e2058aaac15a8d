import { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { hostname } from 'node:os'
import { getRequestListener } from '@hono/node-server'
import {
  attachToServer,
  checkPeerUrl,
  createFetchHandler,
  createNodeHandler,
  MeshNode,
  silentLogger,
  type ActorFactory,
  type ConflictPolicy,
  type Logger,
  type MeshLimits,
  type MeshNodeOptions,
} from '@mesh/core'
import { LevelStorage, type FsyncPolicy } from '@mesh/storage'
import { Hono, type Context, type Next } from 'hono'
import { meshNodesCors } from './demo-cors.js'

export { checkPeerUrl } from '@mesh/core'

/** Options of {@link serve}. */
export interface ServeOptions {
  /** Port to listen on; 0 picks a free one. Default 4000. */
  port?: number
  /** Interface to listen on. Default `127.0.0.1`. */
  host?: string
  /** Node name shown to peers. Default `node-<id>`. */
  name?: string
  /** Peers to join, as `ws://host:port/mesh` URLs. Unreachable ones are retried in the background. */
  join?: readonly string[]
  /** What to do on diverged histories. Default `merge`. */
  onConflict?: ConflictPolicy
  /** URL other nodes reach this one at (`--url`). Default `ws://HOST:PORT/mesh` with the real port. */
  peerUrl?: string
  /** Where the node and the server log. Default: nowhere. */
  logger?: Logger
  /** Base path of the endpoints. Default `/mesh`. */
  basePath?: string
  /** Input limits of the node. */
  limits?: MeshLimits
  /** How long to wait for joined peers before logging that they are unreachable. Default 10 s. */
  joinTimeoutMs?: number
  /**
   * Enables the demo control API (`<base>/api/control`: cut and heal links) guarded by this
   * bearer token, and lets the inspector page of one node call the others' REST API (CORS
   * for this mesh's node origins only). Off by default; never set it in production.
   */
  controlToken?: string
  /**
   * `redis://HOST:PORT` of a Redis Streams backbone (`--backbone`, docs/backbone.md); `@mesh/redis`
   * is loaded only then. A `node.backbone` wins over it.
   */
  backboneUrl?: string
  /**
   * Actor factories by capability (`--actors`); the node declares these capabilities unless
   * `node.capabilities` says otherwise.
   */
  actors?: Record<string, ActorFactory>
  /**
   * Keeps every room in this directory (`--data-dir`), loaded before the server listens. A
   * foreign or corrupt directory rejects with a `StorageOpenError` naming the file.
   */
  dataDir?: string
  /** When writes are forced to disk (`--fsync`). Default `batch:50`. */
  fsync?: FsyncPolicy
  /** Further node options: membership timing, capabilities, discovery, max peers, light peers, backbone. */
  node?: Pick<
    MeshNodeOptions,
    | 'membership'
    | 'capabilities'
    | 'discovery'
    | 'maxPeers'
    | 'lightPeers'
    | 'meta'
    | 'secret'
    | 'allowedOrigins'
    | 'backbone'
  >
}

/** A running node, as {@link serve} returns it. */
export interface MeshServer {
  node: MeshNode
  /** Base HTTP URL, e.g. `http://127.0.0.1:4000`. */
  url: string
  /** Advertised peer URL, e.g. `ws://127.0.0.1:4000/mesh`. */
  peerUrl: string
  /** Leaves the mesh gracefully, then closes the HTTP server. Idempotent. */
  close(): Promise<void>
}

/** How long sockets get to finish their close handshake before they are cut. */
const CLOSE_GRACE_MS = 2000

const WILDCARD_HOSTS = new Set(['0.0.0.0', '::', '[::]', ''])

const urlHost = (host: string): string => (host.includes(':') && !host.startsWith('[') ? `[${host}]` : host)

const listen = (server: Server, port: number, host: string): Promise<AddressInfo> =>
  new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      resolve(server.address() as AddressInfo)
    })
  })

/**
 * Runs a standalone Mesh node: peer and light-peer endpoints (core's `attachToServer`), the
 * REST API and the inspector page (on Hono and `@hono/node-server`). Resolves once the server
 * listens.
 * @example const { url, close } = await serve({ port: 0, join: ['ws://127.0.0.1:4000/mesh'] })
 */
export const serve = async (options: ServeOptions = {}): Promise<MeshServer> => {
  const logger = options.logger ?? silentLogger
  const host = options.host ?? '127.0.0.1'
  const base = (options.basePath ?? '/mesh').replace(/\/+$/, '')
  const join = (options.join ?? []).map(checkPeerUrl)
  if (options.peerUrl !== undefined) checkPeerUrl(options.peerUrl)
  const actors = Object.entries(options.actors ?? {})
  const backbone =
    options.node?.backbone ??
    (options.backboneUrl === undefined ? undefined : (await import('@mesh/redis')).redisBackbone(options.backboneUrl))
  const persistence =
    options.dataDir === undefined ? undefined : await LevelStorage.open({ dir: options.dataDir, fsync: options.fsync })
  const node = new MeshNode({
    persistence,
    ...options.node,
    backbone,
    capabilities: options.node?.capabilities ?? actors.map(([capability]) => capability),
    name: options.name,
    onConflict: options.onConflict,
    logger,
    limits: options.limits,
  })
  for (const [capability, factory] of actors) node.actor(capability, factory)

  const app = new Hono()
  if (options.controlToken) app.use(`${base}/api/*`, meshNodesCors(node))
  const mesh = createFetchHandler(node, {
    basePath: base,
    rest: { controlToken: options.controlToken },
    inspector: true,
  })
  const meshRoutes = async (c: Context, next: Next) => (await mesh(c.req.raw)) ?? next()
  app.all(base, meshRoutes).all(`${base}/*`, meshRoutes)
  app.get('/', (c) => c.json({ name: node.name, id: node.id, peerUrl: node.url, api: `${base}/api` }))
  app.notFound((c) => c.json({ error: `no route ${c.req.method} ${c.req.path}` }, 404))
  app.onError((error, c) => {
    logger.error('request failed', { method: c.req.method, path: c.req.path, error: String(error) })
    return c.json({ error: 'internal error' }, 500)
  })

  const honoListener = getRequestListener(app.fetch)
  // The REST API goes straight to core's Node handler: through Hono, `@hono/node-server` builds a
  // Fetch Request, its headers, an AbortSignal and a web ReadableStream for every call, about
  // 40 % of a node's CPU under a REST write load. With a control token the demo's CORS
  // middleware needs Hono, so every path goes through it then.
  const api = options.controlToken ? undefined : createNodeHandler(node, { basePath: base })
  const server = new Server((req, res) => {
    if (api) api(req, res, () => void honoListener(req, res))
    else void honoListener(req, res)
  })
  // WebSockets go to core's attachToServer, not through Hono: a socket upgraded through
  // @hono/node-server keeps its request, Hono context and their closures for its whole life
  // (about 6.5 KiB of heap per idle socket, more than plain ws needs in all), which every held
  // socket costs the node whoever opened it; attachToServer also caps frames per endpoint.
  const detachSockets = attachToServer(server, { node, path: base })
  let address: AddressInfo
  try {
    await node.ready()
    address = await listen(server, options.port ?? 4000, host)
  } catch (error) {
    await node.close()
    throw error
  }
  server.on('error', (error: Error) => logger.error('server error', { error: error.message }))

  const url = `http://${urlHost(host)}:${address.port}`
  node.url = options.peerUrl ?? `ws://${urlHost(WILDCARD_HOSTS.has(host) ? hostname() : host)}:${address.port}${base}`
  logger.info('listening', { name: node.name, url, peerUrl: node.url })

  if (join.length > 0) {
    // The CLI must survive peers that are down: join keeps retrying after the timeout.
    node.join(join, { timeoutMs: options.joinTimeoutMs ?? 10_000 }).then(
      () => logger.info('joined', { peers: join }),
      (error: unknown) => {
        if (!node.closed) logger.warn('peers unreachable, retrying in the background', { error: String(error) })
      },
    )
  }

  let closing: Promise<void> | undefined
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      await node.close()
      await new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeIdleConnections()
        setTimeout(() => {
          detachSockets()
          server.closeAllConnections()
        }, CLOSE_GRACE_MS).unref()
      })
    })())

  return { node, url, peerUrl: node.url, close }
}
