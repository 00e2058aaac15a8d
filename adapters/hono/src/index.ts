import {
  createInspectorHandler,
  createRestHandler,
  drainBodyStream,
  readBodyStream,
  type Connection,
  type MeshNode,
  type RestOptions,
} from '@mesh/core'
import { Hono, type Context, type Env } from 'hono'
import { basePath as mountPrefix } from 'hono/route'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import type { UpgradeWebSocket, WSEvents, WSMessageReceive } from 'hono/ws'

/** Options of {@link meshEvents}. */
export interface MeshEventsOptions {
  /** Decides whether a light peer may write; default: every light peer may. */
  readOnly?: (c: Context, room: string) => boolean
}

/** Options of {@link mountMesh}. */
export interface MountMeshOptions<T = unknown, U = unknown> extends MeshEventsOptions {
  /**
   * The runtime's WebSocket helper.
   * @example import { upgradeWebSocket } from '@hono/node-server' // v2, or createNodeWebSocket(...) of @hono/node-ws
   */
  upgradeWebSocket: UpgradeWebSocket<T, U>
  /** Base path of the endpoints. Default `/mesh`. */
  basePath?: string
  /** Options of the REST API under `<basePath>/api`. */
  rest?: RestOptions
  /** Serve the web inspector (`@mesh/inspector`, when installed and built) at `<basePath>/inspector`. Default false. */
  inspector?: boolean
}

// Runtimes disagree on the shape of binary data; text stays a string so core rejects it (4400).
const toFrame = (data: WSMessageReceive | Uint8Array): Uint8Array | ArrayBuffer | string | Promise<ArrayBuffer> => {
  if (typeof data === 'string' || data instanceof ArrayBuffer) return data
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
  return data instanceof Blob ? data.arrayBuffer() : new Uint8Array(data)
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
    let connection: Connection | undefined
    let queue: Promise<void> | undefined
    return {
      onOpen: (_event, ws) => {
        const readOnly = room !== undefined ? options.readOnly?.(c, room) : undefined
        connection = node.accept(ws, { room, request: c.req.raw, readOnly })
      },
      onMessage: (event, ws) => {
        const frame = toFrame(event.data)
        if (!queue && !(frame instanceof Promise)) return connection?.receive(frame)
        // A Blob is read asynchronously; later frames wait behind it to keep their order.
        const tail: Promise<void> = (queue ?? Promise.resolve())
          .then(async () => connection?.receive(await frame))
          .catch(() => ws.close(1011, 'could not read frame'))
          .then(() => void (queue === tail && (queue = undefined)))
        queue = tail
      },
      // Cleanup lives here: some runtimes never fire onError.
      onClose: () => {
        connection?.close()
        connection = undefined
      },
    }
  }

/**
 * The REST API (DESIGN.md §3) as a Hono sub-app; routes are relative to where it is mounted.
 * @example app.route('/mesh/api', meshApi(node))
 */
export const meshApi = (node: MeshNode, options: RestOptions = {}): Hono => {
  const handle = createRestHandler(node, options)
  const maxSize = options.maxBodyBytes ?? 1024 * 1024
  return new Hono().all('/*', async (c) => {
    const url = new URL(c.req.url)
    const prefix = mountPrefix(c).replace(/\/+$/, '')
    const length = c.req.header('content-length')
    const res = await handle({
      method: c.req.method,
      path: url.pathname.slice(prefix.length) || '/',
      query: url.searchParams,
      contentLength: length === undefined ? undefined : Number(length),
      body: () => readBodyStream(c.req.raw.body, maxSize),
      header: (name) => c.req.header(name),
    })
    // The client may still be sending a body the handler refused or ignored (413, 415, 404…);
    // closing now would reset the connection before it reads the answer, so read the rest
    // first (bounded; a no-op for a body already read), and close only if cut short.
    const drained = await drainBodyStream(c.req.raw.body)
    const headers: Record<string, string> = drained ? {} : { Connection: 'close' }
    if (res.contentType) headers['content-type'] = res.contentType
    if (res.contentType) return c.body(String(res.body), res.status as ContentfulStatusCode, headers)
    return c.json(res.body, res.status as ContentfulStatusCode, headers)
  })
}

/**
 * Mounts the inspector (with `inspector: true`), the REST API (`<basePath>/api/*`), then the
 * peer and light-peer WebSocket endpoints. Register other routes under `basePath` before calling it.
 * @example mountMesh(app, node, { upgradeWebSocket, inspector: true })
 */
export const mountMesh = <E extends Env, T, U>(
  app: Hono<E>,
  node: MeshNode,
  options: MountMeshOptions<T, U>,
): Hono<E> => {
  const base = (options.basePath ?? '/mesh').replace(/\/+$/, '')
  const upgrade = options.upgradeWebSocket(meshEvents(node, options))
  const notUpgrade = (c: Context) => c.json({ error: 'expected a WebSocket upgrade' }, 426, { Upgrade: 'websocket' })
  if (options.inspector) {
    const inspector = createInspectorHandler({ base })
    app.get(`${base}/inspector/*`, (c, next) => {
      const res = inspector(c.req.method, c.req.path)
      return res ? c.body(res.body, res.status as ContentfulStatusCode, res.headers) : next()
    })
  }
  app.route(`${base}/api`, meshApi(node, options.rest))
  app.get(base, upgrade, notUpgrade)
  app.get(`${base}/:room`, upgrade, notUpgrade)
  return app
}
