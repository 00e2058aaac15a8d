import { mkdtemp, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { MeshNode } from '@mesh/core'
import { runStorageTests } from '@mesh/core/testing'
import { LevelStorage, MARKER_FILE, parseFsyncPolicy, StorageOpenError } from '@mesh/storage'
import { ClassicLevel } from 'classic-level'
import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'

const dirs: string[] = []
const freshDir = async (): Promise<string> => {
  const dir = await mkdtemp(join(tmpdir(), 'mesh-storage-'))
  dirs.push(dir)
  return dir
}
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true })
})

for (const fsync of ['always', 'batch:5', 'never']) {
  runStorageTests(`LevelStorage (fsync ${fsync})`, async () => {
    const dir = join(await freshDir(), 'data')
    return {
      adapter: await LevelStorage.open({ dir, fsync }),
      reopen: () => LevelStorage.open({ dir, fsync }),
      teardown: () => Promise.resolve(),
    }
  })
}

const updatesOf = (count: number): Uint8Array[] => {
  const doc = new Y.Doc()
  const updates: Uint8Array[] = []
  doc.on('update', (u: Uint8Array) => updates.push(u))
  for (let i = 0; i < count; i++) doc.getMap('m').set(`k${i}`, i)
  return updates
}

describe('LevelStorage data directory', () => {
  it('reads fsync policies and refuses others', () => {
    expect(parseFsyncPolicy('always')).toEqual({ kind: 'always' })
    expect(parseFsyncPolicy('batch:50')).toEqual({ kind: 'batch', ms: 50 })
    expect(parseFsyncPolicy('never')).toEqual({ kind: 'never' })
    for (const bad of ['sometimes', 'batch:0', 'batch:-1', 'batch:x', ''])
      expect(() => parseFsyncPolicy(bad)).toThrow(/fsync policy/)
  })

  it('refuses a foreign directory, naming the file, and writes nothing', async () => {
    const dir = await freshDir()
    await writeFile(join(dir, 'notes.txt'), 'mine')
    const error = await LevelStorage.open({ dir }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(StorageOpenError)
    expect((error as StorageOpenError).file).toBe(join(dir, MARKER_FILE))
    expect((error as Error).message).toMatch(/not a Mesh data directory/)
    expect(await readdir(dir)).toEqual(['notes.txt'])
  })

  it('refuses a corrupt marker and a corrupt database, naming the file, and changes nothing', async () => {
    const dir = join(await freshDir(), 'data')
    const storage = await LevelStorage.open({ dir })
    await storage.append('r', updatesOf(3))
    await storage.close()

    const marker = join(dir, MARKER_FILE)
    const good = await readFile(marker, 'utf8')
    await writeFile(marker, '{"format": "mesh-stor')
    const error = await LevelStorage.open({ dir }).catch((e: unknown) => e)
    expect(error).toMatchObject({ name: 'StorageOpenError', file: marker })
    expect(await readFile(marker, 'utf8')).toBe('{"format": "mesh-stor')
    await writeFile(marker, good)

    const current = join(dir, 'level', 'CURRENT')
    await writeFile(current, 'garbage\n')
    const broken = await LevelStorage.open({ dir }).catch((e: unknown) => e)
    expect(broken).toMatchObject({ name: 'StorageOpenError', file: join(dir, 'level') })
    expect((broken as Error).message.split('\n')).toHaveLength(1)
    expect(await readFile(current, 'utf8')).toBe('garbage\n')
  })

  it('refuses a directory another storage holds open (the LevelDB lock)', async () => {
    const dir = join(await freshDir(), 'data')
    const first = await LevelStorage.open({ dir })
    const error = await LevelStorage.open({ dir }).catch((e: unknown) => e)
    expect(error).toMatchObject({ name: 'StorageOpenError', file: join(dir, 'level') })
    await first.close()
  })

  it('skips a corrupt record at load, and a node starts from the rest', async () => {
    const dir = join(await freshDir(), 'data')
    const storage = await LevelStorage.open({ dir })
    const node = new MeshNode({ persistence: storage })
    await node.ready()
    await node.put('a', 1)
    await node.put('b', 2)
    await node.close()
    // A record whose checksum does not match its bytes, as a torn write leaves one.
    const db = new ClassicLevel<string, Uint8Array>(join(dir, 'level'), { valueEncoding: 'view' })
    await db.open()
    await db.put('log/default/fffffffffffff', new Uint8Array([1, 2, 3, 4, 5, 6]))
    await db.close()
    const again = new MeshNode({ persistence: await LevelStorage.open({ dir }) })
    await again.ready()
    expect(again.data.toJSON()).toEqual({ a: 1, b: 2 })
    expect(again.status().persistence?.skippedRecords).toBe(1)
    await again.close()
  })

  it('a torn tail of the LevelDB write-ahead log never stops a start', async () => {
    const dir = join(await freshDir(), 'data')
    const storage = await LevelStorage.open({ dir, fsync: 'never' })
    const updates = updatesOf(200)
    for (const update of updates) await storage.append('r', [update])
    await storage.close()
    const level = join(dir, 'level')
    const logs = (await readdir(level)).filter((f) => f.endsWith('.log'))
    let cut = false
    for (const file of logs) {
      const { size } = await stat(join(level, file))
      if (size > 100) {
        await truncate(join(level, file), size - 7)
        cut = true
      }
    }
    expect(cut).toBe(true)
    const reopened = await LevelStorage.open({ dir })
    const stored = await reopened.load('r')
    expect(stored.updates.length).toBeGreaterThan(150)
    expect(stored.updates.length).toBeLessThan(200)
    const doc = new Y.Doc()
    for (const update of stored.updates) Y.applyUpdate(doc, update)
    expect(doc.getMap('m').size).toBe(stored.updates.length)
    await reopened.close()
  })

  it('reports fsyncs under always, and none under never', async () => {
    const always = await LevelStorage.open({ dir: join(await freshDir(), 'a'), fsync: 'always' })
    await Promise.all(updatesOf(50).map((u) => always.append('r', [u])))
    const stats = always.stats()
    expect(stats.syncs).toBeGreaterThan(0)
    expect(stats.syncs).toBeLessThanOrEqual(50)
    expect(stats.bytes).toBeGreaterThan(0)
    await always.close()
    const never = await LevelStorage.open({ dir: join(await freshDir(), 'n'), fsync: 'never' })
    await never.append('r', updatesOf(5))
    expect(never.stats().syncs).toBe(0)
    await never.close()
  })
})
