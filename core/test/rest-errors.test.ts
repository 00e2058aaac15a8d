/**
 * The REST API's refusals, as a client reads them: status and `{ "error": "..." }` text of
 * every one (docs/api.md, "REST API answers"). Each leaves the store as it was.
 */
import {
  createRestHandler,
  MeshNode,
  type AuthResult,
  type MeshNodeOptions,
  type RestOptions,
  type RestResponse,
} from '@mesh/core'
import { afterEach, describe, expect, it } from 'vitest'

const nodes: MeshNode[] = []
afterEach(async () => {
  for (const node of nodes.splice(0)) await node.close()
})

const api = (options: MeshNodeOptions = {}, rest: RestOptions = {}) => {
  const node = new MeshNode({ name: 'rest', ...options })
  nodes.push(node)
  const handle = createRestHandler(node, rest)
  const call = (
    method: string,
    target: string,
    init: { body?: string; type?: string | null; length?: number; headers?: Record<string, string> } = {},
  ): Promise<RestResponse> => {
    const url = new URL(`http://localhost${target}`)
    const body = init.body ?? ''
    const headers: Record<string, string> = { ...init.headers }
    const type = init.type === undefined ? 'application/json' : init.type
    if (type !== null) headers['content-type'] = type
    return handle({
      method,
      path: url.pathname,
      query: url.searchParams,
      contentLength: init.length ?? (body === '' ? undefined : Buffer.byteLength(body)),
      body: () => Promise.resolve(body),
      header: (name) => headers[name.toLowerCase()],
    })
  }
  return { node, call }
}

const refusal = (status: number, error: string) => ({ status, body: { error } })

