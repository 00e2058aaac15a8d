import * as Y from 'yjs'
import { MeshNode } from '@mesh/core'
import { nodeEvents, waitUntil } from '@mesh/core/testing'
import { afterEach, describe, expect, it } from 'vitest'
import { QUIET_CHECK_ROUNDS } from '../src/replication/check-answers.js'
import { serveNode, type ServedNode } from './helpers.js'

const served: ServedNode[] = []
const start = async (options: ConstructorParameters<typeof MeshNode>[0] = {}) => {
  const s = await serveNode(options)
  served.push(s)
  return s
}
afterEach(async () => {
  for (const s of served.splice(0)) await s.close()
})

describe('writes made while a sync is applied', () => {
  it('replicate a synchronous write from a change listener during a cold join', async () => {
    const a = await start({ name: 'a' })
    await a.node.put({ x: 1, y: 2 })
    const b = await start({ name: 'b' })
    // An app reacting to what it learns: writes at once and reads its own write.
    b.node.on('change', (event) => {
      if (event.local || !event.keys.includes('x') || b.node.has('seen')) return
      b.node.data.set('seen', b.node.get('x') ?? null)
    })
    await b.node.join([a.url])
    await waitUntil('a has the write b made inside the sync', () => a.node.get('seen') === 1, {
      subscribe: nodeEvents(a.node),
    })
    // Later writes of b are not parked as pending structs on a.
    await b.node.put('later', 'ok')
    await waitUntil("a has b's later write", () => a.node.get('later') === 'ok', { subscribe: nodeEvents(a.node) })
    expect(a.node.room('default').doc.store.pendingStructs).toBeNull()
  })

  it('replicate queued puts flushed by a read inside a change listener', async () => {
    const a = await start({ name: 'a' })
    await a.node.put('x', 1)
    const b = await start({ name: 'b' })
    let queued = false
    b.node.on('change', (event) => {
      if (event.local || queued) return
      queued = true
      void b.node.put('from-listener', true)
      b.node.get('from-listener') // a read flushes the queued put inside the apply
    })
    await b.node.join([a.url])
    await waitUntil('a has the put flushed inside the sync', () => a.node.get('from-listener') === true, {
      subscribe: nodeEvents(a.node),
    })
  })
})

