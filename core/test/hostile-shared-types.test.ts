import { waitUntil } from '@mesh/core/testing'
import { afterEach, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { WebsocketProvider } from 'y-websocket'
import * as Y from 'yjs'
import { memoryLogger, serveNode, type ServedNode } from './helpers.js'

const served: ServedNode[] = []
const providers: WebsocketProvider[] = []
afterEach(async () => {
  for (const p of providers.splice(0)) p.destroy()
  for (const s of served.splice(0)) await s.close()
})

const fast = { membership: { heartbeatMs: 20, deadAfterMs: 200 } }
const errors = (node: ServedNode['node']) =>
  node
    .metrics()
    .find((m) => m.name === 'mesh_internal_errors_total')
    ?.values.reduce((n, v) => n + v.value, 0) ?? 0

describe('hostile content in the shared types the store uses', () => {
  it('a light peer that writes key metadata (kv-meta) is refused, and no node crashes', async () => {
    const a = await serveNode({ name: 'a', ...fast })
    const b = await serveNode({ name: 'b', ...fast })
    served.push(a, b)
    await b.node.join([a.url])
    await a.node.put('lease', 'a', { ephemeral: true })
    await a.node.put('cache', 1, { ttl: 60_000 })
    const doc = new Y.Doc()
    const provider = new WebsocketProvider(a.url, 'default', doc, {
      WebSocketPolyfill: WebSocket as never,
      disableBc: true,
    })
    providers.push(provider)
    await new Promise<void>((resolve) => provider.once('sync', () => resolve()))
    const closed = new Promise<number>((resolve) =>
      provider.once('connection-close', (e: CloseEvent | null) => resolve(e?.code ?? 0)),
    )
    const meta = doc.getMap<unknown>('kv-meta')
    meta.set('lease', null) // an overwrite: its parent is known only through the item it replaces
    meta.set('fresh', null)
    expect(await closed).toBe(4403)
    // Heartbeats (and sweeps) keep running on both nodes; the data is untouched.
    const beats = b.node.members().find((m) => m.id === a.node.id)?.lastSeen ?? 0
    await waitUntil(
      'a few more heartbeats',
      () => (b.node.members().find((m) => m.id === a.node.id)?.lastSeen ?? 0) > beats + 60,
    )
    for (const node of [a.node, b.node]) {
      expect(node.get('lease')).toBe('a')
      expect(node.get('cache')).toBe(1)
      expect(errors(node)).toBe(0)
    }
  })

  it('malformed metadata that reached a replica anyway is ignored by reads and sweeps', async () => {
    const log = memoryLogger()
    const a = await serveNode({ name: 'a', ...fast, logger: log.logger })
    served.push(a)
    await a.node.put({ k1: 1, k2: 2, k3: 3, k4: 4 })
    const { kvMeta, doc } = a.node.room('default')
    // What a hostile writer could leave: null, wrong types, an expiry without a matching value.
    doc.transact(() => {
      kvMeta.set('k1', null)
      kvMeta.set('k2', 'garbage')
      kvMeta.set('k3', { expiresAt: 'soon', owner: 42 })
      kvMeta.set('k4', { expiresAt: 1, ref: 'not-the-value' })
      kvMeta.set('gone', { owner: 'nobody', expiresAt: 1 })
    })
    const before = a.node.members()[0]!.lastSeen
    await waitUntil('a few heartbeats with sweeps', () => a.node.members()[0]!.lastSeen > before + 100)
    expect(a.node.data.toJSON()).toEqual({ k1: 1, k2: 2, k3: 3, k4: 4 })
    expect(a.node.data.meta('k4')).toBeUndefined()
    expect(errors(a.node)).toBe(0)
    expect(log.entries.filter((e) => e.level === 'error')).toEqual([])
    // The sweeper removed metadata that describes nothing.
    expect(kvMeta.size).toBe(0)
  })
})
