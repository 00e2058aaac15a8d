import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import type { StorageAdapter } from '../persistence/index.js'

/** What a storage adapter's setup returns: a fresh, empty store. */
export interface StorageUnderTest {
  adapter: StorageAdapter
  /** Opens the same data again, as a restarted process would (the suite closed `adapter` first). */
  reopen(): Promise<StorageAdapter>
  /** Frees what the setup made (files, directories). Adapters are closed already. */
  teardown(): Promise<void>
}

/** Makes a fresh store for one test. */
export type StorageSetup = () => Promise<StorageUnderTest>

/** A doc with edits, and every update it emitted, in order. */
const editedDoc = (edits: number, seed = 1): { doc: Y.Doc; updates: Uint8Array[] } => {
  const doc = new Y.Doc()
  doc.clientID = seed
  const updates: Uint8Array[] = []
  doc.on('update', (update: Uint8Array) => updates.push(update))
  for (let i = 0; i < edits; i++) {
    doc.transact(() => {
      doc.getMap('m').set(`k${i % 7}`, i)
      doc.getText('t').insert(0, String(i % 10))
    })
  }
  return { doc, updates }
}

/** Rebuilds a doc from what storage returned. */
const rebuilt = (stored: { snapshot: Uint8Array | undefined; updates: Uint8Array[] }): Y.Doc => {
  const doc = new Y.Doc()
  if (stored.snapshot) Y.applyUpdateV2(doc, stored.snapshot)
  for (const update of stored.updates) Y.applyUpdate(doc, update)
  return doc
}

const same = (a: Y.Doc, b: Y.Doc): void => {
  expect(b.getMap('m').toJSON()).toEqual(a.getMap('m').toJSON())
  expect(b.getText('t').toJSON()).toBe(a.getText('t').toJSON())
  expect(Y.encodeStateVector(b)).toEqual(Y.encodeStateVector(a))
}

/**
 * The conformance suite every {@link StorageAdapter} runs against itself (after
 * automerge-repo's storage acceptance tests): append/load round trips, compaction
 * equivalence, many rooms, empty rooms, reopening and closing. Call it at the top level of a
 * vitest test file.
 *
 * @example
 * runStorageTests('memory', async () => {
 *   const adapter = new MemoryStorage()
 *   return { adapter, reopen: async () => adapter.reopen(), teardown: async () => {} }
 * })
 */