describe('anti-entropy', () => {
  it('heals a lost update without a reconnect, and reports pending structs meanwhile', async () => {
    const { MemoryNet } = await import('./memory-net.js')
    const net = new MemoryNet()
    const a = new MeshNode({ name: 'a', antiEntropyMs: 400 })
    const b = new MeshNode({ name: 'b', antiEntropyMs: 400 })
    try {
      const link = net.connect(a, b)
      await net.drain()
      await a.put('lost', 1)
      await waitUntil('a sends "lost"', () => link.acceptor.inbox.length > 0)
      net.drop(link.acceptor) // b never receives the frame carrying "lost"
      await a.put('after', 2)
      await net.drain()
      expect(b.get('after')).toBeUndefined()
      expect(b.status().rooms.default?.pending).toBe(true)
      const metric = () => b.metrics().find((m) => m.name === 'mesh_rooms_pending_structs')?.values[0]?.value
      expect(metric()).toBe(1)
      await waitUntil(
        'b repaired by anti-entropy',
        async () => {
          await net.drain()
          return b.get('lost') === 1 && b.get('after') === 2
        },
        { intervalMs: 10 },
      )
      expect(b.status().rooms.default?.pending).toBe(false)
      expect(link.dialer.readyState).toBe(1)
      expect(a.metrics().find((m) => m.name === 'mesh_anti_entropy_repairs_sent_total')?.values[0]?.value).toBe(1)
    } finally {
      await a.close()
      await b.close()
    }
  })

  it('an idle link leaves its round checks out, and checks again after a write or a quiet while', async () => {
    const a = await start({ name: 'a', antiEntropyMs: 20 })
    const b = await start({ name: 'b', antiEntropyMs: 20 })
    await b.node.join([a.url])
    await a.node.put('x', 1)
    await waitUntil('b has x', () => b.node.get('x') === 1, { subscribe: nodeEvents(b.node) })
    const counter = (name: string) => a.node.metrics().find((m) => m.name === name)?.values[0]?.value ?? 0
    const sent = () => counter('mesh_anti_entropy_checks_sent_total')
    const skipped = () => counter('mesh_anti_entropy_checks_skipped_total')
    await waitUntil('a leaves a check out', () => skipped() > 0)
    const quiet = { sent: sent(), skipped: skipped() }
    await waitUntil('two quiet whiles pass', () => skipped() >= quiet.skipped + 2 * QUIET_CHECK_ROUNDS)
    // Each room still checks once per quiet while, and no more.
    const rooms = Object.keys(a.node.status().rooms).length
    const skips = skipped() - quiet.skipped
    expect(sent()).toBeGreaterThan(quiet.sent)
    expect(sent() - quiet.sent).toBeLessThanOrEqual(Math.ceil(skips / (QUIET_CHECK_ROUNDS - 1)) + rooms)
    // b's write changes a's replica too: a checks at its next round, not a quiet while later.
    const before = sent()
    await b.node.put('y', 2)
    await waitUntil('a has y', () => a.node.get('y') === 2, { subscribe: nodeEvents(a.node) })
    const skippedAtWrite = skipped()
    await waitUntil('a checks after the write', () => sent() > before)
    expect(skipped() - skippedAtWrite).toBeLessThan(QUIET_CHECK_ROUNDS - 1)
  })

  it('drops an update that stays pending because what it depends on exists nowhere', async () => {
    const { MemoryNet } = await import('./memory-net.js')
    const net = new MemoryNet()
    const a = new MeshNode({ name: 'a', antiEntropyMs: 100 })
    const b = new MeshNode({ name: 'b', antiEntropyMs: 100 })
    try {
      net.connect(a, b)
      await net.drain()
      // The second write of a client nobody ever heard of: its first never reaches anyone.
      const ghost = new Y.Doc()
      ghost.getArray('kv').push([{ key: 'never', val: 1 }])
      const before = Y.encodeStateVector(ghost)
      ghost.getArray('kv').push([{ key: 'orphan', val: 2 }])
      Y.applyUpdate(b.room('default').doc, Y.encodeStateAsUpdate(ghost, before))
      expect(b.status().rooms.default?.pending).toBe(true)
      const dropped = () => b.metrics().find((m) => m.name === 'mesh_pending_dropped_total')?.values[0]?.value
      await waitUntil(
        'b drops the orphan',
        async () => {
          await net.drain()
          return b.status().rooms.default?.pending === false
        },
        { intervalMs: 10 },
      )
      expect(dropped()).toBe(1)
      await a.put('later', 3)
      await waitUntil('b gets later writes', async () => {
        await net.drain()
        return b.get('later') === 3
      })
      expect(b.get('orphan')).toBeUndefined()
    } finally {
      await a.close()
      await b.close()
    }
  })
})

