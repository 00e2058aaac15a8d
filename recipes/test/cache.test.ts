import { CACHE_CAPABILITY, cache } from '@mesh/recipes'
import { waitUntil } from '@mesh/core/testing'
import { describe, expect, it } from 'vitest'
import { allDeclare, startCluster } from './helpers.js'
import { startTrio } from './processes.js'

describe('cache', () => {
  it('30 concurrent callers on 3 nodes: one computation in the cluster, everyone gets its value', async () => {
    const nodes = await startCluster(3)
    const caches = nodes.map((node) => cache(node, { name: 'users', ttlMs: 60_000 }))
    await allDeclare(nodes, CACHE_CAPABILITY)
    let computed = 0
    const compute = async () => {
      computed++
      // Slow enough that every caller asks while the computation runs.
      await new Promise((resolve) => setTimeout(resolve, 100))
      return { name: 'Ada', n: computed }
    }
    const answers = await Promise.all(
      Array.from({ length: 30 }, (_, i) => caches[i % 3]!.getOrCompute('user:1', compute)),
    )
    expect(computed).toBe(1)
    expect(new Set(answers.map((a) => JSON.stringify(a)))).toEqual(new Set([JSON.stringify({ name: 'Ada', n: 1 })]))
    // Later reads are local.
    expect(await caches[2]!.getOrCompute('user:1', compute)).toEqual({ name: 'Ada', n: 1 })
    expect(computed).toBe(1)
  })

  it('recomputes once after the TTL; with staleMs, waiters get the stale value meanwhile', async () => {
    const nodes = await startCluster(2)
    const [a, b] = nodes.map((node) => cache(node, { name: 'stale', ttlMs: 150, staleMs: 60_000 }))
    await allDeclare(nodes, CACHE_CAPABILITY)
    let computed = 0
    let release: () => void = () => {}
    const slow = () =>
      new Promise<number>((resolve) => {
        computed++
        release = () => resolve(computed)
      })
    const first = a!.getOrCompute('k', slow)
    await waitUntil('the first computation started', () => computed === 1)
    release()
    expect(await first).toBe(1)
    await waitUntil('b holds the value', () => nodes[1]!.has('mesh.cache/stale/k'))
    await waitUntil('the value is past its TTL', () => {
      const stored = nodes[1]!.get<{ freshUntil: number }>('mesh.cache/stale/k')
      return stored !== undefined && stored.freshUntil < Date.now()
    })
    // a recomputes (slowly); b gets the stale value meanwhile, without computing.
    const second = a!.getOrCompute('k', slow)
    await waitUntil('the second computation started', () => computed === 2)
    expect(await b!.getOrCompute('k', slow)).toBe(1)
    release()
    expect(await second).toBe(2)
    await waitUntil('b sees the recomputed value', async () => (await b!.getOrCompute('k', slow)) === 2)
    expect(computed).toBe(2)
  })

  it('a failing computation rejects its caller, and a waiting caller computes instead', async () => {
    const nodes = await startCluster(2)
    const [a, b] = nodes.map((node) => cache(node, { name: 'fail', ttlMs: 60_000 }))
    await allDeclare(nodes, CACHE_CAPABILITY)
    let fail: ((error: Error) => void) | undefined
    const failing = a!.getOrCompute('k', () => new Promise<number>((_, reject) => (fail = reject)))
    await waitUntil('a computes', () => fail !== undefined)
    const waiting = b!.getOrCompute('k', () => 42)
    fail!(new Error('database down'))
    await expect(failing).rejects.toThrow('database down')
    expect(await waiting).toBe(42)
  })
})

describe('cache across processes', () => {
  it('3 processes, 30 concurrent requests: one computation in the cluster, the same value everywhere', async () => {
    // Every process declares mesh.cache at startup; wait until each sees all three do.
    const all = await startTrio({}, CACHE_CAPABILITY)
    const replies = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        all[i % 3]!.http<{ value: { by: string; at: number }; computations: number }>('/cache/report'),
      ),
    )
    expect(replies.every((r) => r.status === 200)).toBe(true)
    expect(new Set(replies.map((r) => JSON.stringify(r.body.value))).size).toBe(1)
    // Each process counts the computations it ran; asking again is a local hit everywhere.
    const counts = await Promise.all(all.map((p) => p.http<{ computations: number }>('/cache/report')))
    expect(counts.reduce((sum, r) => sum + r.body.computations, 0)).toBe(1)
  })
})
