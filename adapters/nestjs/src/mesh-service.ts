import type { Server } from 'node:http'
import {
  Inject,
  Injectable,
  Logger,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common'
import { HttpAdapterHost } from '@nestjs/core'
import {
  advertiseWhenListening,
  attachToServer,
  createInspectorHandler,
  MeshError,
  MeshNode,
  type JsonValue,
  type Logger as MeshLogger,
  type MeshEvents,
  type MeshStore,
  type PutOptions,
} from '@mesh/core'
import { MESH_MODULE_OPTIONS } from './module-definition.js'
import type { MeshModuleOptions } from './options.js'
import { serveRestFirst } from './serve-rest.js'

/** How long Mesh sockets get to finish their close handshake before they are cut. */
const CLOSE_GRACE_MS = 2000

const nestLogger = (logger: Logger): MeshLogger => ({
  debug: (message, fields) => logger.debug(fields ? `${message} ${JSON.stringify(fields)}` : message),
  info: (message, fields) => logger.log(fields ? `${message} ${JSON.stringify(fields)}` : message),
  warn: (message, fields) => logger.warn(fields ? `${message} ${JSON.stringify(fields)}` : message),
  error: (message, fields) => logger.error(fields ? `${message} ${JSON.stringify(fields)}` : message),
})

/**
 * The application's Mesh node, injectable anywhere. On bootstrap it serves the Mesh endpoints
 * on the Nest HTTP server and joins the configured peers; on shutdown it leaves the mesh
 * gracefully (its peers see it as `left`). Call `app.enableShutdownHooks()` so SIGTERM runs
 * the shutdown hooks.
 *
 * The endpoints are served with a raw `upgrade` listener, not a `WsAdapter` gateway: a
 * gateway destroys every upgrade it does not own (so other WebSocket endpoints on the port
 * break) and matches paths exactly (so `/mesh/:room` cannot route). Mesh claims only its own
 * paths and leaves other upgrades alone; it does not share a port with `WsAdapter` gateways.
 */
@Injectable()
export class MeshService implements OnApplicationBootstrap, BeforeApplicationShutdown, OnApplicationShutdown {
  /** The node itself: rooms, events, status, conflicts. */
  readonly node: MeshNode
  #options: MeshModuleOptions
  #adapterHost: HttpAdapterHost
  #logger = new Logger('Mesh')
  #detach: Array<() => void> = []
  #forceDetach: ReturnType<typeof setTimeout> | undefined

  constructor(
    @Inject(MESH_MODULE_OPTIONS) options: MeshModuleOptions,
    @Inject(HttpAdapterHost) adapterHost: HttpAdapterHost,
  ) {
    const { node, basePath, join, joinTimeoutMs, serve, rest, readOnly, inspector, ...nodeOptions } = options
    for (const url of join ?? []) {
      // Fail at startup, not in a background join, when a peer URL cannot work.
      if (!/^wss?:\/\/[^/]/.test(url)) {
        throw new MeshError('bad_option', `MeshModule join URL "${url}" must look like ws://host:port/mesh`)
      }
    }
    this.#options = options
    this.#adapterHost = adapterHost
    this.node = node ?? new MeshNode({ logger: nestLogger(this.#logger), ...nodeOptions })
  }

  /** The key/value store of room `default`. */
  get data(): MeshStore {
    return this.node.data
  }

  /** Writes one key, or many keys in one commit; options as `MeshNode.put` (ephemeral, ttl, replicas). */
  put(key: string, value: JsonValue, options?: PutOptions): Promise<void>
  put(entries: Record<string, JsonValue>, options?: PutOptions): Promise<void>
  put(
    keyOrEntries: string | Record<string, JsonValue>,
    value?: JsonValue | PutOptions,
    options?: PutOptions,
  ): Promise<void> {
    return typeof keyOrEntries === 'string'
      ? this.node.put(keyOrEntries, value, options)
      : this.node.put(keyOrEntries, value as PutOptions | undefined)
  }

  /** The value of `key`, or undefined. */
  get<T extends JsonValue = JsonValue>(key: string): T | undefined {
    return this.node.get<T>(key)
  }

  /** True when the store holds `key`. */
  has(key: string): boolean {
    return this.node.has(key)
  }

  /** Removes `key` everywhere; resolves with the value it held. */
  pop(key: string): Promise<JsonValue | undefined> {
    return this.node.pop(key)
  }

  /** A plain-object snapshot of the store. */
  snapshot(): Record<string, JsonValue> {
    return this.node.data.toJSON()
  }

  /** Joins more peers; see `MeshNode.join`. */
  join(urls: readonly string[], options?: { timeoutMs?: number }): Promise<void> {
    return this.node.join(urls, options)
  }

  /** Subscribes to a node event; returns the unsubscribe function. */
  on<K extends keyof MeshEvents>(event: K, listener: (payload: MeshEvents[K]) => void): () => void {
    return this.node.on(event, listener)
  }

  /**
   * Serves the endpoints and joins the configured peers. When Nest has yet to listen, the
   * join starts once it does, so the node announces its real URL; bootstrap does not wait.
   */
  async onApplicationBootstrap(): Promise<void> {
    const server = this.#adapterHost.httpAdapter?.getHttpServer() as Server | undefined
    const serving = this.#options.serve !== false && server !== undefined
    if (serving) this.#serve(server)
    if ((this.#options.join ?? []).length === 0) return
    if (!serving || server.listening || this.node.url) return this.#join()
    const onListening = (): void => void this.#join()
    server.once('listening', onListening)
    this.#detach.push(() => server.off('listening', onListening))
  }

  /** Leaves the mesh before Nest closes the HTTP server, which waits for open sockets. */
  async beforeApplicationShutdown(): Promise<void> {
    await this.node.close()
    if (this.#detach.length > 0 && !this.#forceDetach) {
      this.#forceDetach = setTimeout(() => this.#detachAll(), CLOSE_GRACE_MS)
      this.#forceDetach.unref()
    }
  }

  /** Makes sure the node left even if only this hook ran, and unhooks from the server. */
  async onApplicationShutdown(): Promise<void> {
    await this.node.close()
    this.#detachAll()
  }

  #serve(server: Server): void {
    const basePath = (this.#options.basePath ?? '/mesh').replace(/\/+$/, '')
    const { node } = this
    const inspector = this.#options.inspector ? createInspectorHandler({ base: basePath }) : undefined
    this.#detach.push(
      serveRestFirst(server, { node, prefix: `${basePath}/api`, rest: this.#options.rest, inspector }),
      attachToServer(server, { node, path: basePath, readOnly: this.#options.readOnly }),
    )
    // Before the join waits for `listening`, so the node announces its URL to the peers it joins.
    this.#detach.push(advertiseWhenListening(server, { node, path: basePath }))
  }

  async #join(): Promise<void> {
    try {
      await this.node.join(this.#options.join ?? [], { timeoutMs: this.#options.joinTimeoutMs ?? 5000 })
    } catch (error) {
      // Unreachable peers must not stop the app: the node keeps retrying in the background.
      if (!this.node.closed) this.#logger.warn(`${(error as Error).message}; retrying in the background`)
    }
  }

  #detachAll(): void {
    clearTimeout(this.#forceDetach)
    for (const detach of this.#detach.splice(0)) detach()
  }
}