describe('ephemeral keys of live owners', () => {
  const fast = { membership: { heartbeatMs: 40, deadAfterMs: 250 } }

  it('survive a partition longer than the failure bound, on every side', async () => {
    const a = await start({ ...fast, name: 'a', id: 'a' })
    const b = await start({ ...fast, name: 'b', id: 'b' })
    const c = await start({ ...fast, name: 'c', id: 'c' })
    await b.node.join([a.url])
    await c.node.join([a.url, b.url])
    const nodes = [a.node, b.node, c.node]
    await a.node.put('lease:a', 'a', { ephemeral: true })
    await b.node.put('lease:b', 'b', { ephemeral: true })
    await c.node.put({ 'lease:c': 'c', plain: 1 }, { ephemeral: true })
    const all = (n: MeshNode) => ['lease:a', 'lease:b', 'lease:c'].every((k) => n.has(k))
    await waitUntil('every lease everywhere', () => nodes.every(all), { subscribe: nodeEvents(...nodes) })
    // a on one side, b and c on the other, past deadAfterMs: each side sweeps the other's keys.
    for (const other of [b.node, c.node]) {
      a.node.cut(other.id)
      other.cut(a.node.id)
    }
    await waitUntil('b swept lease:a', () => !b.node.has('lease:a'), { subscribe: nodeEvents(b.node) })
    await waitUntil('a swept lease:b and lease:c', () => !a.node.has('lease:b') && !a.node.has('lease:c'), {
      subscribe: nodeEvents(a.node),
    })
    for (const other of [b.node, c.node]) {
      a.node.heal(other.id)
      other.heal(a.node.id)
    }
    await waitUntil(
      "every live owner's lease is back everywhere",
      () =>
        nodes.every((n) => all(n) && n.members().filter((m) => m.role === 'node' && m.state === 'alive').length === 3),
      { subscribe: nodeEvents(...nodes), timeoutMs: 10_000 },
    )
    // Still there a few heartbeats later: no sweeper deletes them again.
    const commits = a.node.status().commits
    await waitUntil(
      'a few heartbeats pass',
      () => a.node.status().commits >= commits && b.node.members().every((m) => m.lastSeen > Date.now() - 100),
      { timeoutMs: 2000 },
    )
    for (const n of nodes) expect(all(n), `${n.name} keeps every lease`).toBe(true)
  })
})

describe('ephemeral metadata and values written concurrently', () => {
  it("a plain write merged with another node's ephemeral metadata is not swept when that node leaves", async () => {
    const a = await start({ name: 'a' })
    const b = await start({ name: 'b' })
    await b.node.join([a.url])
    // The concurrent write of the higher Yjs client id wins; make that the plain one.
    const [plain, owner] = a.node.clientId > b.node.clientId ? [a, b] : [b, a]
    a.node.cut(b.node.id)
    b.node.cut(a.node.id)
    await owner.node.put('k', 'ephemeral', { ephemeral: true })
    await plain.node.put('k', 'plain')
    a.node.heal(b.node.id)
    b.node.heal(a.node.id)
    await waitUntil('the plain value everywhere', () => a.node.get('k') === 'plain' && b.node.get('k') === 'plain', {
      subscribe: nodeEvents(a.node, b.node),
    })
    expect(plain.node.data.meta('k')).toBeUndefined()
    await owner.close() // a graceful leave removes the owner's ephemeral keys, and only those
    await plain.node.put('probe', 1)
    expect(plain.node.get('k')).toBe('plain')
  })
})

describe('acknowledged writes', () => {
  it('put resolves after the write is applied, and { replicas } after peers hold it', async () => {
    const a = await start({ name: 'a' })
    const b = await start({ name: 'b' })
    const c = await start({ name: 'c' })
    await b.node.join([a.url])
    await c.node.join([a.url])
    await a.node.syncUp()
    let applied = false
    const off = a.node.on('change', (e) => {
      if (e.local && e.keys.includes('x')) applied = true
    })
    const pending = a.node.put('x', 1)
    expect(applied).toBe(false)
    await pending
    expect(applied).toBe(true)
    off()
    await a.node.put('y', 2, { replicas: 2, timeoutMs: 5000 })
    expect(b.node.get('y')).toBe(2)
    expect(c.node.get('y')).toBe(2)
    await a.node.pop('y')
    await a.node.flush({ replicas: 2 })
    expect(b.node.has('y')).toBe(false)
    expect(c.node.has('y')).toBe(false)
  })

  it('{ replicas } rejects with a timeout when too few peers hold the write', async () => {
    const a = await start({ name: 'a' })
    const b = await start({ name: 'b' })
    await b.node.join([a.url])
    await expect(a.node.put('z', 1, { replicas: 2, timeoutMs: 300 })).rejects.toThrow(/only 1 of 2 peers/)
    expect(b.node.get('z')).toBe(1)
  })
})
