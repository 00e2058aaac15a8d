import * as prng from 'lib0/prng'
import { afterEach, describe, expect, it } from 'vitest'
import { WebsocketProvider } from 'y-websocket'
import { WebSocket } from 'ws'
import * as Y from 'yjs'
import { YKeyValue } from 'y-utility/y-keyvalue'
import { KV_ARRAY } from '../store/index.js'
import { MeshNode } from '../node/index.js'
import { openRawSocket, refusedUpgradeStatus, restCall } from './clients.js'
import { waitUntil, withTimeout } from './wait.js'
import { restCases } from './adapter-rest-cases.js'
import type { AdapterSetup, AdapterTestOptions, RunningApp } from './adapter-types.js'

export type { AdapterSetup, AdapterTestOptions, AdapterUnderTest } from './adapter-types.js'

/**
 * The conformance suite every Mesh adapter runs against itself (DESIGN.md §2): peer links,
 * light peers with the real `y-websocket` client, the REST API of §3 including bad input,
 * malformed WebSocket frames, upgrades on foreign paths and graceful shutdown. Call it at
 * the top level of a vitest test file.
 *
 * Start the app the way an application would (as the README shows), without setting
 * `node.url`: the suite checks that the URL the node advertises is one a peer can dial.
 *
 * @example
 * runAdapterTests('@mesh/express', async () => {
 *   const node = new MeshNode()
 *   const app = express()
 *   const server = app.listen(0)
 *   mountMesh(app, server, { node })
 *   await once(server, 'listening')
 *   const { port } = server.address() as AddressInfo
 *   const teardown = async () => { await node.close(); await new Promise((r) => server.close(r)) }
 *   return { url: `http://127.0.0.1:${port}`, node, teardown }
 * })
 */
