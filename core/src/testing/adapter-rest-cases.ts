import { expect, it } from 'vitest'
import type { MeshNode } from '../node/index.js'
import { restCall, uploadCall, type RestReply } from './clients.js'
import { waitUntil } from './wait.js'
import type { RunningApp } from './adapter-types.js'

/** The helpers of the conformance suite the REST cases use. */
export interface RestCaseContext {
  start: () => Promise<RunningApp>
  nodeSees: (node: MeshNode, key: string, value: unknown, what: string) => Promise<unknown>
  timeoutMs: number
}

const json = (value: unknown): RequestInit => ({
  method: 'PUT',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(value),
})

const jsonBody = (body: string): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body,
})

const isJsonError = (reply: RestReply): boolean =>
  reply.contentType.includes('application/json') &&
  typeof reply.body === 'object' &&
  reply.body !== null &&
  typeof (reply.body as { error?: unknown }).error === 'string'

/** The REST API cases of the adapter conformance suite (DESIGN.md §3). */
export const restCases = (ctx: RestCaseContext): void => {
  const { start, nodeSees, timeoutMs } = ctx
  it('REST: POST /call/:capability/:id runs the actor and maps call errors to 503/502/504', async () => {
    const app = await start()
    app.node.setCapabilities(['rest-counter'])
    app.node.actor('rest-counter', (id) => {
      let n = 0
      return {
        call: (payload) => {
          if (payload === 'fail') throw new Error('refused')
          if (payload === 'hang') return new Promise(() => {})
          return { id, n: ++n }
        },
      }
    })
    const call = (path: string, body = '1') => restCall(`${app.api}/call/${path}`, jsonBody(body))
    expect(await call('rest-counter/a%2Fb')).toMatchObject({ status: 200, body: { id: 'a/b', n: 1 } })
    expect(await call('rest-counter/a%2Fb')).toMatchObject({ status: 200, body: { id: 'a/b', n: 2 } })
    expect(await call('nobody/x')).toMatchObject({ status: 503, body: { code: 'no_owner' } })
    expect(await call('rest-counter/x', '"fail"')).toMatchObject({
      status: 502,
      body: { code: 'actor_failed', error: 'refused' },
    })
    expect(await call('rest-counter/y?timeoutMs=100', '"hang"')).toMatchObject({
      status: 504,
      body: { code: 'timeout' },
    })
    expect((await call('rest-counter/x', '{bad')).status).toBe(400)
    expect((await restCall(`${app.api}/call/rest-counter/x`)).status).toBe(405)
  })

  it('REST: health, status, members and conflicts describe this node', async () => {
    const app = await start()
    const health = await restCall(`${app.api}/health`)
    expect(health.status).toBe(200)
    expect(health.contentType).toContain('application/json')
    expect(health.body).toMatchObject({ status: 'ok', id: app.node.id, name: app.node.name })

    const status = await restCall(`${app.api}/status`)
    expect(status.status).toBe(200)
    expect(status.body).toMatchObject({ id: app.node.id, name: app.node.name })
    expect(typeof (status.body as { stateVector?: unknown }).stateVector).toBe('object')
    expect(Array.isArray((status.body as { peers?: unknown }).peers)).toBe(true)

    const members = await restCall(`${app.api}/members`)
    expect(members.status).toBe(200)
    expect(members.body).toEqual(
      expect.arrayContaining([expect.objectContaining({ id: app.node.id, role: 'node', state: 'alive' })]),
    )

    const conflicts = await restCall(`${app.api}/conflicts`)
    expect(conflicts).toMatchObject({ status: 200, body: [] })
    const resolve = await restCall(`${app.api}/conflicts/resolve`, {
      ...jsonBody(JSON.stringify({ peer: 'no-such-node', room: 'default', strategy: 'merge' })),
    })
    expect(resolve.status, 'resolving a conflict that is not pending').toBe(404)
  })

  it('REST: PUT, GET and DELETE keys, and GET the whole store', async () => {
    const app = await start()
    const values: Record<string, unknown> = {
      number: 42,
      text: 'plain string',
      nothing: null,
      flag: false,
      object: { nested: [1, { deep: true }] },
      'a/b c?': 'percent-encoded key',
    }
    for (const [key, value] of Object.entries(values)) {
      const put = await restCall(`${app.api}/kv/${encodeURIComponent(key)}`, json(value))
      expect(put.status, `PUT ${key}: ${JSON.stringify(put.body)}`).toBe(200)
      expect(app.node.get(key)).toEqual(value)
      const got = await restCall(`${app.api}/kv/${encodeURIComponent(key)}`)
      expect(got.status).toBe(200)
      expect(got.body).toEqual(value)
    }
    const all = await restCall(`${app.api}/kv`)
    expect(all.status).toBe(200)
    expect(all.body).toEqual(values)

    const removed = await restCall(`${app.api}/kv/number`, { method: 'DELETE' })
    expect(removed.status).toBe(200)
    expect(removed.body).toBe(42)
    expect(app.node.has('number')).toBe(false)
    expect((await restCall(`${app.api}/kv/number`)).status).toBe(404)
    expect((await restCall(`${app.api}/kv/number`, { method: 'DELETE' })).status).toBe(404)

    const ephemeral = await restCall(`${app.api}/kv/session?ephemeral=true`, json({ user: 'u1' }))
    expect(ephemeral.status, `PUT ?ephemeral=true: ${JSON.stringify(ephemeral.body)}`).toBe(200)
    expect((await restCall(`${app.api}/kv/session`)).body).toEqual({ user: 'u1' })
    const ttl = await restCall(`${app.api}/kv/short-lived?ttl=50`, json('soon gone'))
    expect(ttl.status, `PUT ?ttl=50: ${JSON.stringify(ttl.body)}`).toBe(200)
    await waitUntil(
      'a key written with ?ttl=50 to expire',
      async () => {
        return (await restCall(`${app.api}/kv/short-lived`)).status === 404
      },
      { timeoutMs },
    )
  })

  it('REST: bad input gets a 4xx JSON error and changes nothing', async () => {
    const app = await start()
    await app.node.put('kept', 'original')
    const before = JSON.stringify(app.node.data.toJSON())
    const stateBefore = JSON.stringify(app.node.status().stateVector)
    const bad: Array<[string, string, RequestInit, number]> = [
      ['bad JSON', '/kv/kept', { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{"a":' }, 400],
      ['empty body', '/kv/kept', { ...jsonBody(''), method: 'PUT' }, 400],
      ['unknown key', '/kv/missing', {}, 404],
      ['DELETE unknown key', '/kv/missing', { method: 'DELETE' }, 404],
      ['unknown route', '/nope', {}, 404],
      ['unknown nested route', '/kv-nope/x', {}, 404],
      ['wrong method', '/kv', jsonBody('{}'), 405],
      ['join without urls', '/join', jsonBody('{"urls":"ws://x"}'), 400],
      ['join with a non-ws URL', '/join', jsonBody('{"urls":["http://127.0.0.1:1/mesh"]}'), 400],
      // Bodies any web page may send cross-site without a CORS preflight (issue 12).
      ['a JSON body sent as text/plain', '/kv/kept', { method: 'PUT', body: '"x"' }, 415],
      ['join as text/plain', '/join', { method: 'POST', body: '{"urls":["ws://127.0.0.1:9/mesh"]}' }, 415],
      [
        'join as a form',
        '/join',
        { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'urls=x' },
        415,
      ],
      ['DELETE with a text body', '/kv/kept', { method: 'DELETE', body: 'x' }, 415],
    ]
    for (const [what, path, init, status] of bad) {
      const reply = await restCall(`${app.api}${path}`, init)
      expect(reply.status, `${what}: ${JSON.stringify(reply.body)}`).toBe(status)
      expect(isJsonError(reply), `${what} answers JSON { error }; got ${JSON.stringify(reply.body)}`).toBe(true)
    }
    expect(app.node.status().peers, 'a refused join dials nothing').toEqual([])
    // Over the default 1 MiB limit, announced by content-length or not: refused without buffering it all.
    const oversized = JSON.stringify('x'.repeat(2 * 1024 * 1024))
    for (const chunked of [false, true]) {
      const what = `oversized body (${chunked ? 'chunked' : 'with content-length'})`
      const reply = await uploadCall(`${app.api}/kv/kept`, { method: 'PUT', body: oversized, chunked, timeoutMs })
      expect(reply.status, `${what}: ${JSON.stringify(reply.body)}`).toBe(413)
      expect(isJsonError(reply), `${what} answers JSON { error }; got ${JSON.stringify(reply.body)}`).toBe(true)
    }
    // `fetch` reads the answer only once it has sent the whole body: a node that closes on the
    // client mid-upload makes it fail (EPIPE) instead of reading the 413 (issue 12).
    const big = JSON.stringify('x'.repeat(4 * 1024 * 1024))
    const uploads = await Promise.all(
      Array.from({ length: 4 }, () =>
        restCall(`${app.api}/kv/kept`, { ...jsonBody(big), method: 'PUT' }).then(
          (reply) => reply.status,
          (e: unknown) => `${String(e)}: ${String((e as { cause?: unknown }).cause)}`,
        ),
      ),
    )
    expect(uploads, 'fetch reads the 413 of every oversized upload').toEqual([413, 413, 413, 413])
    // The query string must reach the handler: an invalid ttl is refused, never stored.
    const ttl = await restCall(`${app.api}/kv/ttl-key?ttl=not-a-number`, json('v'))
    expect(ttl.status, `PUT ?ttl=not-a-number: ${JSON.stringify(ttl.body)}`).toBeGreaterThanOrEqual(400)
    expect(isJsonError(ttl)).toBe(true)

    expect(JSON.stringify(app.node.data.toJSON())).toBe(before)
    expect(JSON.stringify(app.node.status().stateVector)).toBe(stateBefore)
    expect((await restCall(`${app.api}/health`)).status).toBe(200)
  })

  it('REST: POST join connects this node to another and they converge', async () => {
    const a = await start()
    const b = await start()
    await b.node.put('on-b', 'b')
    const joined = await restCall(`${a.api}/join`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ urls: [b.peerUrl] }),
    })
    expect(joined.status, JSON.stringify(joined.body)).toBe(200)
    await nodeSees(a.node, 'on-b', 'b', 'node a')
    const put = await restCall(`${a.api}/kv/on-a`, json('a'))
    expect(put.status).toBe(200)
    await waitUntil('node b to serve on-a over REST', async () => (await restCall(`${b.api}/kv/on-a`)).body === 'a', {
      timeoutMs,
    })
  })
}
