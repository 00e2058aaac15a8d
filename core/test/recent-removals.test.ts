import v8 from 'node:v8'
import vm from 'node:vm'
import { describe, expect, it } from 'vitest'
import { MAX_SHARED_KEYS, RecentRemovals } from '../src/store/recent-removals.js'

v8.setFlagsFromString('--expose-gc')
const gc = vm.runInNewContext('gc') as () => void

/** Live heap after full collections. */
const liveHeap = (): number => {
  gc()
  gc()
  return process.memoryUsage().heapUsed
}

/** A fresh string object equal to `key ${n}`: what each decoded entry carries. */
const copyOf = (base: string, n: number): string => JSON.parse(JSON.stringify(`${base}${n}`)) as string

describe('RecentRemovals', () => {
  it('remembers the last removals, oldest overwritten, whatever their keys share', () => {
    const removals = new RecentRemovals(5)
    for (let i = 0; i < 12; i++) removals.add(1000 + i, i, copyOf('k', i % 3))
    const seen: string[] = []
    removals.forEach((client, clock, key) => seen.push(`${client}:${clock}:${key}`))
    expect(seen.sort()).toEqual(['1007:7:k1', '1008:8:k2', '1009:9:k0', '1010:10:k1', '1011:11:k2'])
  })

  it('keeps one string per key, not one per removal: a key overwritten 10,000 times costs the memory no more than once', () => {
    const long = 'x'.repeat(1000)
    const removals = new RecentRemovals(10_000)
    const before = liveHeap()
    // Ten keys of 1,000 characters, each removal with its own copy of its key, as decoded.
    for (let i = 0; i < 10_000; i++) removals.add(1, i, copyOf(long, i % 10))
    const grown = liveHeap() - before
    // One copy per removal held about 10 MB; shared, ten strings (10 KB) and the small table.
    expect(grown).toBeLessThan(1024 * 1024)
    let count = 0
    removals.forEach((_client, clock, key) => {
      expect(key).toBe(`${long}${clock % 10}`)
      count++
    })
    expect(count).toBe(10_000)
  })

  it('past MAX_SHARED_KEYS distinct keys, removals keep their own keys and sharing goes on for the keys already shared', () => {
    const removals = new RecentRemovals(10_000)
    // More distinct keys than are shared, then a key shared before the table filled.
    for (let i = 0; i < MAX_SHARED_KEYS + 500; i++) removals.add(1, i, copyOf('key-', i))
    removals.add(1, 99_999, copyOf('key-', 0))
    const keys: string[] = []
    removals.forEach((_client, clock, key) => clock === 99_999 && keys.push(key))
    expect(keys).toEqual(['key-0'])
  })
})
