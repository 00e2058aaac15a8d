import type { IncomingMessage } from 'node:http'
import type { MeshNode, MeshNodeOptions, RestOptions } from '@mesh/core'

/**
 * Options of `MeshModule.forRoot` / `forRootAsync`: those of `MeshNode`, plus where and how
 * the endpoints are served and which peers to join.
 *
 * @example
 * MeshModule.forRoot({ name: 'api-1', join: ['ws://10.0.0.2:3000/mesh'] })
 */
export interface MeshModuleOptions extends MeshNodeOptions {
  /** Use this node instead of creating one (its own options then apply). */
  node?: MeshNode
  /** Base path of every Mesh endpoint. Default `/mesh`. */
  basePath?: string
  /**
   * Peers to join, as `ws://host:port/mesh` URLs: on bootstrap, or once the HTTP server
   * listens when it does not yet (so the node announces its real URL).
   */
  join?: readonly string[]
  /**
   * How long to wait for those peers before logging a warning; the node keeps retrying in
   * the background. Default 5000 ms.
   */
  joinTimeoutMs?: number
  /** Serve the endpoints on the Nest HTTP server. Default true; false for a node that only dials out. */
  serve?: boolean
  /** Options of the REST API under `<basePath>/api`. */
  rest?: RestOptions
  /** Decides whether a light peer may write; default: every light peer may. */
  readOnly?: (request: IncomingMessage, room: string) => boolean
  /**
   * Serve the web inspector (`@mesh/inspector`, when installed and built) at
   * `<basePath>/inspector`. Default false.
   * @example MeshModule.forRoot({ inspector: true })
   */
  inspector?: boolean
}
