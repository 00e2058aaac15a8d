import { timingSafeEqual } from 'node:crypto'
import { MeshError, toJsonSafe, type JsonValue } from '../common/index.js'
import { renderPrometheus } from '../observability/index.js'
import type { MeshNode } from '../node/index.js'
import { MeshCallError, type CallErrorCode } from '../routing/index.js'
import { mayCall, mayUseTopic, type AuthDecision } from '../security/index.js'
import { assertKey, DEFAULT_ROOM } from '../store/index.js'

/** A framework-neutral HTTP request for the REST API. */
export interface RestRequest {
  method: string
  /** Path below the API root, e.g. `/kv/color` for `/mesh/api/kv/color`; still percent-encoded. */
  path: string
  query: URLSearchParams
  /** Declared body size, when the framework knows it; checked before reading. */
  contentLength?: number
  /** Reads the body as text. */
  body(): Promise<string>
  /**
   * Reads a request header (case-insensitive): the content type (bodies must be
   * `application/json`, else 415) and the control API's token. Without it, bodies are refused.
   */
  header?(name: string): string | undefined
}

/** What the adapter sends back: `body` serialised as JSON, or as it is when `contentType` is set. */
export interface RestResponse {
  status: number
  body: unknown
  /** Set for non-JSON answers (metrics); `body` is then a string. */
  contentType?: string
}

/**
 * The one default for the largest REST request body, 1 MiB: every adapter and body reader
 * falls back to it, so a limit never differs by framework.
 */
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024

/** Options of {@link createRestHandler}. */
export interface RestOptions {
  /** Largest request body accepted. Default {@link DEFAULT_MAX_BODY_BYTES} (1 MiB). */
  maxBodyBytes?: number
  /** How long `POST /join` waits for the handshakes. Default 5 s. */
  joinTimeoutMs?: number
  /**
   * Enables the control API (`/control/cut`, `/control/heal`) for demos and tests, guarded by
   * this bearer token. Off unless set; never enable it in production.
   */
  controlToken?: string
}

/** What {@link createRestHandler} returns: one request in, one answer out; it never rejects. */
export type RestHandler = (req: RestRequest) => Promise<RestResponse>