describe('REST API refusals', () => {
  it('routes and methods', async () => {
    const { call } = api()
    expect(await call('GET', '/nope')).toEqual(refusal(404, 'no route GET /nope'))
    expect(await call('POST', '/kv')).toEqual(refusal(405, 'POST is not allowed on /kv; use GET'))
    expect(await call('GET', '/join')).toEqual(refusal(405, 'GET is not allowed on /join; use POST'))
    expect(await call('PATCH', '/kv/a')).toEqual(refusal(405, 'PATCH is not allowed on /kv/:key'))
    expect(await call('GET', '/call/counter/x')).toEqual(
      refusal(405, 'GET is not allowed on /call/:capability/:id; use POST'),
    )
    expect(await call('GET', '/history?limit=0')).toEqual(refusal(400, 'limit must be a positive integer'))
  })

  it('keys and their options', async () => {
    const { node, call } = api()
    expect(await call('GET', '/kv/missing')).toEqual(refusal(404, 'no key "missing"'))
    expect(await call('DELETE', '/kv/missing')).toEqual(refusal(404, 'no key "missing"'))
    expect(await call('GET', '/kv/%E0%A4%A')).toEqual(refusal(400, 'key is not valid percent-encoding'))
    expect(await call('PUT', '/kv/a?ephemeral=maybe', { body: '1' })).toEqual(
      refusal(400, 'ephemeral must be true or false'),
    )
    expect(await call('PUT', '/kv/a?ttl=-1', { body: '1' })).toEqual(
      refusal(400, 'ttl must be a positive whole number of milliseconds'),
    )
    expect(node.data.toJSON()).toEqual({})
  })

  it('bodies: JSON only, within the limit, not empty, well-formed', async () => {
    const { node, call } = api({}, { maxBodyBytes: 64 })
    const needsJson = refusal(415, 'send the body as JSON, with "Content-Type: application/json"')
    expect(await call('PUT', '/kv/a', { body: '1', type: 'text/plain' })).toEqual(needsJson)
    expect(await call('PUT', '/kv/a', { type: null })).toEqual(needsJson)
    expect(await call('PUT', '/kv/a', { body: '1', length: 65 })).toEqual(refusal(413, 'body larger than 64 bytes'))
    expect(await call('PUT', '/kv/a', { body: `"${'x'.repeat(70)}"`, length: 0 })).toEqual(
      refusal(413, 'body larger than 64 bytes'),
    )
    expect(await call('PUT', '/kv/a')).toEqual(refusal(400, 'body is empty; send a JSON value'))
    expect(await call('PUT', '/kv/a', { body: '{nope' })).toEqual(refusal(400, 'body is not valid JSON'))
    expect(await call('POST', '/join', { body: '{}' })).toEqual(
      refusal(400, 'body must be { "urls": ["ws://host:port/mesh", ...] }'),
    )
    expect(node.data.toJSON()).toEqual({})
  })

  it('conflicts and calls', async () => {
    const { call } = api()
    const usage = 'body must be { "peer": "<node id>", "room": "default", "strategy": "merge" | "accept" }'
    expect(await call('POST', '/conflicts/resolve', { body: '{}' })).toEqual(refusal(400, usage))
    expect(await call('POST', '/conflicts/resolve', { body: '{"peer":"p","strategy":"merge"}' })).toEqual(
      refusal(404, 'no pending conflict with peer p in room "default"'),
    )
    expect(await call('POST', '/call/%E0/x')).toEqual(refusal(400, 'capability and id must be valid percent-encoding'))
    expect(await call('POST', '/call/counter/x')).toEqual({
      status: 503,
      body: { error: 'no live member declares the capability "counter"', code: 'no_owner' },
    })
  })

  it("calls to Mesh's own capabilities (mesh.*) need a grant that names them", async () => {
    // `wide` may call every capability ('*'); `leases` is granted the lease actor by name.
    const grants: Record<string, AuthResult> = {
      wide: { allow: true, call: ['*'] },
      all: { allow: true, call: true },
      leases: { allow: true, call: ['mesh.lease'] },
      counter: { allow: true, call: ['counter'] },
    }
    const { node, call } = api({ authenticate: ({ token }) => (token ? (grants[token] ?? false) : true) })
    for (const capability of ['mesh.lease', 'counter']) node.actor(capability, () => ({ call: () => 'answered' }))
    node.setCapabilities(['mesh.lease', 'counter'])
    const as = (token?: string) => ({
      body: '{}',
      headers: token ? { authorization: `Bearer ${token}` } : ({} as Record<string, string>),
    })
    const refused = refusal(403, 'calling "mesh.lease" is not allowed')
    for (const token of [undefined, 'wide', 'all', 'counter']) {
      expect(await call('POST', '/call/mesh.lease/job', as(token))).toEqual(refused)
      expect(await call('POST', '/call/mesh%2Elease/job', as(token))).toEqual(refused)
    }
    expect(await call('POST', '/call/mesh.lease/job', as('leases'))).toEqual({ status: 200, body: 'answered' })
    // Other capabilities as before, unless the grant's list leaves them out.
    expect(await call('POST', '/call/counter/x', as())).toEqual({ status: 200, body: 'answered' })
    expect(await call('POST', '/call/counter/x', as('counter'))).toEqual({ status: 200, body: 'answered' })
    expect(await call('POST', '/call/counter/x', as('leases'))).toEqual(
      refusal(403, 'calling "counter" is not allowed'),
    )
  })

  it('the control API: off without a token, then the token, the routes and the body', async () => {
    const off = api()
    expect(await off.call('GET', '/control')).toEqual(
      refusal(
        404,
        'the control API is disabled; set a control token to enable it (mesh serve --control-token, or the controlToken option)',
      ),
    )
    const { call } = api({}, { controlToken: 'a-control-token' })
    const bearer = { authorization: 'Bearer a-control-token' }
    expect(await call('GET', '/control')).toEqual(refusal(401, 'missing or wrong control token'))
    expect(await call('GET', '/control', { headers: { authorization: 'Bearer wrong' } })).toEqual(
      refusal(401, 'missing or wrong control token'),
    )
    expect(await call('GET', '/control', { headers: { 'x-mesh-token': 'a-control-token' } })).toEqual({
      status: 200,
      body: { cuts: [] },
    })
    expect(await call('POST', '/control/nope', { headers: bearer })).toEqual(
      refusal(404, 'control routes: GET /control, POST /control/cut, POST /control/heal'),
    )
    expect(await call('POST', '/control/cut', { body: '{}', headers: bearer })).toEqual(
      refusal(400, 'body must be { "peer": "<node id>" }'),
    )
  })

  it('authentication, origins, read-only clients and shutdown', async () => {
    const denied = api({ authenticate: () => false })
    expect(await denied.call('GET', '/kv')).toEqual(refusal(401, 'not authenticated'))
    const origins = api({ allowedOrigins: ['https://app.example'] })
    expect(await origins.call('GET', '/kv', { headers: { origin: 'https://evil.example' } })).toEqual(
      refusal(403, 'origin https://evil.example is not allowed'),
    )
    const reader = api({ authenticate: () => ({ allow: true, readOnly: true }) })
    expect(await reader.call('PUT', '/kv/a', { body: '1' })).toEqual(refusal(403, 'this client may only read'))
    await reader.node.close()
    expect(await reader.call('GET', '/health')).toEqual(refusal(503, 'node is shutting down'))
  })
})