export const runAdapterTests = (name: string, setup: AdapterSetup, options: AdapterTestOptions = {}): void => {
  const base = (options.basePath ?? '/mesh').replace(/\/+$/, '')
  const timeoutMs = options.timeoutMs ?? 5000

  describe(`${name}: Mesh adapter conformance`, () => {
    const cleanups: Array<() => unknown> = []
    const later = (cleanup: () => unknown): void => void cleanups.push(cleanup)

    afterEach(async () => {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
    })

    const start = async (): Promise<RunningApp> => {
      const app = await setup()
      let stopped: Promise<void> | undefined
      const teardown = () => (stopped ??= app.teardown())
      later(teardown)
      const wsBase = app.url.replace(/^http/, 'ws')
      return {
        ...app,
        teardown,
        api: `${app.url}${base}/api`,
        peerUrl: `${wsBase}${base}`,
        lightBase: `${wsBase}${base}`,
      }
    }

    const newPeer = (peerName: string): MeshNode => {
      const peer = new MeshNode({ name: peerName })
      later(() => peer.close())
      return peer
    }

    const lightClient = async (app: RunningApp, room = 'default') => {
      const doc = new Y.Doc()
      const provider = new WebsocketProvider(app.lightBase, room, doc, {
        WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
        disableBc: true,
      })
      later(() => {
        provider.destroy()
        doc.destroy()
      })
      await waitUntil(
        `y-websocket client to sync room "${room}" with ${app.lightBase}/${room}`,
        () => provider.synced,
        {
          timeoutMs,
          subscribe: (wake) => {
            provider.on('sync', wake)
            return () => provider.off('sync', wake)
          },
        },
      )
      // The stock client of the store's layout, as a Yjs app would use it.
      return { doc, provider, kv: new YKeyValue<unknown>(doc.getArray(KV_ARRAY)) }
    }

    const onChange = (node: MeshNode) => (wake: () => void) => node.on('change', wake)
    const onUpdate = (doc: Y.Doc) => (wake: () => void) => {
      doc.on('update', wake)
      return () => doc.off('update', wake)
    }

    const nodeSees = (node: MeshNode, key: string, value: unknown, what: string) =>
      waitUntil(
        `${what} to see ${key}=${JSON.stringify(value)}`,
        () => {
          expect(node.get(key)).toEqual(value)
          return true
        },
        { timeoutMs, subscribe: onChange(node) },
      )

    it('peer link: a second node joins the peer endpoint and syncs both ways', async () => {
      const app = await start()
      await app.node.put('before-join', { set: 'by the app' })
      const peer = newPeer('conformance-peer')
      await peer.join([app.peerUrl], { timeoutMs })
      await nodeSees(peer, 'before-join', { set: 'by the app' }, 'the joining node')

      await peer.put('from-peer', 1)
      await nodeSees(app.node, 'from-peer', 1, 'the app node')
      await app.node.put({ 'from-app': [1, 'two'], 'also-from-app': null })
      await nodeSees(peer, 'from-app', [1, 'two'], 'the joining node')
      expect(peer.get('also-from-app')).toBeNull()

      const member = app.node.members().find((m) => m.id === peer.id)
      expect(member, 'the app lists the joined node as a member').toMatchObject({
        name: 'conformance-peer',
        state: 'alive',
      })
      expect(app.node.status().peers.some((p) => p.id === peer.id)).toBe(true)
    })

    it('advertised URL: set from the bound server, listed in members, and dialable; gossip finds the app', async () => {
      const a = await start()
      const url = a.node.url
      expect(url, 'node.url once the app listens (none was configured)').toMatch(/^wss?:\/\/[^/]+:\d+\//)
      const members = await restCall(`${a.api}/members`)
      const self = (members.body as Array<{ id: string; url: string }>).find((m) => m.id === a.node.id)
      expect(self?.url, 'GET /members lists this node with its advertised URL').toBe(url)

      const direct = newPeer('dials-the-advertised-url')
      await direct.join([url], { timeoutMs })

      // "Join one node, find all": a newcomer that joins only b must reach a through gossip,
      // which works only if a advertises a URL others can dial.
      const b = await start()
      await b.node.join([url], { timeoutMs })
      const newcomer = newPeer('gossip-newcomer')
      await newcomer.join([b.node.url], { timeoutMs })
      await waitUntil(
        `the newcomer to link with the app it learned of by gossip (advertised as ${url})`,
        () => newcomer.status().peers.some((p) => p.id === a.node.id && p.link === 'open'),
        { timeoutMs, subscribe: (wake) => newcomer.on('peer:up', wake) },
      )
    })

    it('light peer: the y-websocket client syncs a room both ways', async () => {
      const app = await start()
      await app.node.put('seeded', 'before the client came')
      const { doc, kv } = await lightClient(app)
      expect(kv.get('seeded')).toBe('before the client came')

      kv.set('from-light', { n: 42 })
      await nodeSees(app.node, 'from-light', { n: 42 }, 'the app node')
      await app.node.put('from-node', 'hello light peer')
      await waitUntil('the y-websocket client to see from-node', () => kv.get('from-node') === 'hello light peer', {
        timeoutMs,
        subscribe: onUpdate(doc),
      })

      // Any room name routes to its own room, created on first use.
      const notes = await lightClient(app, 'notes')
      notes.kv.set('title', 'room two')
      await waitUntil(
        'room "notes" on the app node to hold the write',
        () => app.node.rooms().includes('notes') && app.node.store('notes').get('title') === 'room two',
        { timeoutMs, subscribe: onChange(app.node) },
      )
      expect(app.node.has('title'), 'a write to room "notes" stays out of room "default"').toBe(false)
    })

    restCases({ start, nodeSees, timeoutMs })

    it('bad WebSocket frames close only that socket, with a 44xx code', async () => {
      const app = await start()
      await app.node.put('kept', 'original')
      const light = await lightClient(app)
      const peer = newPeer('well-behaved-peer')
      await peer.join([app.peerUrl], { timeoutMs })
      await nodeSees(peer, 'kept', 'original', 'the well-behaved peer')
      const before = JSON.stringify(app.node.data.toJSON())

      const gen = prng.create(0x6d657368)
      const frames: Array<[string, string | Uint8Array]> = [
        ['random bytes', prng.uint8Array(gen, 64)],
        ['more random bytes', prng.uint8Array(gen, 7)],
        ['a text frame', 'hello'],
        ['an empty frame', new Uint8Array(0)],
      ]
      for (const endpoint of [app.peerUrl, `${app.lightBase}/default`]) {
        for (const [what, frame] of frames) {
          const raw = await openRawSocket(endpoint, timeoutMs)
          raw.socket.send(frame, { binary: typeof frame !== 'string' })
          const { code, reason } = await withTimeout(raw.closed, timeoutMs, `${endpoint} to close after ${what}`)
          expect(code, `${endpoint} after ${what} (reason: ${reason})`).toBeGreaterThanOrEqual(4400)
          expect(code, `${endpoint} after ${what} (reason: ${reason})`).toBeLessThan(4500)
        }
      }

      expect(JSON.stringify(app.node.data.toJSON()), 'bad frames changed the store').toBe(before)
      expect(light.provider.wsconnected, 'the y-websocket client is still connected').toBe(true)
      expect(app.node.status().peers.find((p) => p.id === peer.id)?.link).toBe('open')
      await app.node.put('after-garbage', true)
      await nodeSees(peer, 'after-garbage', true, 'the well-behaved peer')
      await waitUntil('the y-websocket client to see after-garbage', () => light.kv.get('after-garbage') === true, {
        timeoutMs,
        subscribe: onUpdate(light.doc),
      })
      expect((await restCall(`${app.api}/health`)).status).toBe(200)
    })

    it('an upgrade on a path Mesh does not own is refused with an HTTP status', async () => {
      const app = await start()
      const wsBase = app.url.replace(/^http/, 'ws')
      for (const path of ['/nope', `${base}/room/too-deep`]) {
        const status = await refusedUpgradeStatus(`${wsBase}${path}`, timeoutMs)
        expect(status, `upgrade on ${path}`).toBeGreaterThanOrEqual(400)
        expect(status, `upgrade on ${path}`).toBeLessThan(500)
      }
      expect((await restCall(`${app.api}/health`)).status).toBe(200)
    })

    it('the peer endpoint refuses a browser page (a request with an Origin) with 4403', async () => {
      const app = await start()
      const page = new WebSocket(app.peerUrl, { origin: 'https://some-other-site.example' })
      page.on('message', () => {})
      const ended = new Promise<string>((resolve) => {
        page.once('close', (code: number) => resolve(`close ${code}`))
        page.once('unexpected-response', (request, response: { statusCode?: number }) => {
          resolve(`http ${response.statusCode ?? 0}`)
          request.destroy()
        })
      })
      expect(['close 4403', 'http 403']).toContain(await withTimeout(ended, timeoutMs, 'the page to be refused'))
      expect(app.node.status().peers, 'no peer link from the page').toEqual([])
    })

    it('graceful shutdown: teardown completes, the node closes and its peers see it leave', async () => {
      const app = await start()
      const peer = newPeer('watching-peer')
      await peer.join([app.peerUrl], { timeoutMs })
      const light = await lightClient(app)
      const raw = await openRawSocket(`${app.lightBase}/default`, timeoutMs)

      await withTimeout(app.teardown(), timeoutMs, 'teardown to finish with a peer and light peers connected')
      expect(app.node.closed).toBe(true)
      await waitUntil(
        'the peer to list the app node as left',
        () => peer.members().find((m) => m.id === app.node.id)?.state === 'left',
        { timeoutMs, subscribe: (wake) => peer.on('peer:down', wake) },
      )
      await withTimeout(raw.closed, timeoutMs, 'the raw light socket to close')
      await waitUntil('the y-websocket client to be disconnected', () => !light.provider.wsconnected, {
        timeoutMs,
        subscribe: (wake) => {
          light.provider.on('status', wake)
          return () => light.provider.off('status', wake)
        },
      })
      await expect(fetch(`${app.api}/health`), 'the port is released').rejects.toThrow()
    })
  })
}
