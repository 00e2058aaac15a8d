import { MemoryStorage, MeshNode, type MeshNodeOptions, type Metric } from '@mesh/core'
import { runStorageTests, waitUntil } from '@mesh/core/testing'
import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { serveNode, type ServedNode } from './helpers.js'
import { serveRest } from './rest-server.js'

runStorageTests('MemoryStorage', () => {
  const adapter = new MemoryStorage()
  return Promise.resolve({
    adapter,
    reopen: () => Promise.resolve(adapter.reopen()),
    teardown: () => Promise.resolve(),
  })
})

const metric = (node: MeshNode, name: string): number =>
  node
    .metrics()
    .find((m: Metric) => m.name === name)
    ?.values.reduce((sum, v) => sum + v.value, 0) ?? NaN

/** An adapter whose compactions fail the first `failures` times. */
class FlakyCompaction extends MemoryStorage {
  failures: number
  calls = 0
  constructor(failures: number) {
    super()
    this.failures = failures
  }
  override compact(room: string, snapshot: Uint8Array): Promise<void> {
    this.calls++
    if (this.failures-- > 0) return Promise.reject(new Error('disk full (test)'))
    return super.compact(room, snapshot)
  }
}

describe('persistence on a node', () => {
  const nodes: Array<MeshNode | ServedNode> = []
  afterEach(async () => {
    for (const n of nodes.splice(0).reverse()) await n.close()
  })
  const node = async (persistence: MeshNodeOptions['persistence']): Promise<MeshNode> => {
    const n = new MeshNode({ persistence })
    nodes.push(n)
    await n.ready()
    return n
  }

  it('a restarted node finds its keys and other rooms again, with no peer to sync from', async () => {
    const storage = new MemoryStorage()
    const first = await node(storage)
    await first.put('a', 1)
    await first.put({ b: { nested: true }, c: 'three' })
    await first.pop('c')
    first.room('board').doc.getText('notes').insert(0, 'hello')
    await first.flush({ room: 'board', replicas: 0 })
    await first.close()

    const second = await node(storage.reopen())
    expect(second.data.toJSON()).toEqual({ a: 1, b: { nested: true } })
    expect(second.room('board').doc.getText('notes').toJSON()).toBe('hello')
    await second.put('a', 2)
    await second.close()
    const third = await node(storage.reopen())
    expect(third.get('a')).toBe(2)
  })

  it('is off by default and waits for nothing', async () => {
    const n = await node(undefined)
    await n.put('k', 1)
    expect(n.status().persistence).toBeUndefined()
    expect(n.metrics().some((m) => m.name.startsWith('mesh_storage'))).toBe(false)
  })

  it('compacts by size in the background and loads the same state from the snapshot', async () => {
    const storage = new MemoryStorage()
    const n = await node({ storage, compaction: { minBytes: 2000 } })
    for (let i = 0; i < 300; i++) await n.put(`k${i % 20}`, { i, pad: 'x'.repeat(20) })
    await waitUntil('no compaction ran', () => (n.status().persistence?.compactions ?? 0) > 0)
    const status = n.status().persistence
    expect(status?.lastCompactionAt).toBeGreaterThan(0)
    expect(status?.logBytes).toBeLessThanOrEqual(Math.max(status?.snapshotBytes ?? 0, 2000) + 200)
    const json = n.data.toJSON()
    await n.close()
    const stored = await storage.reopen().load('default')
    expect(stored.snapshot).toBeDefined()
    const again = await node(storage.reopen())
    expect(again.data.toJSON()).toEqual(json)
  })

  it('a failed compaction is retried and never stops the appends', async () => {
    const storage = new FlakyCompaction(2)
    const n = await node({ storage, compaction: { minBytes: 500, retryMs: 5 } })
    for (let i = 0; i < 100; i++) await n.put(`k${i}`, i)
    await waitUntil('compaction never succeeded', () => (n.status().persistence?.compactions ?? 0) > 0)
    expect(n.status().persistence?.compactionFailures).toBe(2)
    await n.put('after', true)
    const json = n.data.toJSON()
    await n.close()
    const again = await node(storage.reopen())
    expect(again.data.toJSON()).toEqual(json)
  })

  it('put rejects with storage_failed when the write cannot be stored, and the node keeps running', async () => {
    const storage = new MemoryStorage()
    const n = await node(storage)
    const append = storage.append.bind(storage)
    let fail = true
    storage.append = (room, updates) => (fail ? Promise.reject(new Error('EIO (test)')) : append(room, updates))
    await expect(n.put('k', 1)).rejects.toMatchObject({ code: 'storage_failed' })
    const cleanups: Array<() => Promise<void> | void> = []
    const api = await serveRest(n, cleanups)
    const res = await fetch(`${api}/kv/rest`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: '1',
    })
    expect(res.status).toBe(500)
    for (const cleanup of cleanups) await cleanup()
    fail = false
    await n.put('k2', 2)
    expect(n.status().persistence?.appendFailures).toBe(2)
  })

  it('writes made before the node was ready are stored too, and merged with what it loaded', async () => {
    const storage = new MemoryStorage()
    const first = await node(storage)
    await first.put('old', 1)
    await first.close()
    const second = new MeshNode({ persistence: storage.reopen() })
    nodes.push(second)
    const early = second.put('early', 2)
    second.room('other').doc.getMap('m').set('x', 1)
    await second.ready()
    await early
    expect(second.data.toJSON()).toEqual({ old: 1, early: 2 })
    await second.close()
    const third = await node(storage.reopen())
    expect(third.data.toJSON()).toEqual({ old: 1, early: 2 })
    expect(third.room('other').doc.getMap('m').get('x')).toBe(1)
  })

  it('loads snapshot and log without storing them again, and stores what a change listener writes meanwhile', async () => {
    const storage = new MemoryStorage()
    const first = await node({ storage, compaction: { minBytes: 1 } })
    await first.put({ a: 1, b: 2 })
    await waitUntil('no compaction ran', () => (first.status().persistence?.compactions ?? 0) > 0)
    await first.put('c', 3)
    await first.close()
    const second = new MeshNode({ persistence: storage.reopen() })
    nodes.push(second)
    const doc = second.room('default').doc
    // A write made synchronously inside the load's own transactions (from an observer).
    doc.getArray('kv').observe(() => {
      if (!doc.getMap('side').has('echo')) doc.getMap('side').set('echo', true)
    })
    await second.ready()
    expect(second.data.toJSON()).toEqual({ a: 1, b: 2, c: 3 })
    expect(second.status().persistence?.appends).toBe(1)
    await second.close()
    const third = await node(storage.reopen())
    expect(third.data.toJSON()).toEqual({ a: 1, b: 2, c: 3 })
    expect(third.room('default').doc.getMap('side').get('echo')).toBe(true)
  })

  it('a node that cannot read its storage rejects ready, and close still works', async () => {
    const storage = new MemoryStorage()
    storage.rooms = () => Promise.reject(new Error('unreadable (test)'))
    const n = new MeshNode({ persistence: storage })
    nodes.push(n)
    await expect(n.ready()).rejects.toThrow('unreadable (test)')
  })

  it('a restarted node syncs only what it missed (state vectors), not the whole state', async () => {
    const storageA = new MemoryStorage()
    const storageB = new MemoryStorage()
    const a = await serveNode({ persistence: storageA })
    nodes.push(a)
    let b = await serveNode({ persistence: storageB })
    nodes.push(b)
    await b.node.join([a.url])
    const big: Record<string, string> = {}
    for (let i = 0; i < 2000; i++) big[`key-${i}`] = `value-${i}-${'x'.repeat(40)}`
    await a.node.put(big, { replicas: 1 })
    await waitUntil('B never got the state', () => b.node.data.has('key-1999'))
    const full = Y.encodeStateAsUpdateV2(a.node.room('default').doc).length
    await b.close()
    await a.node.put('missed', 'while B was down')
    b = await serveNode({ persistence: storageB.reopen() })
    nodes.push(b)
    expect(b.node.data.has('key-1999')).toBe(true)
    await b.node.join([a.url])
    await waitUntil('B never got the missed write', () => b.node.get('missed') === 'while B was down')
    const received = metric(b.node, 'mesh_peer_bytes_in_total')
    expect(full).toBeGreaterThan(50_000)
    expect(received).toBeLessThan(full / 5)
  })
})
