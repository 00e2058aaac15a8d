/**
 * The index's key → slot table against a `Map`: random adds and deletes (deletes shift later
 * keys of a cluster back), and keys crafted to share one home position, which must go to the
 * overflow map rather than make probe sequences long. `MESH_SEED` replays a run.
 */
import * as prng from 'lib0/prng'
import { describe, expect, it } from 'vitest'
import { hashOf, KeyTable } from '../src/store/key-table.js'

const seed = Number(process.env.MESH_SEED ?? Math.floor(Math.random() * 2 ** 31))

/** A table whose slots are indexes into `keys`, and the model it must agree with. */
const setup = (tableSeed: number) => {
  const keys: string[] = []
  const table = new KeyTable({ keyOf: (slot) => keys[slot] as string, seed: tableSeed })
  const model = new Map<string, number>()
  const add = (key: string): void => {
    expect(table.get(key)).toBe(model.get(key))
    if (model.has(key)) return
    keys.push(key)
    table.add(key, keys.length - 1)
    model.set(key, keys.length - 1)
  }
  const remove = (key: string): void => {
    expect(table.delete(key)).toBe(model.delete(key))
  }
  const check = (): void => {
    expect(table.size).toBe(model.size)
    for (const [key, slot] of model) expect(table.get(key), key).toBe(slot)
  }
  return { table, keys, add, remove, check }
}

describe(`the key table of the index (MESH_SEED=${seed})`, () => {
  it('agrees with a Map after random adds and deletes', () => {
    const gen = prng.create(seed)
    const t = setup(prng.uint32(gen, 0, 2 ** 32 - 1))
    for (let i = 0; i < 20_000; i++) {
      const key = `k${prng.int32(gen, 0, 3000)}`
      if (prng.int32(gen, 0, 2) === 0) t.remove(key)
      else t.add(key)
      if (i % 2000 === 0) t.check()
    }
    t.check()
    for (const key of [...t.keys]) t.remove(key)
    t.check()
    expect(t.table.size).toBe(0)
  })

  it('keeps keys crafted to collide, past the probe bound, in its overflow, and finds and deletes them', () => {
    const tableSeed = 12345
    const t = setup(tableSeed)
    t.table.reserve(1000)
    // 2048 positions: 100 keys with the same home position, and ordinary keys around them.
    const colliding: string[] = []
    for (let i = 0; colliding.length < 100; i++) {
      if ((hashOf(`x${i}`, tableSeed) & 2047) === 7) colliding.push(`x${i}`)
    }
    for (let i = 0; i < 500; i++) t.add(`k${i}`)
    for (const key of colliding) t.add(key)
    t.check()
    for (const key of colliding.filter((_, i) => i % 3 === 0)) t.remove(key)
    for (let i = 0; i < 500; i += 2) t.remove(`k${i}`)
    t.check()
    for (const key of colliding) t.add(key)
    t.check()
  })
})
