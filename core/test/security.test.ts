import { CloseCode, createRestHandler, type AuthRequest } from '@mesh/core'
import { nodeEvents, waitUntil } from '@mesh/core/testing'
import * as encoding from 'lib0/encoding'
import { encodeAwarenessUpdate, Awareness } from 'y-protocols/awareness'
import WebSocket from 'ws'
import * as Y from 'yjs'
import { YKeyValue } from 'y-utility/y-keyvalue'
import { afterEach, describe, expect, it } from 'vitest'
import { openSocket, serveNode, type ServedNode } from './helpers.js'

const served: ServedNode[] = []
afterEach(async () => {
  for (const s of served.splice(0)) await s.close()
})
const start = async (options: Parameters<typeof serveNode>[0]) => {
  const s = await serveNode(options)
  served.push(s)
  return s
}
const connect = (url: string, options: WebSocket.ClientOptions = {}, protocols?: string[]) =>
  new Promise<{ ws: WebSocket; closed: Promise<{ code: number; reason: string }>; messages: Buffer[] }>(
    (resolve, reject) => {
      const ws = new WebSocket(url, protocols, options)
      const messages: Buffer[] = []
      ws.on('message', (d: Buffer) => messages.push(d))
      const closed = new Promise<{ code: number; reason: string }>((r) =>
        ws.on('close', (code, reason) => r({ code, reason: reason.toString() })),
      )
      ws.once('open', () => resolve({ ws, closed, messages }))
      ws.once('error', reject)
    },
  )
const update = (write: (doc: Y.Doc) => void): Buffer => {
  const doc = new Y.Doc()
  write(doc)
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, 0)
  encoding.writeVarUint(e, 2)
  encoding.writeVarUint8Array(e, Y.encodeStateAsUpdate(doc))
  return Buffer.from(encoding.toUint8Array(e))
}
const awarenessFrame = (clientId: number, state: Record<string, unknown> | null, clock = 1): Buffer => {
  const doc = new Y.Doc()
  doc.clientID = clientId
  const awareness = new Awareness(doc)
  awareness.setLocalState(state)
  const meta = awareness.meta.get(clientId)
  if (meta) meta.clock = clock
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, 1)
  encoding.writeVarUint8Array(e, encodeAwarenessUpdate(awareness, [clientId]))
  awareness.destroy()
  return Buffer.from(encoding.toUint8Array(e))
}

describe('authenticate hook for light peers', () => {
  const seen: AuthRequest[] = []
  const verdict = (req: AuthRequest) => {
    seen.push(req)
    if (req.token === 'writer') return true
    if (req.token === 'reader') return { allow: true as const, readOnly: true }
    if (req.token === 'board-only') return { allow: true as const, rooms: ['board'] }
    return { allow: false as const, reason: 'bad token' }
  }
  const authenticate = (req: AuthRequest) => Promise.resolve(verdict(req))

  it('takes the token from query, header or subprotocol, and refuses the rest before creating any room', async () => {
    const a = await start({ name: 'a', authenticate })
    const viaQuery = await connect(`${a.url}/default?token=writer`)
    const viaHeader = await connect(`${a.url}/default`, { headers: { authorization: 'Bearer writer' } })
    const viaProtocol = await connect(`${a.url}/default`, {}, ['mesh-token.writer'])
    for (const c of [viaQuery, viaHeader, viaProtocol]) await waitUntil('sync step 1', () => c.messages.length > 0)
    const denied = await connect(`${a.url}/private-room?token=nope`)
    expect(await denied.closed).toEqual({ code: CloseCode.unauthorized, reason: 'bad token' })
    expect(a.node.rooms()).not.toContain('private-room')
    const wrongRoom = await connect(`${a.url}/default?token=board-only`)
    expect((await wrongRoom.closed).code).toBe(CloseCode.forbidden)
    expect(seen.every((r) => r.kind === 'light')).toBe(true)
    for (const c of [viaQuery, viaHeader, viaProtocol]) c.ws.close()
  })

  it('a read-only peer is told no, and its write reaches nobody', async () => {
    const a = await start({ name: 'a', authenticate })
    const reader = await connect(`${a.url}/default?token=reader`)
    reader.ws.send(update((doc) => new YKeyValue<unknown>(doc.getArray('kv')).set('hack', 1)))
    await waitUntil('permission denied message', () => reader.messages.some((m) => m[0] === 2))
    expect(a.node.has('hack')).toBe(false)
    reader.ws.close()
  })

  it('frames sent while authentication runs are held, then applied in order once allowed', async () => {
    let release: (value: boolean) => void = () => {}
    const a = await start({ name: 'a', authenticate: () => new Promise<boolean>((r) => (release = r)) })
    const client = await connect(`${a.url}/later`)
    client.ws.send(update((doc) => new YKeyValue<unknown>(doc.getArray('kv')).set('early', 1)))
    // A pong proves the server read everything sent before the ping.
    await new Promise((resolve) => {
      client.ws.once('pong', resolve)
      client.ws.ping()
    })
    expect(a.node.rooms()).toEqual(['default'])
    release(true)
    await waitUntil('held write applied', () => a.node.store('later').get('early') === 1, {
      subscribe: nodeEvents(a.node),
    })
    client.ws.close()
  })
})

