import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { KvIndex } from '../src/store/index.js'

const replica = () => {
  const doc = new Y.Doc()
  return { doc, kv: new KvIndex(doc, { onChange: () => {}, lane: () => true }) }
}
type Replica = ReturnType<typeof replica>

const sync = (from: Replica, to: Replica) =>
  Y.applyUpdate(to.doc, Y.encodeStateAsUpdate(from.doc, Y.encodeStateVector(to.doc)), 'remote')
const put = (r: Replica, key: string, val: number) => r.doc.transact((tr) => r.kv.write(tr, [[key, { key, val }]]))
const last = (r: Replica): Y.Item | null => {
  let item = r.doc.getArray('kv')._start
  while (item?.right) item = item.right
  return item
}
const holds = (item: Y.Item | null, r: Replica, key: string): boolean => {
  const [client = -1, clock = -1] = (r.kv.ref(key) ?? '').split(':').map(Number)
  if (item === null) return false
  return item.id.client === client && item.id.clock <= clock && clock < item.id.clock + item.length
}

describe('a node writing in its lane', () => {
  it('writes right after its previous entry while others write a little, at the end once they wrote a lot', () => {
    const a = replica()
    const b = replica()
    put(a, 'a0', 0)
    sync(a, b)
    for (let i = 0; i < 10; i++) put(b, `b${i}`, i)
    sync(b, a)
    put(a, 'a1', 1)
    // In its lane: right of a0, left of b's ten entries.
    expect(holds(last(a), a, 'a1')).toBe(false)
    expect(a.kv.entry('a1')?.val).toBe(1)
    // Thousands of entries of b since: a's lane is far from the end, where races compare cheaply.
    for (let i = 0; i < 5000; i++) put(b, `c${i}`, i)
    sync(b, a)
    put(a, 'a2', 2)
    expect(holds(last(a), a, 'a2')).toBe(true)
    // Both replicas agree, whatever the places.
    sync(a, b)
    expect(b.kv.entry('a2')?.val).toBe(2)
    expect(b.kv.size).toBe(a.kv.size)
  })
})
