import { MeshClient, MeshClientError } from '@mesh/client'
import { DEFAULT_ROOM, roomNameProblem } from '@mesh/core/browser'
import { waitUntil, withTimeout } from '@mesh/core/testing'
import { afterEach, describe, expect, it } from 'vitest'
import WebSocket, { WebSocketServer } from 'ws'
import { WebsocketProvider } from 'y-websocket'
import * as Y from 'yjs'
import { YKeyValue } from 'y-utility/y-keyvalue'
import { deadPort, nodeClient, serveNode, wakeOn, type ServedNode } from './helpers.js'

const served: ServedNode[] = []
const clients: MeshClient[] = []
const cleanups: Array<() => void | Promise<void>> = []
afterEach(async () => {
  for (const c of clients.splice(0)) c.close()
  for (const fn of cleanups.splice(0)) await fn()
  for (const s of served.splice(0)) await s.close()
})

const node = async (options: Parameters<typeof serveNode>[0] = {}) => {
  const s = await serveNode(options)
  served.push(s)
  return s
}

const client = (options: Parameters<typeof nodeClient>[0]) => {
  const c = nodeClient(options)
  clients.push(c)
  return c
}

/** Two nodes linked to each other. */
const pair = async (options: { readOnlyB?: boolean } = {}) => {
  const a = await node({ name: 'a' })
  const b = await node({ name: 'b', readOnly: options.readOnlyB })
  await b.node.join([a.url])
  return { a, b }
}

