import { acceptFrames, createFetchHandler, createFetchRestHandler, type FrameConnection } from '@mesh/core'
import type { MeshHttpOptions, MeshNode, RestOptions } from '@mesh/core'
import { Hono, type Context, type Env } from 'hono'
import { basePath as mountPrefix } from 'hono/route'
import type { UpgradeWebSocket, WSEvents } from 'hono/ws'

/** Options of {@link meshEvents}. */
export interface MeshEventsOptions {
  /** Decides whether a light peer may write; default: every light peer may. */
  readOnly?: (c: Context, room: string) => boolean
}

/** Options of {@link mountMesh}: `basePath`, `rest` and `inspector` as in core's `MeshHttpOptions`. */
export interface MountMeshOptions<T = unknown, U = unknown> extends MeshEventsOptions, MeshHttpOptions {
  /** The runtime's WebSocket helper: of `@hono/node-server` v2, or `createNodeWebSocket(...)` of `@hono/node-ws`. */
  upgradeWebSocket: UpgradeWebSocket<T, U>
}

/**
 * WebSocket events for the peer endpoint (`/mesh`) and the light-peer endpoint (`/mesh/:room`,
 * room from the `:room` param), for any `upgradeWebSocket`. Auth stays ordinary middleware.
 * @example app.get('/mesh/:room', upgradeWebSocket(meshEvents(node)))
 */
export const meshEvents =
  (node: MeshNode, options: MeshEventsOptions = {}) =>
  (c: Context): WSEvents => {
    const room = c.req.param('room')
    let connection: FrameConnection | undefined
    return {
      onOpen: (_event, ws) => {
        const readOnly = room !== undefined ? options.readOnly?.(c, room) : undefined
        connection = acceptFrames(node.accept(ws, { room, request: c.req.raw, readOnly }), ws)
      },
      onMessage: (event) => connection?.receive(event.data),
      // Cleanup lives here: some runtimes never fire onError.
      onClose: () => connection?.close(),
    }
  }

/**
 * The REST API (DESIGN.md §3) as a Hono sub-app; routes are relative to where it is mounted.
 * @example app.route('/mesh/api', meshApi(node))
 */
export const meshApi = (node: MeshNode, options: RestOptions = {}): Hono => {
  const api = createFetchRestHandler(node, options)
  return new Hono().all('/*', (c) => api(c.req.raw, mountPrefix(c)))
}

/**
 * Mounts the peer and light-peer WebSocket endpoints, the REST API (`<basePath>/api/*`) and,
 * with `inspector: true`, the inspector. Register other routes under `basePath` before calling it.
 * @example mountMesh(app, node, { upgradeWebSocket, inspector: true })
 */
export function mountMesh<E extends Env, T, U>(app: Hono<E>, node: MeshNode, options: MountMeshOptions<T, U>): Hono<E> {
  const base = (options.basePath ?? '/mesh').replace(/\/+$/, '')
  const upgrade = options.upgradeWebSocket(meshEvents(node, options))
  const mesh = createFetchHandler(node, options)
  app.get(base, upgrade).get(`${base}/:room`, upgrade)
  return app.all(`${base}/*`, async (c, next) => (await mesh(c.req.raw, mountPrefix(c))) ?? next())
}
