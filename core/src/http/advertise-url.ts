import type { AddressInfo } from 'node:net'
import { hostname } from 'node:os'
import type { MeshNode } from '../node/index.js'
import { trimBase } from './paths.js'

/** What {@link advertiseWhenListening} needs of a server: Node's `http.Server` and `net.Server` fit. */
export interface ListeningServer {
  readonly listening: boolean
  address(): AddressInfo | string | null
  once(event: 'listening', listener: () => void): unknown
  off(event: 'listening', listener: () => void): unknown
}

/** Options of {@link advertiseWhenListening}. */
export interface AdvertiseOptions {
  node: MeshNode
  /** Base path of the endpoints. Default `/mesh`. */
  path?: string
}

const WILDCARD = new Set(['0.0.0.0', '::', ''])

/**
 * The peer URL of a server bound to `address`: `ws://<host>:<port><path>`. A wildcard
 * address (`0.0.0.0`, `::`) names no host a peer could dial, so the machine's hostname
 * stands in for it, as `mesh serve` does.
 */
export const peerUrlFor = (address: AddressInfo, path?: string): string => {
  const base = trimBase(path)
  const host = WILDCARD.has(address.address)
    ? hostname()
    : address.family === 'IPv6' || address.address.includes(':')
      ? `[${address.address}]`
      : address.address
  return `ws://${host}:${address.port}${base}`
}

/**
 * Sets `node.url` from the address `server` listens on, once it listens, unless the
 * application set a URL itself. Without it a node mounted on `app.listen(port)` would
 * advertise no URL, and peers that learn of it by gossip could never dial it. The URL chosen
 * for a wildcard address is logged at info, so a wrong guess is easy to spot and override
 * with the `url` option. Returns a function that stops waiting.
 *
 * @example
 * const server = serve({ fetch: app.fetch, port: 3000 })
 * advertiseWhenListening(server, { node })
 */
export const advertiseWhenListening = (server: ListeningServer, options: AdvertiseOptions): (() => void) => {
  const { node } = options
  const advertise = (): void => {
    const address = server.address()
    if (node.url || node.closed || address === null) return
    if (typeof address === 'string') {
      node.logger.warn('listening on a pipe, which peers cannot dial: set the url option', { address })
      return
    }
    node.url = peerUrlFor(address, options.path)
    node.logger[WILDCARD.has(address.address) ? 'info' : 'debug']('advertising peer URL', {
      url: node.url,
      boundTo: address.address,
      hint: 'set the url option if peers reach this node at another address',
    })
  }
  if (server.listening) advertise()
  else server.once('listening', advertise)
  return () => void server.off('listening', advertise)
}
