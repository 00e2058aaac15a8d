import { CloseCode } from '../common/index.js'

/** What an `authenticate` hook sees about a light-peer connection, an inspector feed or a REST call. */
export interface AuthRequest {
  /** `inspect` is the inspector's read-only feed (`/mesh/_inspect`): it shows all of room `default`. */
  kind: 'light' | 'rest' | 'inspect'
  /** The room a light peer asks for. */
  room?: string
  url: URL
  /** A request header, case-insensitive. */
  header(name: string): string | undefined
  /**
   * The credential, from the first of: `Authorization: Bearer <t>`, `?token=<t>`, or a
   * WebSocket subprotocol `mesh-token.<t>` (browsers cannot set headers on a WebSocket).
   */
  token: string | undefined
  /** The framework's raw request object. */
  request: unknown
}

/**
 * Which pub/sub topics a client may use: all (`true`), none (`false`), or those named; a name
 * ending in `*` stands for every topic that starts with what precedes it (`chat:*`).
 */
export type TopicAccess = boolean | readonly string[]

/** What a client may do with pub/sub; a field left out takes its default (see {@link AuthResult}). */
export interface TopicGrant {
  publish?: TopicAccess
  subscribe?: TopicAccess
}

/**
 * An `authenticate` hook's answer: `true`/`false`, or an object with details. `publish` and
 * `subscribe` say which pub/sub topics the client may use (docs/routing.md); by default it
 * may subscribe to every topic, and publish on every topic unless it is read-only.
 */
export type AuthResult =
  | boolean
  | { allow: false; reason?: string }
  | ({ allow: true; readOnly?: boolean; rooms?: readonly string[] } & TopicGrant)

/** Decides who may connect as a light peer or call the REST API. */
export type Authenticate = (request: AuthRequest) => AuthResult | Promise<AuthResult>

/** The outcome Mesh acts on. */
export type AuthDecision =
  | { allow: true; readOnly: boolean; topics: TopicGrant }
  | { allow: false; status: 401 | 403; code: number; reason: string }

/** True when `access` lets a client use `topic`. */
export const topicAllowed = (access: TopicAccess, topic: string): boolean => {
  if (typeof access === 'boolean') return access
  return access.some((name) => (name.endsWith('*') ? topic.startsWith(name.slice(0, -1)) : name === topic))
}

/**
 * Topics that start with this are Mesh's own (e.g. the recipes' rate-limiter counters, which a
 * forged message could skew): a client publishes there only when its grant names them.
 */
export const RESERVED_TOPIC_PREFIX = 'mesh.'

/**
 * The grant's answer for publishing or subscribing on `topic`, with the defaults applied. A
 * publish on a reserved topic ({@link RESERVED_TOPIC_PREFIX}) needs an entry of the grant's list
 * that starts with the prefix itself (`'mesh.ratelimit/*'`): neither the default, nor `true`,
 * nor `'*'` covers it.
 */
export const mayUseTopic = (
  grant: TopicGrant,
  readOnly: boolean,
  action: 'publish' | 'subscribe',
  topic: string,
): boolean => {
  const access = grant[action] ?? (action === 'subscribe' || !readOnly)
  if (action === 'publish' && topic.startsWith(RESERVED_TOPIC_PREFIX)) {
    if (typeof access === 'boolean') return false
    return topicAllowed(
      access.filter((name) => name.startsWith(RESERVED_TOPIC_PREFIX)),
      topic,
    )
  }
  return topicAllowed(access, topic)
}

type HeaderBag = { get(name: string): string | null } | Record<string, string | string[] | undefined>

/** Reads url and headers from a Node `IncomingMessage`, a Fetch `Request`, or anything shaped like them. */
export const describeRequest = (request: unknown): { url: URL; header: (name: string) => string | undefined } => {
  const r = (request ?? {}) as { url?: unknown; headers?: HeaderBag }
  let url: URL
  try {
    url = new URL(typeof r.url === 'string' ? r.url : '/', 'http://localhost')
  } catch {
    url = new URL('http://localhost/')
  }
  const headers = r.headers
  const header = (name: string): string | undefined => {
    if (!headers) return undefined
    if (typeof (headers as { get?: unknown }).get === 'function') {
      return (headers as { get(name: string): string | null }).get(name) ?? undefined
    }
    const value = (headers as Record<string, string | string[] | undefined>)[name.toLowerCase()]
    return Array.isArray(value) ? value.join(', ') : value
  }
  return { url, header }
}

/** Finds the credential a client sent; see {@link AuthRequest.token}. */
export const findToken = (url: URL, header: (name: string) => string | undefined): string | undefined => {
  const authorization = header('authorization')
  if (authorization?.startsWith('Bearer ')) return authorization.slice(7).trim()
  const query = url.searchParams.get('token')
  if (query) return query
  const protocols = header('sec-websocket-protocol')
  const entry = protocols
    ?.split(',')
    .map((p) => p.trim())
    .find((p) => p.startsWith('mesh-token.'))
  return entry?.slice('mesh-token.'.length) || undefined
}

/** Turns a hook's answer into a decision, checking the room against the allowed rooms. */
export const decide = (result: AuthResult, room: string | undefined): AuthDecision => {
  if (result === true) return { allow: true, readOnly: false, topics: {} }
  if (result === false || !result.allow) {
    const reason = (result !== false && result.reason) || 'not authenticated'
    return { allow: false, status: 401, code: CloseCode.unauthorized, reason }
  }
  if (room !== undefined && result.rooms && !result.rooms.includes(room)) {
    return { allow: false, status: 403, code: CloseCode.forbidden, reason: `room "${room}" is not allowed` }
  }
  const topics: TopicGrant = {}
  if (result.publish !== undefined) topics.publish = result.publish
  if (result.subscribe !== undefined) topics.subscribe = result.subscribe
  return { allow: true, readOnly: result.readOnly ?? false, topics }
}
