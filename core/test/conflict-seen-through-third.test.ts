/**
 * No false race reports (found by review, `w10-review2`). A write that arrives while this
 * node's own entry of the key is still live looks concurrent. That would assume a writer that
 * held our entry removed it itself. It need not have: a third writer may
 * have removed it, and that removal may not have reached this node yet when the write built on
 * it does (Yjs integrates a struct as soon as its origins are here; a delete of an item this
 * node lacks waits). Under `merge`, lanes make this easy: the removal sits in a lane far left,
 * and the next write appends at the end without depending on it.
 */
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { KvIndex, MeshStore, type ConcurrentWrite } from '../src/store/index.js'

interface Replica {
  doc: Y.Doc
  kv: KvIndex
  store: MeshStore
  reports: ConcurrentWrite[]
  updates: Uint8Array[]
}

const replica = (name: string, clientID: number, lanes: boolean): Replica => {
  const doc = new Y.Doc({ gc: true })
  doc.clientID = clientID
  const origin = { name }
  const reports: ConcurrentWrite[] = []
  const updates: Uint8Array[] = []
  const kv = new KvIndex(doc, {
    onChange: (changed, transaction) => store.review(changed.keys, transaction.origin !== origin),
    onConcurrent: (writes) => reports.push(...writes),
    lane: () => lanes,
  })
  const room = { name: 'default', doc, kv, destroyed: false, maxBytes: Number.POSITIVE_INFINITY, admit: () => true }
  const store = new MeshStore({ room, origin, owner: name })
  doc.on('update', (u: Uint8Array) => updates.push(u))
  return { doc, kv, store, reports, updates }
}

const syncAll = (rs: Replica[]): void => {
  for (const a of rs)
    for (const b of rs)
      if (a !== b) Y.applyUpdate(b.doc, Y.encodeStateAsUpdate(a.doc, Y.encodeStateVector(b.doc)), 'net')
}

/** The updates `r` made from now on, when `f` runs. */
const made = (r: Replica, f: () => void): Uint8Array => {
  const from = r.updates.length
  f()
  r.store.flush()
  return Y.mergeUpdates(r.updates.slice(from))
}

const setup = (): { n: Replica; w: Replica; b: Replica; c: Replica } => {
  const n = replica('n', 1, true)
  const w = replica('w', 2, true)
  const b = replica('b', 3, false)
  const c = replica('c', 4, false)
  // W opens its lane first: its next write goes far left of the end.
  made(w, () => w.store.set('x', 'w-x'))
  syncAll([n, w, b, c])
  made(n, () => n.store.set('k', 'n-a'))
  syncAll([n, w, b, c])
  return { n, w, b, c }
}

describe('a write whose writer had seen our entry through a third writer is no race', () => {
  it('a removed write whose writer had seen ours (through a third writer) is no race', () => {
    const { n, w, b, c } = setup()
    // W overwrites N's entry (in W's lane, left), B sees that and overwrites W's, C removes the key.
    const uw = made(w, () => w.store.set('k', 'w-1'))
    Y.applyUpdate(b.doc, uw, 'net')
    Y.applyUpdate(c.doc, uw, 'net')
    const ub = made(b, () => b.store.set('k', 'b-1'))
    Y.applyUpdate(c.doc, ub, 'net')
    const uc = made(c, () => void c.store.pop('k'))
    // N hears from C, then B, then W (W's link is the slow one).
    Y.applyUpdate(n.doc, uc, 'net')
    Y.applyUpdate(n.doc, ub, 'net')
    Y.applyUpdate(n.doc, uw, 'net')
    syncAll([n, w, b, c])
    for (const r of [n, w, b, c]) expect(r.store.get('k')).toBeUndefined()
    // B wrote b-1 having seen W's write, which removed N's: no write was concurrent with N's.
    expect(n.reports.map((x) => `${x.key}: ${JSON.stringify(x.other.entry.val)}`)).toEqual([])
  })

  it('a live write whose writer had seen ours (through a third writer) is no race', () => {
    const { n, w, b } = setup()
    const uw = made(w, () => w.store.set('k', 'w-1'))
    Y.applyUpdate(b.doc, uw, 'net')
    const ub = made(b, () => b.store.set('k', 'b-1'))
    Y.applyUpdate(n.doc, ub, 'net')
    Y.applyUpdate(n.doc, uw, 'net')
    expect(n.store.get('k')).toBe('b-1')
    expect(n.reports.map((x) => `${x.key}: ${JSON.stringify(x.other.entry.val)}`)).toEqual([])
  })
  it('without lanes too: a write appended after a concurrent append that stands right of the overwrite', () => {
    const n = replica('n', 1, false)
    const w = replica('w', 2, false)
    const b = replica('b', 3, false)
    const d = replica('d', 5, false)
    made(n, () => n.store.set('k', 'n-a'))
    syncAll([n, w, b, d])
    // W overwrites N's entry while D appends another key at once: both at the end, D's right.
    const uw = made(w, () => w.store.set('k', 'w-1'))
    const ud = made(d, () => d.store.set('z', 'd-z'))
    Y.applyUpdate(b.doc, uw, 'net')
    Y.applyUpdate(b.doc, ud, 'net')
    // B saw W's write, and appends after D's entry.
    const ub = made(b, () => b.store.set('k', 'b-1'))
    Y.applyUpdate(n.doc, ud, 'net')
    Y.applyUpdate(n.doc, ub, 'net')
    Y.applyUpdate(n.doc, uw, 'net')
    expect(n.store.get('k')).toBe('b-1')
    expect(n.reports.map((x) => `${x.key}: ${JSON.stringify(x.other.entry.val)}`)).toEqual([])
  })
})