describe('MeshClient against real nodes', () => {
  it('syncs, and put / put(object) / pop / get / has / toJSON mirror the node store', async () => {
    const a = await node({ name: 'a' })
    await a.node.put('before', { x: 1 })
    const c = client({ urls: [a.url], name: 'ada' })
    expect(c.status).toBe('connecting')
    await c.synced
    expect(c.status).toBe('synced')
    expect(c.url).toBe(a.url)
    expect(c.get('before')).toEqual({ x: 1 })
    expect(c.has('before')).toBe(true)

    const changes: Array<{ keys: string[]; local: boolean }> = []
    c.on('change', (e) => changes.push(e))
    await c.put('one', 1)
    expect(changes.at(-1)).toEqual({ keys: ['one'], local: true })
    await waitUntil('put reaches the node', () => a.node.get('one') === 1, { subscribe: wakeOn(a.node) })

    await c.put({ two: 2, three: [3] })
    await waitUntil('put(object) reaches the node', () => a.node.has('two') && a.node.has('three'), {
      subscribe: wakeOn(a.node),
    })
    const commits = a.node.history({ room: 'default' }).filter((commit) => commit.keys.includes('two'))
    expect(commits).toHaveLength(1)
    expect(commits[0]?.keys.sort()).toEqual(['three', 'two'])

    await a.node.put('fromNode', 'hi')
    await waitUntil('node write reaches the client', () => c.get('fromNode') === 'hi', { subscribe: wakeOn(c) })
    expect(changes.at(-1)).toEqual({ keys: ['fromNode'], local: false })

    expect(await c.pop('one')).toBe(1)
    expect(await c.pop('missing')).toBeUndefined()
    await waitUntil('pop reaches the node', () => !a.node.has('one'), { subscribe: wakeOn(a.node) })
    expect(c.toJSON()).toEqual(a.node.data.toJSON())
    expect(c.keys().sort()).toEqual(['before', 'fromNode', 'three', 'two'])
    expect(c.size).toBe(4)
  })

  it('rejects bad input and writes nothing', async () => {
    const a = await node()
    const c = client({ urls: a.url })
    await c.synced
    await expect(c.put('', 1)).rejects.toMatchObject({ code: 'bad_request' })
    // @ts-expect-error put takes JSON values only; undefined is what pop is for
    await expect(c.put('k', undefined)).rejects.toMatchObject({ code: 'bad_request' })
    // @ts-expect-error a Date is not a JSON value (it compiled with put(key, unknown))
    await expect(c.put('k', new Date())).rejects.toMatchObject({ code: 'bad_request' })
    // @ts-expect-error nor is a function
    await expect(c.put('k', () => 1)).rejects.toMatchObject({ code: 'bad_request' })
    // @ts-expect-error nor is a Map
    await expect(c.put({ m: new Map() })).rejects.toMatchObject({ code: 'bad_request' })
    await expect(c.put({ ok: 1, bad: Number.NaN })).rejects.toMatchObject({ code: 'bad_request' })
    expect(c.size).toBe(0)
    expect(() => nodeClient({ urls: [] })).toThrow(/at least one node URL/)
    expect(() => nodeClient({ urls: 'ftp://x' })).toThrow(MeshClientError)
    expect(() => nodeClient({ urls: a.url, room: 'api' })).toThrow(/not a valid room/)
  })

  it('refuses the rooms a node refuses before opening any socket: _inspect, api, inspector (issue 13)', () => {
    let opened = 0
    class CountingSocket extends WebSocket {
      constructor(url: string | URL, protocols?: string | string[]) {
        super(url, protocols)
        opened++
      }
    }
    const refused = (room: string) => {
      try {
        new MeshClient({ urls: 'ws://127.0.0.1:1/mesh', room, WebSocket: CountingSocket })
      } catch (error) {
        return error
      }
      return undefined
    }
    const inspect = refused('_inspect')
    expect(inspect).toBeInstanceOf(MeshClientError)
    expect(inspect).toMatchObject({ code: 'bad_option' })
    expect((inspect as Error).message).toMatch(
      /"_inspect" is not a valid room name: names starting with "_" are reserved/,
    )
    expect(refused('_anything')).toMatchObject({ code: 'bad_option' })
    expect((refused('api') as Error).message).toMatch(/"api" is reserved/)
    expect((refused('inspector') as Error).message).toMatch(/"inspector" is reserved/)
    expect(refused('a/b')).toMatchObject({ code: 'bad_option' })
    expect(refused('x'.repeat(129))).toMatchObject({ code: 'bad_option' })
    expect(opened).toBe(0)
    // The same rules as the node's: what one refuses, the other refuses too.
    expect(roomNameProblem('_inspect')).toBeDefined()
    expect(DEFAULT_ROOM).toBe('default')
  })

  it('stores an object with a "constructor" key like any other, and it round-trips through a node (issue 13)', async () => {
    const { a, b } = await pair()
    const writer = client({ urls: [a.url] })
    const reader = client({ urls: [b.url] })
    await Promise.all([writer.synced, reader.synced])
    await writer.put('top', { constructor: 1 })
    await writer.put({ constructor: { nested: { constructor: 'x' } } })
    expect(writer.get('top')).toEqual({ constructor: 1 })
    await waitUntil('the node to hold both writes', () => a.node.has('top') && a.node.has('constructor'), {
      subscribe: wakeOn(a.node),
    })
    expect(a.node.get('top')).toEqual({ constructor: 1 })
    expect(a.node.get('constructor')).toEqual({ nested: { constructor: 'x' } })
    await b.node.put('back', { constructor: 2 })
    await waitUntil(
      'the other client to read all three',
      () => reader.has('top') && reader.has('back') && reader.has('constructor'),
      {
        subscribe: wakeOn(reader),
      },
    )
    expect(reader.toJSON()).toEqual({
      top: { constructor: 1 },
      constructor: { nested: { constructor: 'x' } },
      back: { constructor: 2 },
    })
    expect(Object.getPrototypeOf(reader.get('top'))).toBe(Object.prototype)
  })

  it('fails over to the next node when its node stops, and nothing is duplicated', async () => {
    const { a, b } = await pair()
    const c = client({ urls: [a.url, b.url] })
    await c.synced
    expect(c.url).toBe(a.url)
    c.doc.getArray<number>('log').push([1, 2, 3])
    await c.put('k', 'v1')
    await waitUntil('write relayed to b', () => b.node.get('k') === 'v1', { subscribe: wakeOn(b.node) })

    const statuses: string[] = []
    c.on('status', (e) => statuses.push(e.status))
    await a.close()
    await waitUntil('client synced on b', () => c.status === 'synced' && c.url === b.url, { subscribe: wakeOn(c) })
    expect(statuses).toContain('offline')

    await c.put('k', 'v2')
    await waitUntil('write after failover reaches b', () => b.node.get('k') === 'v2', { subscribe: wakeOn(b.node) })
    await b.node.put('fromB', true)
    await waitUntil('b write reaches the client', () => c.get('fromB') === true, { subscribe: wakeOn(c) })
    // The client resent its state on reconnect; Yjs must not have applied anything twice.
    expect(c.doc.getArray('log').toArray()).toEqual([1, 2, 3])
    expect(b.node.room('default').doc.getArray('log').toArray()).toEqual([1, 2, 3])
  })

  it('skips a URL that refuses connections', async () => {
    const a = await node()
    const dead = `ws://127.0.0.1:${await deadPort()}/mesh`
    const c = client({ urls: [dead, a.url] })
    await c.synced
    expect(c.url).toBe(a.url)
  })

  it('keeps edits made offline (disconnect) and merges them on reconnect', async () => {
    const { a, b } = await pair()
    const c = client({ urls: [a.url] })
    await c.synced
    await c.put({ shared: 'start', untouched: 1 })
    await waitUntil('initial write on b', () => b.node.get('shared') === 'start', { subscribe: wakeOn(b.node) })

    c.disconnect()
    expect(c.status).toBe('offline')
    await c.put('offline-1', 'a')
    await c.put({ 'offline-2': 'b', shared: 'client' })
    await c.pop('untouched')
    await b.node.put('while-away', 'x')
    await b.node.put('shared', 'node')

    c.connect()
    await waitUntil('client synced again', () => c.status === 'synced', { subscribe: wakeOn(c) })
    for (const s of [a, b]) {
      await waitUntil(
        `offline edits merged on ${s.node.name}`,
        () =>
          s.node.get('offline-1') === 'a' &&
          s.node.get('offline-2') === 'b' &&
          !s.node.has('untouched') &&
          c.get('while-away') === 'x' &&
          s.node.get('shared') === c.get('shared'),
        { subscribe: wakeOn(s.node, c) },
      )
    }
    expect(a.node.data.toJSON()).toEqual(c.toJSON())
    expect(b.node.data.toJSON()).toEqual(c.toJSON())
  })

  it('keeps edits made while its only node is down and merges them when it comes back', async () => {
    const b = await node({ name: 'b' })
    let a = await node({ name: 'a' })
    await a.node.join([b.url])
    const c = client({ urls: [a.url] })
    await c.synced
    const port = a.port
    await a.close()
    await waitUntil('client offline', () => c.status === 'offline', { subscribe: wakeOn(c) })
    await c.put('written-offline', 42)
    await b.node.put('meanwhile', 'on b')

    a = await node({ name: 'a-again', port })
    await a.node.join([b.url])
    await waitUntil('client back on a', () => c.status === 'synced', { subscribe: wakeOn(c) })
    await waitUntil(
      'offline edit reached b through a, and b edit reached the client',
      () => b.node.get('written-offline') === 42 && c.get('meanwhile') === 'on b',
      { subscribe: wakeOn(b.node, c) },
    )
  })

  it('a read-only client is told so, its writes are refused everywhere and rolled back', async () => {
    const { a, b } = await pair({ readOnlyB: true })
    await a.node.put('flag', 'on')
    // Written offline, before the client knows the node will refuse it.
    const c = client({ urls: [b.url], connect: false })
    await c.put('sneaky', 'offline')
    const reasons: string[] = []
    c.on('readonly', (e) => reasons.push(e.reason))
    c.connect()
    await waitUntil('client read-only and synced', () => c.readOnly && c.status === 'synced', { subscribe: wakeOn(c) })
    expect(reasons).toHaveLength(1)
    await waitUntil('refused offline write rolled back', () => !c.has('sneaky'), { subscribe: wakeOn(c) })
    expect(c.get('flag')).toBe('on')

    await expect(c.put('x', 1)).rejects.toMatchObject({ code: 'read_only' })
    await expect(c.pop('flag')).rejects.toMatchObject({ code: 'read_only' })
    // Bypass the API: the node must refuse the raw update too.
    c.doc.getArray('kv').push([{ key: 'forced', val: true }])
    await waitUntil('forced write rolled back', () => !c.has('forced'), { subscribe: wakeOn(c) })
    // Ordered links: once this later write is everywhere, a relayed refused write would be too.
    await b.node.put('sentinel', 1)
    await waitUntil('sentinel everywhere', () => a.node.get('sentinel') === 1 && c.get('sentinel') === 1, {
      subscribe: wakeOn(a.node, c),
    })
    for (const s of [a, b]) {
      expect(s.node.has('sneaky')).toBe(false)
      expect(s.node.has('forced')).toBe(false)
    }
    expect(c.toJSON()).toEqual(b.node.data.toJSON())
  })

  it('presence: each client lists the other, both nodes list both, and it goes with close()', async () => {
    const { a, b } = await pair()
    const ada = client({ urls: [a.url], name: 'Ada', meta: { color: 'red' } })
    const bob = client({ urls: [b.url], name: 'Bob' })
    await Promise.all([ada.synced, bob.synced])
    await waitUntil(
      'each client sees the other',
      () => ada.presence.others().some((p) => p.name === 'Bob') && bob.presence.others().some((p) => p.name === 'Ada'),
      { subscribe: wakeOn(ada, bob) },
    )
    const seen = bob.presence.others().find((p) => p.name === 'Ada')
    expect(seen).toMatchObject({ id: ada.presence.id, self: false, state: { name: 'Ada', color: 'red' } })
    expect(ada.presence.list()[0]).toMatchObject({ id: ada.presence.id, self: true, name: 'Ada' })

    for (const s of [a, b]) {
      await waitUntil(`both clients in members() of ${s.node.name}`, () => {
        const lights = s.node.members().filter((m) => m.role === 'light')
        return lights.some((m) => m.id === ada.presence.id && m.name === 'Ada') && lights.some((m) => m.name === 'Bob')
      })
    }

    ada.presence.set({ name: 'Ada L.' })
    await waitUntil('renamed presence on bob', () => bob.presence.others().some((p) => p.name === 'Ada L.'), {
      subscribe: wakeOn(bob),
    })

    const removed: string[] = []
    bob.on('presence', (e) => removed.push(...e.removed))
    ada.close()
    await waitUntil('ada gone from bob', () => removed.includes(ada.presence.id), { subscribe: wakeOn(bob) })
    for (const s of [a, b]) {
      await waitUntil(
        `ada gone from members() of ${s.node.name}`,
        () => !s.node.members().some((m) => m.id === ada.presence.id),
      )
    }
  })

  it('sends its token as a subprotocol, so an authenticate hook can let it in or make it read-only', async () => {
    const a = await node({
      authenticate: ({ token }) =>
        token === 'writer' ? true : token === 'reader' ? { allow: true, readOnly: true } : { allow: false },
    })
    const writer = client({ urls: a.url, token: 'writer' })
    await writer.synced
    await writer.put('k', 1)
    await waitUntil('writer write on the node', () => a.node.get('k') === 1, { subscribe: wakeOn(a.node) })
    const reader = client({ urls: a.url, token: 'reader' })
    await reader.synced
    reader.doc.getArray('kv').push([{ key: 'k', val: 2 }])
    await waitUntil('reader refused and rolled back', () => reader.readOnly && reader.get('k') === 1, {
      subscribe: wakeOn(reader),
    })
    const stranger = client({ urls: a.url })
    const error = await new Promise<MeshClientError>((resolve) => stranger.once('error', resolve))
    expect(error.code).toBe('rejected')
    expect(a.node.get('k')).toBe(1)
    expect(() => nodeClient({ urls: a.url, token: 'a b' })).toThrow(/subprotocol/)
  })

  it('presence comes back at once after a reconnect, even where it was seen leaving', async () => {
    const { a, b } = await pair()
    const ada = client({ urls: [a.url], name: 'Ada' })
    const bob = client({ urls: [b.url], name: 'Bob' })
    await Promise.all([ada.synced, bob.synced])
    const adaHere = () => bob.presence.others().some((p) => p.id === ada.presence.id)
    await waitUntil('ada on bob', adaHere, { subscribe: wakeOn(bob) })
    ada.disconnect()
    await waitUntil('ada gone from bob', () => !adaHere(), { subscribe: wakeOn(bob) })
    await waitUntil('ada gone from a', () => !a.node.members().some((m) => m.id === ada.presence.id))
    ada.connect()
    await waitUntil('ada back on bob', adaHere, { subscribe: wakeOn(bob) })
    expect(a.node.members().some((m) => m.id === ada.presence.id)).toBe(true)
  })

  it('interoperates with the real y-websocket WebsocketProvider in the same room', async () => {
    const { a, b } = await pair()
    const doc = new Y.Doc()
    // disableBc: otherwise providers in one process talk over BroadcastChannel and skip the server.
    const provider = new WebsocketProvider(a.url, 'default', doc, {
      WebSocketPolyfill: WebSocket as never,
      disableBc: true,
    })
    cleanups.push(() => provider.destroy())
    const c = client({ urls: [b.url], name: 'mesh-client' })
    await Promise.all([
      c.synced,
      new Promise<void>((resolve) => (provider.synced ? resolve() : provider.once('sync', () => resolve()))),
    ])
    const kv = new YKeyValue<unknown>(doc.getArray('kv'))
    kv.set('fromProvider', { via: 'y-websocket' })
    await waitUntil('provider write on the client', () => c.get('fromProvider') !== undefined, { subscribe: wakeOn(c) })
    expect(c.get('fromProvider')).toEqual({ via: 'y-websocket' })
    await c.put('fromClient', [1, 2])
    await waitUntil('client write on the provider', () => JSON.stringify(kv.get('fromClient')) === '[1,2]', {
      subscribe: wakeOn(c),
    })

    provider.awareness.setLocalStateField('user', { name: 'yws-user' })
    await waitUntil('provider presence on the client', () => c.presence.others().some((p) => p.name === 'yws-user'), {
      subscribe: wakeOn(c),
    })
    await waitUntil('client presence on the provider', () =>
      [...provider.awareness.getStates().values()].some((s) => s.name === 'mesh-client'),
    )
  })
})

