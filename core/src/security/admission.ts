import { CloseCode, type Connection, type Logger, type MeshSocket, type Metrics } from '../common/index.js'
import {
  decide,
  describeRequest,
  findToken,
  type AuthDecision,
  type Authenticate,
  type AuthRequest,
  type TopicGrant,
} from './auth.js'
import { PendingConnection } from './pending-connection.js'

/** What admission needs of the node around it: its limits and how to open each kind of socket. */
export interface AdmissionHost {
  readonly logger: Logger
  readonly metrics: Metrics
  readonly closed: boolean
  readonly maxConnections: number
  readonly preAuthBytes: number
  readonly authenticate: Authenticate | undefined
  readonly allowedOrigins: readonly string[] | undefined
  /** Sockets served outside admission's own count: peer links (in handshake too) and light peers. */
  connections(): number
  /** True when `room` routes to the inspector feed. */
  isFeed(room: string): boolean
  openPeer(socket: MeshSocket): Connection
  openFeed(socket: MeshSocket): Connection
  openLight(
    socket: MeshSocket,
    options: { room: string; authReadOnly: boolean; topics: TopicGrant; readOnly?: boolean; request?: unknown },
  ): Connection
}

/** A light peer, inspector feed or REST call to authorize. */
export interface AuthorizeInput {
  kind: AuthRequest['kind']
  room?: string
  url: URL
  header: (name: string) => string | undefined
  request?: unknown
}

/** Options of `accept`. */
export interface AcceptOptions {
  room?: string
  request?: unknown
  readOnly?: boolean
}

const refused: Connection = { receive: () => {}, close: () => {} }

/** The default grant (see {@link TopicGrant}), shared by every socket that gets it: never changed. */
const DEFAULT_GRANT: TopicGrant = Object.freeze({})

/**
 * The door of a node: every socket an adapter hands over passes the origin check, the
 * connection limit and the `authenticate` hook here before it becomes a peer link, a light
 * peer or an inspector feed.
 */
export class Admission {
  #host: AdmissionHost
  /** Sockets waiting for the authenticate hook, and inspector feeds: they count as connections too. */
  #waiting = new Set<Connection>()

  constructor(host: AdmissionHost) {
    this.#host = host
  }

  get waiting(): number {
    return this.#waiting.size
  }

  /** See `MeshNode.accept`. */
  accept(socket: MeshSocket, options: AcceptOptions = {}): Connection {
    const host = this.#host
    if (host.closed) {
      socket.close(CloseCode.goingAway, 'node is shutting down')
      return refused
    }
    // Nodes send no Origin; a browser page must not become a peer unless explicitly allowed.
    const origin = options.room === undefined ? describeRequest(options.request).header('origin') : undefined
    if (origin !== undefined && !host.allowedOrigins?.includes(origin)) {
      host.metrics.closed(CloseCode.forbidden)
      host.logger.warn('peer refused: browser origin', { origin: origin.slice(0, 80) })
      socket.close(CloseCode.forbidden, 'browser origins may not open peer links')
      return refused
    }
    if (host.connections() + this.#waiting.size >= host.maxConnections) {
      host.metrics.closed(CloseCode.rateLimited)
      host.logger.warn('refusing socket: too many connections', { limit: host.maxConnections, room: options.room })
      socket.close(CloseCode.rateLimited, 'too many connections')
      return refused
    }
    if (options.room === undefined) return host.openPeer(socket)
    const roomName = options.room
    const feed = host.isFeed(roomName)
    const openFeed = (): Connection => {
      const inspector = host.openFeed(socket)
      this.#waiting.add(inspector)
      return {
        receive: () => inspector.receive(new Uint8Array(0)),
        close: () => {
          this.#waiting.delete(inspector)
          inspector.close()
        },
      }
    }
    const openConnection = feed
      ? openFeed
      : (authReadOnly: boolean, topics: TopicGrant) =>
          host.openLight(socket, {
            room: roomName,
            authReadOnly,
            topics,
            readOnly: options.readOnly,
            request: options.request,
          })
    if (!host.authenticate && !host.allowedOrigins) return openConnection(false, DEFAULT_GRANT)
    const { url, header } = describeRequest(options.request)
    const pending: Connection = new PendingConnection({
      socket,
      decision: this.authorize({
        kind: feed ? 'inspect' : 'light',
        room: feed ? undefined : roomName,
        url,
        header,
        request: options.request,
      }),
      open: openConnection,
      logger: host.logger,
      metrics: host.metrics,
      maxBytes: host.preAuthBytes,
      settled: () => this.#waiting.delete(pending),
    })
    this.#waiting.add(pending)
    return pending
  }

  /** See `MeshNode.authorize`. */
  async authorize(input: AuthorizeInput): Promise<AuthDecision> {
    const host = this.#host
    const origin = input.header('origin')
    if (origin !== undefined && host.allowedOrigins && !host.allowedOrigins.includes(origin)) {
      return {
        allow: false,
        status: 403,
        code: CloseCode.forbidden,
        reason: `origin ${origin.slice(0, 80)} is not allowed`,
      }
    }
    if (!host.authenticate) return { allow: true, readOnly: false, topics: DEFAULT_GRANT }
    const result = await host.authenticate({
      kind: input.kind,
      room: input.room,
      url: input.url,
      header: input.header,
      token: findToken(input.url, input.header),
      request: input.request,
    })
    return decide(result, input.room)
  }
}