export const runStorageTests = (name: string, setup: StorageSetup): void => {
  describe(`${name}: storage adapter conformance`, () => {
    const open: StorageAdapter[] = []
    let current: StorageUnderTest | undefined

    const start = async (): Promise<StorageUnderTest> => {
      current = await setup()
      open.push(current.adapter)
      return current
    }
    const reopen = async (adapter: StorageAdapter): Promise<StorageAdapter> => {
      await adapter.close()
      const next = await (current as StorageUnderTest).reopen()
      open.push(next)
      return next
    }

    afterEach(async () => {
      for (const adapter of open.splice(0)) await adapter.close().catch(() => {})
      await current?.teardown()
      current = undefined
    })

    it('a fresh store has no rooms, and an unknown room loads empty', async () => {
      const { adapter } = await start()
      expect(await adapter.rooms()).toEqual([])
      const stored = await adapter.load('nothing-here')
      expect(stored.snapshot).toBeUndefined()
      expect(stored.updates).toEqual([])
    })

    it('loads the appended updates byte for byte, in order, one or many per call', async () => {
      const { adapter } = await start()
      const { doc, updates } = editedDoc(40)
      await adapter.append('r', updates.slice(0, 1))
      await adapter.append('r', updates.slice(1, 25))
      for (const update of updates.slice(25)) await adapter.append('r', [update])
      const stored = await adapter.load('r')
      expect(stored.snapshot).toBeUndefined()
      expect(stored.updates.map((u) => [...u])).toEqual(updates.map((u) => [...u]))
      same(doc, rebuilt(stored))
    })

    it('keeps the order of appends that were not awaited one by one', async () => {
      const { adapter } = await start()
      const { doc, updates } = editedDoc(200)
      await Promise.all(updates.map((update) => adapter.append('r', [update])))
      const stored = await adapter.load('r')
      expect(stored.updates.length).toBe(updates.length)
      expect(stored.updates.map((u) => [...u])).toEqual(updates.map((u) => [...u]))
      same(doc, rebuilt(stored))
    })

    it('a compacted room loads the same document: the snapshot, then only what came after', async () => {
      const { adapter } = await start()
      const { doc, updates } = editedDoc(60)
      await adapter.append('r', updates.slice(0, 40))
      // Not awaited: appends before the call are covered, those after it are kept.
      const early = adapter.append('r', updates.slice(40, 50))
      const compacted = adapter.compact(
        'r',
        Y.encodeStateAsUpdateV2(rebuilt({ snapshot: undefined, updates: updates.slice(0, 50) })),
      )
      const late = adapter.append('r', updates.slice(50))
      await Promise.all([early, compacted, late])
      const stored = await adapter.load('r')
      expect(stored.snapshot).toBeDefined()
      expect(stored.updates.map((u) => [...u])).toEqual(updates.slice(50).map((u) => [...u]))
      same(doc, rebuilt(stored))
    })

    it('compacts again over an earlier snapshot, and an empty log compacts too', async () => {
      const { adapter } = await start()
      const { doc, updates } = editedDoc(30)
      await adapter.append('r', updates.slice(0, 10))
      await adapter.compact(
        'r',
        Y.encodeStateAsUpdateV2(rebuilt({ snapshot: undefined, updates: updates.slice(0, 10) })),
      )
      await adapter.append('r', updates.slice(10))
      await adapter.compact('r', Y.encodeStateAsUpdateV2(doc))
      await adapter.compact('r', Y.encodeStateAsUpdateV2(doc))
      const stored = await adapter.load('r')
      expect(stored.updates).toEqual([])
      same(doc, rebuilt(stored))
    })

    it('keeps many rooms apart, including names that prefix one another', async () => {
      const { adapter } = await start()
      const names = ['a', 'ab', 'a:b', 'a!b', 'x.y~z', "q'(r)*", ...Array.from({ length: 40 }, (_, i) => `room-${i}`)]
      const docs = new Map<string, Y.Doc>()
      await Promise.all(
        names.map(async (room, i) => {
          const { doc, updates } = editedDoc(3 + (i % 5), i + 1)
          docs.set(room, doc)
          await adapter.append(room, updates)
        }),
      )
      expect((await adapter.rooms()).sort()).toEqual([...names].sort())
      for (const room of names) same(docs.get(room) as Y.Doc, rebuilt(await adapter.load(room)))
    })

    it('a room holding only a snapshot is listed and loads', async () => {
      const { adapter } = await start()
      const { doc } = editedDoc(5)
      await adapter.compact('snap', Y.encodeStateAsUpdateV2(doc))
      expect(await adapter.rooms()).toEqual(['snap'])
      same(doc, rebuilt(await adapter.load('snap')))
    })

    it('keeps a large update whole', async () => {
      const { adapter } = await start()
      const doc = new Y.Doc()
      const updates: Uint8Array[] = []
      doc.on('update', (update: Uint8Array) => updates.push(update))
      doc.getText('t').insert(0, 'x'.repeat(2 * 1024 * 1024))
      await adapter.append('big', updates)
      same(doc, rebuilt(await adapter.load('big')))
    })

    it('finds everything again after close and reopen, compacted or not', async () => {
      const setup = await start()
      const first = editedDoc(20, 1)
      const second = editedDoc(20, 2)
      await setup.adapter.append('logged', first.updates)
      await setup.adapter.append('compacted', second.updates.slice(0, 10))
      await setup.adapter.compact(
        'compacted',
        Y.encodeStateAsUpdateV2(rebuilt({ snapshot: undefined, updates: second.updates.slice(0, 10) })),
      )
      await setup.adapter.append('compacted', second.updates.slice(10))
      const adapter = await reopen(setup.adapter)
      expect((await adapter.rooms()).sort()).toEqual(['compacted', 'logged'])
      same(first.doc, rebuilt(await adapter.load('logged')))
      const stored = await adapter.load('compacted')
      expect(stored.updates.length).toBe(10)
      same(second.doc, rebuilt(stored))
      // And it keeps appending after the reopen, after what was there.
      const more = editedDoc(25, 1)
      await adapter.append('logged', more.updates.slice(20))
      same(more.doc, rebuilt(await adapter.load('logged')))
    })

    it('a closed adapter rejects every call (a promise, never a throw)', async () => {
      const { adapter } = await start()
      await adapter.append('r', editedDoc(1).updates)
      await adapter.close()
      const calls = [
        () => adapter.append('r', editedDoc(1).updates),
        () => adapter.load('r'),
        () => adapter.compact('r', Y.encodeStateAsUpdateV2(new Y.Doc())),
        () => adapter.rooms(),
      ]
      for (const call of calls) {
        let result: Promise<unknown> | undefined
        expect(() => (result = call())).not.toThrow()
        await expect(result).rejects.toBeInstanceOf(Error)
      }
    })
  })
}
