import type { Server } from 'node:http'
import { Inject, Injectable, Logger } from '@nestjs/common'
import type { BeforeApplicationShutdown, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common'
import { HttpAdapterHost } from '@nestjs/core'
import { checkPeerUrl, lineLogger, MeshNode, serveNode, type JsonValue, type MeshStore } from '@mesh/core'
import type { ServedNode } from '@mesh/core'
import { MESH_MODULE_OPTIONS, type MeshModuleOptions } from './options.js'

/**
 * The application's Mesh node, injectable anywhere. On bootstrap it serves the endpoints below
 * Nest and joins the configured peers (core's `serveNode`: Nest's body parsers refuse JSON such
 * as `"blue"`, and a `WsAdapter` gateway destroys upgrades it does not own, so do not share the
 * port with one); on shutdown it leaves the mesh gracefully. Call `app.enableShutdownHooks()`.
 */
@Injectable()
export class MeshService implements OnApplicationBootstrap, BeforeApplicationShutdown, OnApplicationShutdown {
  /** The node itself: rooms, events, status, conflicts. */
  readonly node: MeshNode
  /** Writes one key, or many keys in one commit, with `MeshNode.put`'s options (ephemeral, ttl, replicas). */
  readonly put: MeshNode['put']
  /** The value of `key`, or undefined; `get<T>(key)` types it. */
  readonly get: MeshNode['get']
  /** True when the store holds `key`. */
  readonly has: MeshNode['has']
  /** Removes `key` everywhere; resolves with the value it held. */
  readonly pop: MeshNode['pop']
  /** Joins more peers; see `MeshNode.join`. */
  readonly join: MeshNode['join']
  /** Subscribes to a node event; returns the unsubscribe function. */
  readonly on: MeshNode['on']
  #serve: () => ServedNode
  #served: ServedNode | undefined

  constructor(@Inject(MESH_MODULE_OPTIONS) options: MeshModuleOptions, @Inject(HttpAdapterHost) host: HttpAdapterHost) {
    const { node, basePath, join, joinTimeoutMs, serve, rest, readOnly, inspector, ...nodeOptions } = options
    join?.forEach(checkPeerUrl) // at startup, not in a background join
    const nest = new Logger('Mesh')
    const logger = lineLogger((level, line) => nest[level === 'info' ? 'log' : level](line))
    const n = (this.node = node ?? new MeshNode({ logger, ...nodeOptions }))
    this.put = n.put.bind(n)
    this.get = n.get.bind(n)
    this.has = n.has.bind(n)
    this.pop = n.pop.bind(n)
    this.join = n.join.bind(n)
    this.on = n.on.bind(n)
    const server = () => (serve === false ? undefined : (host.httpAdapter?.getHttpServer() as Server | undefined)) // eslint-disable-line @typescript-eslint/no-unnecessary-condition -- undefined in a standalone app context
    this.#serve = () => serveNode(n, server(), options)
  }

  /** The key/value store of room `default`. */
  get data(): MeshStore {
    return this.node.data
  }

  /** A plain-object snapshot of the store. */
  snapshot(): Record<string, JsonValue> {
    return this.node.data.toJSON()
  }

  /** Serves the endpoints; the join starts once Nest listens, so the node announces its real URL. */
  onApplicationBootstrap(): void {
    this.#served = this.#serve()
  }

  /** Leaves the mesh before Nest closes the HTTP server, which waits for open sockets. */
  async beforeApplicationShutdown(): Promise<void> {
    await (this.#served?.close() ?? this.node.close())
  }

  /** Makes sure the node left even if only this hook ran, and unhooks from the server. */
  async onApplicationShutdown(): Promise<void> {
    await this.beforeApplicationShutdown()
    this.#served?.detach()
  }
}
