import {
  compareSnapshots,
  compareStateVectors,
  MeshError,
  MeshNode,
  type ChangeEvent,
  type JsonValue,
} from '@mesh/core'
import * as Y from 'yjs'
import { afterEach, describe, expect, it } from 'vitest'

const nodes: MeshNode[] = []
const node = (name = 'n') => {
  const n = new MeshNode({ name })
  nodes.push(n)
  return n
}
afterEach(async () => {
  for (const n of nodes.splice(0)) await n.close()
})

describe('store facade', () => {
  it('puts, gets, pops and snapshots JSON values', async () => {
    const n = node()
    await n.put('feature:dark-mode', true)
    await n.put({ a: 1, b: { nested: [1, 2] } })
    expect(n.get('a')).toBe(1)
    expect(n.has('b')).toBe(true)
    expect(n.data.toJSON()).toEqual({ 'feature:dark-mode': true, a: 1, b: { nested: [1, 2] } })
    expect(await n.pop('a')).toBe(1)
    expect(await n.pop('a')).toBeUndefined()
    expect(n.data.keys().sort()).toEqual(['b', 'feature:dark-mode'])
    expect(n.data.size).toBe(2)
  })

  it('put(object) is one commit, and each commit records origin, size and keys', async () => {
    const n = node()
    await n.put({ x: 1, y: 2, z: 3 })
    const [commit] = n.history()
    expect(n.history()).toHaveLength(1)
    expect(commit).toMatchObject({ room: 'default', origin: n.id, via: 'local', keys: ['x', 'y', 'z'] })
    expect(commit!.bytes).toBeGreaterThan(0)
  })

  it('keeps a private copy of object values', async () => {
    const n = node()
    const value = { list: [1] }
    await n.put('v', value)
    value.list.push(2)
    expect(n.get('v')).toEqual({ list: [1] })
  })

  it('rejects what JSON cannot hold, and changes nothing', async () => {
    const n = node()
    // The types refuse most of these (core/test/json-types.test-d.ts); a JavaScript caller or an `any` still gets here.
    const bad: unknown[] = [undefined, () => 1, Number.NaN, Infinity, new Date(), new Map(), 10n, Symbol('s')]
    for (const value of bad) await expect(n.put('k', value as JsonValue)).rejects.toBeInstanceOf(MeshError)
    await expect(n.put('', 1)).rejects.toMatchObject({ code: 'bad_request' })
    await expect(n.put('x'.repeat(2000), 1)).rejects.toMatchObject({ code: 'bad_request' })
    await expect(n.put({ ok: 1, bad: undefined as never })).rejects.toBeInstanceOf(MeshError)
    expect(n.data.toJSON()).toEqual({})
    expect(n.history()).toEqual([])
  })

  it('stores a __proto__ key as data, never as a prototype', async () => {
    const n = node()
    await n.put('__proto__', { polluted: true })
    const snapshot = n.data.toJSON()
    expect(Object.getPrototypeOf(snapshot)).toBe(Object.prototype)
    expect(Object.keys(snapshot)).toEqual(['__proto__'])
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
  })

  it('emits change events with keys and origin', async () => {
    const n = node()
    const events: ChangeEvent[] = []
    n.on('change', (e) => events.push(e))
    await n.put({ a: 1, b: 2 })
    await n.pop('a')
    await n.put('b', 3)
    expect(events).toEqual([
      {
        room: 'default',
        keys: ['a', 'b'],
        changes: [
          { key: 'a', previous: undefined, value: 1 },
          { key: 'b', previous: undefined, value: 2 },
        ],
        local: true,
        origin: n.id,
      },
      {
        room: 'default',
        keys: ['a'],
        changes: [{ key: 'a', previous: 1, value: undefined }],
        local: true,
        origin: n.id,
      },
      { room: 'default', keys: ['b'], changes: [{ key: 'b', previous: 2, value: 3 }], local: true, origin: n.id },
    ])
  })

  it('a throwing change listener is logged, not propagated', async () => {
    const errors: string[] = []
    const n = new MeshNode({
      logger: { debug() {}, info() {}, warn() {}, error: (m) => errors.push(m) },
    })
    nodes.push(n)
    n.on('change', () => {
      throw new Error('boom')
    })
    await n.put('a', 1)
    expect(n.get('a')).toBe(1)
    expect(errors).toEqual(['event listener failed'])
  })

  it('validates options with a message that says how to fix them', () => {
    expect(() => new MeshNode({ onConflict: 'nope' as never })).toThrow(/onConflict must be one of/)
  })
})

describe('history comparison', () => {
  const docWith = (client: number, edit: (map: Y.Map<unknown>) => void, base?: Y.Doc) => {
    const doc = new Y.Doc()
    doc.clientID = client
    if (base) Y.applyUpdate(doc, Y.encodeStateAsUpdate(base))
    edit(doc.getMap('kv'))
    return doc
  }

  it('tells equal, ahead, behind and diverged apart, deletions included', () => {
    const base = docWith(1, (m) => m.set('a', 1))
    const same = docWith(2, () => {}, base)
    const ahead = docWith(3, (m) => m.set('b', 2), base)
    const removed = docWith(4, (m) => m.delete('a'), base)
    expect(compareSnapshots(Y.snapshot(base), Y.snapshot(same))).toBe('equal')
    expect(compareSnapshots(Y.snapshot(ahead), Y.snapshot(base))).toBe('ahead')
    expect(compareSnapshots(Y.snapshot(base), Y.snapshot(ahead))).toBe('behind')
    expect(compareSnapshots(Y.snapshot(ahead), Y.snapshot(removed))).toBe('diverged')
    // A removal does not move the state vector, but it is history all the same.
    expect(
      compareStateVectors(
        Y.decodeStateVector(Y.encodeStateVector(removed)),
        Y.decodeStateVector(Y.encodeStateVector(base)),
      ),
    ).toBe('equal')
    expect(compareSnapshots(Y.snapshot(removed), Y.snapshot(base))).toBe('ahead')
  })
})

describe('puts in one turn', () => {
  it('are applied together as one commit, and reads see them at once', async () => {
    const n = node()
    const commits: string[][] = []
    n.on('commit', (c) => commits.push(c.keys))
    const writes: Array<Promise<void>> = []
    for (let i = 0; i < 100; i++) writes.push(n.put(`k${i % 10}`, i))
    expect(n.get('k3')).toBe(93)
    await Promise.all(writes)
    expect(commits).toEqual([['k0', 'k1', 'k2', 'k3', 'k4', 'k5', 'k6', 'k7', 'k8', 'k9']])
    await n.put('k0', 'x')
    await new Promise((resolve) => setImmediate(resolve))
    expect(commits).toHaveLength(2)
  })

  it('keep their order with put(object), set and pop', async () => {
    const n = node()
    await n.put('a', 1)
    await n.put({ a: 2, b: 2 })
    await n.put('b', 3)
    n.data.set('c', 1)
    expect(await n.pop('b')).toBe(3)
    expect(n.data.toJSON()).toEqual({ a: 2, c: 1 })
  })

  it('are refused once the node is closed', async () => {
    const n = node()
    await n.close()
    await expect(n.put('late', 1)).rejects.toMatchObject({ code: 'closed' })
  })
})
