import type { IncomingMessage, Server } from 'node:http'
import { Router, type Application } from 'express'
import { attachToServer, createNodeHandler, createNodeRestHandler, type MeshNode, type RestOptions } from '@mesh/core'

export { attachToServer, type AttachOptions } from '@mesh/core'

/**
 * An Express router serving the REST API of DESIGN.md §3 (`/kv`, `/members`, `/status`,
 * `/join`, `/health`, ...). Mount it at `<basePath>/api`. Bodies must be sent as
 * `application/json` (415 otherwise). It reads raw bodies itself, so any JSON value is
 * accepted (a global `express.json()` in strict mode refuses top-level strings and numbers);
 * a body such a parser already read is used as it left it.
 *
 * @example
 * app.use('/mesh/api', meshRouter(node))
 */
export const meshRouter = (node: MeshNode, options: RestOptions = {}): Router =>
  Router().use(createNodeRestHandler(node, options))

/** Options of {@link mountMesh}: where to serve, and the REST API's options. */
export interface MountOptions extends RestOptions {
  node: MeshNode
  /** Base path of every Mesh endpoint. Default `/mesh`. */
  basePath?: string
  /** Decides whether a light peer may write; default: every light peer may. */
  readOnly?: (request: IncomingMessage, room: string) => boolean
  /** Serve the web inspector (`@mesh/inspector`, when installed and built) at `<basePath>/inspector`. Default false. */
  inspector?: boolean
}

/**
 * Serves all of Mesh on an Express app and its HTTP server: the WebSocket endpoints
 * (`<basePath>` and `<basePath>/:room`, other upgrades left alone) and the REST API at
 * `<basePath>/api`, as middleware at this point of the app (so middleware before it, such as
 * auth, applies); with `inspector: true`, the web inspector at `<basePath>/inspector`. Unless
 * `node.url` is set, the node advertises `ws://<address>:<port><basePath>` once the server
 * listens (the hostname for `app.listen(port)`, which binds every interface; logged at info).
 * Returns a function that detaches the WebSocket endpoints.
 *
 * @example
 * const server = app.listen(3000)
 * const detach = mountMesh(app, server, { node, inspector: true })
 */
export const mountMesh = (app: Application, server: Server, options: MountOptions): (() => void) => {
  const { node, readOnly, basePath, inspector, ...rest } = options
  app.use(createNodeHandler(node, { basePath, rest, inspector }))
  return attachToServer(server, { node, path: basePath, readOnly, advertise: true })
}