describe('MeshClient against misbehaving servers', () => {
  const rawServer = async (onConnection: (ws: WebSocket) => void) => {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' })
    await new Promise<void>((resolve) => wss.once('listening', () => resolve()))
    wss.on('connection', onConnection)
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          for (const ws of wss.clients) ws.terminate()
          wss.close(() => resolve())
        }),
    )
    const { port } = wss.address() as { port: number }
    return `ws://127.0.0.1:${port}/mesh`
  }

  it('reports a malformed message and reconnects', async () => {
    let connections = 0
    const url = await rawServer((ws) => {
      connections++
      ws.send(new Uint8Array([0, 1, 200, 1, 2]))
    })
    const c = client({ urls: url })
    const errors: MeshClientError[] = []
    c.on('error', (e) => errors.push(e))
    await waitUntil('an error and a second connection', () => connections >= 2 && errors.length >= 1, {
      subscribe: wakeOn(c),
    })
    expect(errors[0]?.code).toBe('bad_message')
    expect(c.size).toBe(0)
  })

  it('stops retrying after a 44xx close and says why', async () => {
    let connections = 0
    const url = await rawServer((ws) => {
      connections++
      ws.close(4403, 'forbidden')
    })
    const c = client({ urls: url })
    const statuses: Array<{ status: string; retryInMs?: number }> = []
    c.on('status', (e) => statuses.push(e))
    const error = await new Promise<MeshClientError>((resolve) => c.once('error', resolve))
    expect(error.code).toBe('rejected')
    expect(error.message).toMatch(/4403.*forbidden/)
    expect(c.status).toBe('offline')
    // Offline with no retry scheduled: a retry would carry retryInMs.
    expect(statuses.at(-1)).toEqual({ status: 'offline', url: null })
    expect(connections).toBe(1)
  })

  it('await synced rejects with the refusal when a node refuses it for good (issue 12)', async () => {
    const a = await node({ allowedOrigins: ['https://app.example'] })
    // As a browser on another site would connect: its Origin is not on the list.
    class ForeignPage extends WebSocket {
      constructor(url: string | URL, protocols?: string | string[]) {
        super(url, protocols, { origin: 'https://evil.example' })
      }
    }
    const c = new MeshClient({ urls: a.url, WebSocket: ForeignPage, backoff: { minDelayMs: 20, maxDelayMs: 200 } })
    clients.push(c)
    const error = await withTimeout(
      c.synced.then(
        () => undefined,
        (e: unknown) => e,
      ),
      5000,
      'client.synced to settle after a 4403',
    )
    expect(error).toBeInstanceOf(MeshClientError)
    expect(error).toMatchObject({ code: 'rejected', closeCode: 4403, reason: expect.stringMatching(/origin/) })
    expect(c.status).toBe('offline')
  })

  it('drops a silent connection after timeoutMs and tries again', async () => {
    let connections = 0
    const url = await rawServer(() => {
      connections++
    })
    const c = client({ urls: url, timeoutMs: 100 })
    await waitUntil('a second connection after the silent one timed out', () => connections >= 2, {
      subscribe: wakeOn(c),
    })
  })
})