describe('inspector feed behind authenticate', () => {
  it('needs the hook to allow kind inspect', async () => {
    const a = await start({ name: 'a', authenticate: ({ kind, token }) => kind === 'inspect' && token === 'ops' })
    const denied = await connect(`${a.url}/_inspect`)
    expect((await denied.closed).code).toBe(CloseCode.unauthorized)
    const allowed = await connect(`${a.url}/_inspect?token=ops`)
    await waitUntil('hello from the feed', () => allowed.messages.length > 0)
    expect((JSON.parse(allowed.messages[0]!.toString()) as { type?: unknown }).type).toBe('hello')
    allowed.ws.close()
  })
})

describe('origin allow-list', () => {
  it('refuses browser origins not on the list; non-browser clients have no Origin', async () => {
    const a = await start({ name: 'a', allowedOrigins: ['https://app.example'] })
    const evil = await connect(`${a.url}/default`, { headers: { origin: 'https://evil.example' } })
    expect((await evil.closed).code).toBe(CloseCode.forbidden)
    const good = await connect(`${a.url}/default`, { headers: { origin: 'https://app.example' } })
    const script = await connect(`${a.url}/default`)
    await waitUntil('both served', () => good.messages.length > 0 && script.messages.length > 0)
    good.ws.close()
    script.ws.close()
  })
})

describe('REST authentication', () => {
  it('401 without credentials, 403 for a reader that writes, health stays open', async () => {
    const a = await start({
      name: 'a',
      authenticate: ({ token }) =>
        token === 'admin' ? true : token === 'reader' ? { allow: true, readOnly: true } : false,
    })
    const handle = createRestHandler(a.node)
    const call = (method: string, path: string, token?: string) =>
      handle({
        method,
        path,
        query: new URLSearchParams(),
        body: () => Promise.resolve('1'),
        header: (name) =>
          name === 'authorization' && token
            ? `Bearer ${token}`
            : name === 'content-type'
              ? 'application/json'
              : undefined,
      })
    expect((await call('GET', '/kv')).status).toBe(401)
    expect((await call('GET', '/health')).status).toBe(200)
    expect((await call('GET', '/kv', 'reader')).status).toBe(200)
    expect((await call('PUT', '/kv/x', 'reader')).status).toBe(403)
    expect((await call('PUT', '/kv/x', 'admin')).status).toBe(200)
    expect(a.node.get('x')).toBe(1)
  })
})