/** Compares secrets in time independent of where they differ. */
const safeEqual = (a: string, b: string): boolean => {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

// Light peers can store values JSON cannot hold; every answer is made safe to serialise.
const json = (status: number, body: unknown): RestResponse => ({ status, body: toJsonSafe(body) })
const error = (status: number, message: string): RestResponse => json(status, { error: message })

/**
 * True when the request says its body is JSON. Browsers let any page send `text/plain`, form
 * and multipart bodies cross-site without a CORS preflight; `application/json` needs one, so
 * insisting on it keeps other sites from driving the API from a visitor's browser.
 */
const isJsonBody = (req: RestRequest): boolean => {
  const type = req.header?.('content-type')?.split(';', 1)[0]?.trim().toLowerCase()
  return type === 'application/json'
}

/** True when the request carries a body, going by its headers. */
const hasBody = (req: RestRequest): boolean =>
  (req.contentLength !== undefined && req.contentLength > 0) || req.header?.('transfer-encoding') !== undefined

const NEEDS_JSON = 'send the body as JSON, with "Content-Type: application/json"'

const STATUS_OF: Partial<Record<MeshError['code'], number>> = {
  bad_request: 400,
  not_found: 404,
  too_large: 413,
  conflict: 409,
  forbidden: 403,
  closed: 503,
  timeout: 504,
  storage_failed: 500,
}

/** The decision for the health probe, which asks no credentials: it reads, and calls nothing. */
const HEALTH_ONLY: Extract<AuthDecision, { allow: true }> = { allow: true, readOnly: true, topics: { call: false } }

/** The HTTP status of each typed call error (DESIGN §8). */
const CALL_STATUS: Record<CallErrorCode, number> = { no_owner: 503, owner_lost: 502, timeout: 504, actor_failed: 502 }

/**
 * The REST API of DESIGN.md §3 as a plain function, so every adapter serves the same routes
 * with a few lines of glue. Bad input gets a 4xx with `{ "error": "..." }` and changes nothing.
 */
export const createRestHandler = (node: MeshNode, options: RestOptions = {}): RestHandler => {
  const maxBody = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES
  const joinTimeoutMs = options.joinTimeoutMs ?? 5000
  const tooBig = `body larger than ${maxBody} bytes`

  const readJson = async (
    req: RestRequest,
  ): Promise<{ ok: true; value: JsonValue } | { ok: false; res: RestResponse }> => {
    if (req.contentLength !== undefined && req.contentLength > maxBody) {
      return { ok: false, res: error(413, tooBig) }
    }
    if (!isJsonBody(req)) return { ok: false, res: error(415, NEEDS_JSON) }
    const text = await req.body()
    if (Buffer.byteLength(text) > maxBody) return { ok: false, res: error(413, tooBig) }
    if (text.trim() === '') return { ok: false, res: error(400, 'body is empty; send a JSON value') }
    try {
      return { ok: true, value: JSON.parse(text) as JsonValue }
    } catch {
      return { ok: false, res: error(400, 'body is not valid JSON') }
    }
  }

  const kvKey = async (req: RestRequest, rawKey: string): Promise<RestResponse> => {
    let key: string
    try {
      key = assertKey(decodeURIComponent(rawKey))
    } catch (e) {
      return error(400, e instanceof MeshError ? e.message : 'key is not valid percent-encoding')
    }
    switch (req.method) {
      case 'GET':
        return node.has(key) ? json(200, node.get(key)) : error(404, `no key "${key}"`)
      case 'PUT': {
        const ephemeral = req.query.get('ephemeral')
        if (ephemeral !== null && !['true', 'false', '1', '0', ''].includes(ephemeral)) {
          return error(400, 'ephemeral must be true or false')
        }
        const ttlText = req.query.get('ttl')
        const ttl = ttlText === null ? undefined : Number(ttlText)
        if (ttl !== undefined && (!Number.isInteger(ttl) || ttl <= 0)) {
          return error(400, 'ttl must be a positive whole number of milliseconds')
        }
        const body = await readJson(req)
        if (!body.ok) return body.res
        await node.put(key, body.value, {
          ephemeral: ephemeral === 'true' || ephemeral === '1' || ephemeral === '',
          ttl,
        })
        return json(200, { key, value: node.get(key), ...node.data.meta(key) })
      }
      case 'DELETE':
        return node.has(key) ? json(200, await node.pop(key)) : error(404, `no key "${key}"`)
      default:
        return error(405, `${req.method} is not allowed on /kv/:key`)
    }
  }

  const join = async (req: RestRequest): Promise<RestResponse> => {
    const body = await readJson(req)
    if (!body.ok) return body.res
    const urls = (body.value as { urls?: unknown } | null)?.urls
    if (!Array.isArray(urls) || urls.length === 0 || !urls.every((u) => typeof u === 'string')) {
      return error(400, 'body must be { "urls": ["ws://host:port/mesh", ...] }')
    }
    try {
      await node.join(urls, { timeoutMs: joinTimeoutMs })
      return json(200, { joined: urls })
    } catch (e) {
      if (e instanceof MeshError && e.code === 'timeout') return json(202, { joining: urls, note: e.message })
      throw e
    }
  }

  /** `POST /conflicts/resolve`: `{ peer, room?, strategy }` → `node.resolveConflict(...)`. */
  const resolveConflict = async (req: RestRequest): Promise<RestResponse> => {
    const body = await readJson(req)
    if (!body.ok) return body.res
    const value = body.value
    const usage = 'body must be { "peer": "<node id>", "room": "default", "strategy": "merge" | "accept" }'
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return error(400, usage)
    const { peer, room = DEFAULT_ROOM, strategy } = value as { peer?: unknown; room?: unknown; strategy?: unknown }
    if (typeof peer !== 'string' || peer === '' || typeof room !== 'string') return error(400, usage)
    if (strategy !== 'merge' && strategy !== 'accept') return error(400, usage)
    // Throws not_found (404) when no such conflict is pending.
    node.resolveConflict({ peer, room, strategy })
    return json(200, { resolved: { peer, room, strategy }, conflicts: listConflicts() })
  }

  /** `POST /call/:capability/:id`: the JSON body (or null without one) is the payload; `?timeoutMs=` the deadline. */
  const call = async (
    req: RestRequest,
    rawCapability: string,
    rawId: string,
    decision: Extract<AuthDecision, { allow: true }>,
  ): Promise<RestResponse> => {
    let capability: string
    let id: string
    try {
      capability = decodeURIComponent(rawCapability)
      id = decodeURIComponent(rawId)
    } catch {
      return error(400, 'capability and id must be valid percent-encoding')
    }
    if (!mayCall(decision.topics, capability)) return error(403, `calling "${capability}" is not allowed`)
    const timeoutText = req.query.get('timeoutMs')
    const timeoutMs = timeoutText === null ? undefined : Number(timeoutText)
    let payload: unknown = null
    if (hasBody(req)) {
      const body = await readJson(req)
      if (!body.ok) return body.res
      payload = body.value
    }
    try {
      return json(200, await node.call({ capability, id, payload: payload as JsonValue, timeoutMs }))
    } catch (e) {
      if (e instanceof MeshCallError) return json(CALL_STATUS[e.code], { error: e.message, code: e.code })
      throw e
    }
  }

  /**
   * `POST /publish/:topic`: the JSON body (or null without one) is the payload. Answers 202
   * with what this node did (`delivered` to its own subscribers, `relayed` to its peers).
   */
  const publish = async (
    req: RestRequest,
    rawTopic: string,
    decision: Extract<AuthDecision, { allow: true }>,
  ): Promise<RestResponse> => {
    if (req.method !== 'POST') return error(405, `${req.method} is not allowed on /publish/:topic; use POST`)
    let topic: string
    try {
      topic = decodeURIComponent(rawTopic)
    } catch {
      return error(400, 'the topic must be valid percent-encoding')
    }
    if (!mayUseTopic(decision.topics, decision.readOnly, 'publish', topic)) {
      return error(403, `publish on "${topic}" is not allowed`)
    }
    let payload: JsonValue = null
    if (hasBody(req)) {
      const body = await readJson(req)
      if (!body.ok) return body.res
      payload = body.value
    }
    return json(202, { topic, ...node.publish(topic, payload) })
  }

  const listConflicts = () =>
    node.conflicts().map((c) => ({ peer: c.peer, room: c.room, keys: c.keys.map((k) => k.key), values: c.keys }))

  const control = async (req: RestRequest, action: string): Promise<RestResponse> => {
    if (!options.controlToken)
      return error(
        404,
        'the control API is disabled; set a control token to enable it (mesh serve --control-token, or the controlToken option)',
      )
    const auth = req.header?.('authorization') ?? ''
    const token = auth.startsWith('Bearer ') ? auth.slice(7) : (req.header?.('x-mesh-token') ?? '')
    if (!safeEqual(token, options.controlToken)) return error(401, 'missing or wrong control token')
    if (action === '' && req.method === 'GET') return json(200, { cuts: node.cuts() })
    if (req.method !== 'POST' || (action !== 'cut' && action !== 'heal')) {
      return error(404, 'control routes: GET /control, POST /control/cut, POST /control/heal')
    }
    const body = await readJson(req)
    if (!body.ok) return body.res
    const peer = (body.value as { peer?: unknown } | null)?.peer
    if (typeof peer !== 'string' || peer === '') return error(400, 'body must be { "peer": "<node id>" }')
    if (action === 'cut') node.cut(peer)
    else node.heal(peer)
    return json(200, { cuts: node.cuts() })
  }

  const route = async (req: RestRequest, decision: Extract<AuthDecision, { allow: true }>): Promise<RestResponse> => {
    const path = req.path.replace(/\/+$/, '') || '/'
    if (path.startsWith('/kv/')) return kvKey(req, path.slice(4))
    if (path === '/control' || path.startsWith('/control/')) return control(req, path.slice(9))
    const callRoute = /^\/call\/([^/]+)\/([^/]+)$/.exec(path)
    if (callRoute) {
      if (req.method !== 'POST') return error(405, `${req.method} is not allowed on /call/:capability/:id; use POST`)
      return call(req, callRoute[1] as string, callRoute[2] as string, decision)
    }
    const only = (method: string, run: () => RestResponse | Promise<RestResponse>) =>
      req.method === method ? run() : error(405, `${req.method} is not allowed on ${path}; use ${method}`)
    switch (path) {
      case '/kv':
        return only('GET', () => json(200, node.data.toJSON()))
      case '/metrics':
        return only('GET', () => ({
          status: 200,
          body: renderPrometheus(node.metrics()),
          contentType: 'text/plain; version=0.0.4; charset=utf-8',
        }))
      case '/members':
        return only('GET', () => json(200, node.members()))
      case '/status':
        return only('GET', () => json(200, node.status()))
      case '/history':
        return only('GET', () => {
          const limit = Number(req.query.get('limit') ?? 100)
          if (!Number.isInteger(limit) || limit < 1) return error(400, 'limit must be a positive integer')
          return json(
            200,
            node.history({
              limit,
              room: req.query.get('room') ?? undefined,
              origin: req.query.get('origin') ?? undefined,
              key: req.query.get('key') ?? undefined,
            }),
          )
        })
      case '/join':
        return only('POST', () => join(req))
      case '/conflicts':
        return only('GET', () => json(200, listConflicts()))
      case '/conflicts/resolve':
        return only('POST', () => resolveConflict(req))
      case '/health':
        return only('GET', () =>
          node.closed
            ? error(503, 'node is shutting down')
            : json(200, { status: 'ok', id: node.id, name: node.name, uptimeMs: Date.now() - node.startedAt }),
        )
      default:
        return error(404, `no route ${req.method} ${path}`)
    }
  }

  const gate = async (req: RestRequest): Promise<RestResponse> => {
    // Load balancers probe health without credentials.
    if (req.path.replace(/\/+$/, '') === '/health') return route(req, HEALTH_ONLY)
    const url = new URL(`http://localhost${req.path}?${req.query.toString()}`)
    const decision = await node.authorize({ kind: 'rest', url, header: (name) => req.header?.(name) })
    if (!decision.allow) return error(decision.status, decision.reason)
    // Publishing writes no state: the hook's topic grant decides, read-only or not.
    const publishRoute = /^\/publish\/([^/]+)$/.exec(req.path.replace(/\/+$/, ''))
    if (decision.readOnly && req.method !== 'GET' && req.method !== 'HEAD' && !publishRoute) {
      return error(403, 'this client may only read')
    }
    // Also for routes that ignore the body: nothing a cross-site form sends may change state.
    const safe = req.method === 'GET' || req.method === 'HEAD' || req.method === 'OPTIONS'
    if (!safe && hasBody(req)) {
      if (req.contentLength !== undefined && req.contentLength > maxBody) return error(413, tooBig)
      if (!isJsonBody(req)) return error(415, NEEDS_JSON)
    }
    if (publishRoute) return publish(req, publishRoute[1] as string, decision)
    return route(req, decision)
  }

  return async (req: RestRequest): Promise<RestResponse> => {
    try {
      return await gate(req)
    } catch (e) {
      if (e instanceof MeshError) return error(STATUS_OF[e.code] ?? 400, e.message)
      node.logger.error('REST handler failed', { method: req.method, path: req.path, error: String(e) })
      return error(500, 'internal error')
    }
  }
}