describe('awareness belongs to its client', () => {
  it('a socket cannot overwrite or remove another client state', async () => {
    const a = await start({ name: 'a' })
    const b = await start({ name: 'b' })
    await b.node.join([a.url])
    const alice = await connect(`${a.url}/default`)
    alice.ws.send(awarenessFrame(111, { name: 'alice' }))
    await waitUntil('alice present on b', () => b.node.members().some((m) => m.name === 'alice'), {
      subscribe: nodeEvents(b.node),
    })
    const mallory = await connect(`${a.url}/default`)
    mallory.ws.send(awarenessFrame(111, { name: 'mallory' }, 5))
    mallory.ws.send(awarenessFrame(111, null, 6))
    mallory.ws.send(awarenessFrame(222, { name: 'mallory' }))
    await waitUntil('mallory own state relayed', () => b.node.members().some((m) => m.name === 'mallory'), {
      subscribe: nodeEvents(b.node),
    })
    expect(
      b.node
        .members()
        .filter((m) => m.id === 'light:111')
        .map((m) => m.name),
    ).toEqual(['alice'])
    alice.ws.close()
    mallory.ws.close()
    await waitUntil('both gone after close', () => !b.node.members().some((m) => m.role === 'light'), {
      subscribe: nodeEvents(b.node),
    })
  })
})

describe('limits', () => {
  it('too many messages per second: 4429', async () => {
    const a = await start({ name: 'a', limits: { lightMessagesPerSecond: 5 } })
    const { ws, closed } = await openSocket(`${a.url}/default`)
    for (let i = 0; i < 50; i++) ws.send(awarenessFrame(900, { i }, i + 1))
    expect((await closed).code).toBe(CloseCode.rateLimited)
  })

  it('too many connections: 4429', async () => {
    const a = await start({ name: 'a', limits: { maxConnections: 2 } })
    const one = await openSocket(`${a.url}/default`)
    const two = await openSocket(`${a.url}/default`)
    const three = await openSocket(`${a.url}/default`)
    expect((await three.closed).code).toBe(CloseCode.rateLimited)
    one.ws.close()
    two.ws.close()
  })

  it('too many rooms: 4429', async () => {
    const a = await start({ name: 'a', limits: { maxRooms: 2 } })
    const ok = await openSocket(`${a.url}/second`)
    const over = await openSocket(`${a.url}/third`)
    expect((await over.closed).code).toBe(CloseCode.rateLimited)
    expect(a.node.rooms()).toEqual(['default', 'second'])
    ok.ws.close()
  })

  it('a document that would grow past its limit: 4413, nothing applied', async () => {
    const a = await start({ name: 'a', limits: { maxDocumentBytes: 4096 } })
    const { ws, closed } = await openSocket(`${a.url}/default`)
    ws.send(update((doc) => new YKeyValue<unknown>(doc.getArray('kv')).set('big', 'x'.repeat(10_000))))
    expect((await closed).code).toBe(CloseCode.tooLarge)
    expect(a.node.has('big')).toBe(false)
  })
})

describe('metrics', () => {
  it('renders Prometheus text with peers, traffic and rejections by reason', async () => {
    const a = await start({ name: 'a', limits: { lightMessagesPerSecond: 2 } })
    const b = await start({ name: 'b' })
    await b.node.join([a.url])
    const { ws, closed } = await openSocket(`${a.url}/default`)
    for (let i = 0; i < 20; i++) ws.send(awarenessFrame(5, { i }, i + 1))
    await closed
    const res = await createRestHandler(a.node)({
      method: 'GET',
      path: '/metrics',
      query: new URLSearchParams(),
      body: () => Promise.resolve(''),
    })
    expect(res.contentType).toMatch(/^text\/plain/)
    const text = String(res.body)
    expect(text).toMatch(/^mesh_peers 1$/m)
    expect(text).toMatch(/^mesh_rejected_total\{reason="rate_limited"\} 1$/m)
    expect(text).toMatch(/^mesh_peer_frames_in_total \d+$/m)
    expect(text).toMatch(/^mesh_heap_used_bytes \d+$/m)
    expect(text).toMatch(/^mesh_members\{role="node",state="alive"\} 2$/m)
  })
})
