import { rateLimiter, type MessageBus } from '@mesh/recipes'
import type { JsonValue } from '@mesh/core'
import { waitUntil } from '@mesh/core/testing'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { startCluster, startNode } from './helpers.js'

const tick = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** An in-process bus: what one limiter publishes, every subscriber (itself included) gets at once. */
const fakeBus = () => {
  const handlers = new Set<(payload: JsonValue) => void>()
  const bus: MessageBus = {
    publish: (_topic, payload) => {
      for (const h of handlers) h(payload)
    },
    subscribe: (_topic, handler) => {
      handlers.add(handler)
      return () => handlers.delete(handler)
    },
  }
  return { bus, publish: (payload: JsonValue) => bus.publish('t', payload) }
}
const fakeNode = { id: 'self', logger: { debug() {}, info() {}, warn() {}, error() {} }, on: () => () => {} }

afterEach(() => {
  vi.useRealTimers()
})

describe('rateLimiter', () => {
  it('decides locally: a single node allows exactly the limit per window', async () => {
    const { node } = await startNode()
    const limiter = rateLimiter(node, { name: 'solo', limit: 5, windowMs: 60_000 })
    const results = Array.from({ length: 8 }, () => limiter.take('customer-1'))
    expect(results.filter((r) => r.allowed)).toHaveLength(5)
    expect(results[4]).toMatchObject({ allowed: true, remaining: 0 })
    expect(results[5]).toMatchObject({ allowed: false, remaining: 0 })
    expect(limiter.take('customer-2', 5)).toMatchObject({ allowed: true, remaining: 0 })
    expect(limiter.take('customer-2')).toMatchObject({ allowed: false })
    expect(() => limiter.take('x', 0)).toThrow('n must be')
    limiter.close()
  })

  it('3 nodes, 1,000 requests spread over them against 100/s: allowed per window within limit + N x rate x d', async () => {
    const nodes = await startCluster(3)
    const limit = 100
    const windowMs = 1000
    const syncMs = 10
    const limiters = nodes.map((node) => rateLimiter(node, { name: 'api', limit, windowMs, syncMs }))
    // Every node subscribed everywhere before the load starts: one message crosses the mesh.
    limiters[0]!.take('warm-up')
    await waitUntil('the warm-up count reaches every node', () =>
      limiters.slice(1).every((l) => l.stats().received > 0),
    )

    const perWindow = new Map<number, { allowed: number; denied: number }>()
    const started = Date.now()
    for (let i = 0; i < 1000; i++) {
      const before = Date.now()
      const result = limiters[i % 3]!.take('customer-1')
      const window = Math.floor(before / windowMs)
      // A take on a window boundary cannot be told to one window: it stays out of the tally.
      if (Math.floor(Date.now() / windowMs) === window) {
        const w = perWindow.get(window) ?? { allowed: 0, denied: 0 }
        w[result.allowed ? 'allowed' : 'denied']++
        perWindow.set(window, w)
      }
      // About 400 requests per second in all, in bursts of 4 every 10 ms.
      if (i % 4 === 3) await tick(10)
    }
    const seconds = (Date.now() - started) / 1000
    const perNodeRate = 1000 / 3 / seconds
    const transit = Math.max(...limiters.map((l) => l.stats().maxTransitMs))
    const d = (syncMs + transit) / 1000
    const bound = limit + 3 * perNodeRate * d
    const summary = [...perWindow.values()].map((w) => `${w.allowed}/${w.allowed + w.denied}`).join(' ')
    console.log(
      `rate limiter: ${summary} allowed per window; per-node rate ${perNodeRate.toFixed(0)}/s, ` +
        `d = ${syncMs} ms + ${transit} ms transit, bound ${bound.toFixed(1)}`,
    )
    for (const w of perWindow.values()) {
      // The rate in the bound is the window's own: a busy machine slows the run as a whole,
      // so its average understates the bursts that land in one window.
      const windowRate = (w.allowed + w.denied) / (windowMs / 1000)
      expect(w.allowed).toBeLessThanOrEqual(Math.max(bound, limit + windowRate * d))
      // A node refuses only once it knows of the limit taken: no window is short-changed.
      if (w.denied > 0) expect(w.allowed).toBeGreaterThanOrEqual(limit)
    }
    for (const l of limiters) l.close()
  })

  it('during a partition each side limits on what it knows, and counts flow again after the heal', async () => {
    const [a, b] = await startCluster(2)
    const windowMs = 3_600_000 // one window for the whole test
    const [la, lb] = [a!, b!].map((node) => rateLimiter(node, { name: 'split', limit: 10, windowMs, syncMs: 0 }))
    a!.cut(b!.id)
    await waitUntil('the link is down on both sides', () => a!.status().peers.every((p) => p.link !== 'open'))
    const allowedOn = (l: typeof la, n: number) =>
      Array.from({ length: n }, () => l!.take('k')).filter((r) => r.allowed).length
    expect(allowedOn(la, 15)).toBe(10)
    expect(allowedOn(lb, 15)).toBe(10)
    a!.heal(b!.id)
    // Each side sends its counts again when the link comes back up: no new take is needed.
    await waitUntil('both hear of the other', () => la!.stats().received > 0 && lb!.stats().received > 0)
    // Both know of 20 taken now: nothing passes on either side until the window ends.
    expect(la!.take('k')).toMatchObject({ allowed: false, remaining: 0 })
    expect(lb!.take('k')).toMatchObject({ allowed: false, remaining: 0 })
  })

  it('a node restarted with the same id, or replaced, mid-window buys no fresh limit', async () => {
    // An hour-long window: the test never straddles two.
    const options = { name: 'api', limit: 10, windowMs: 3_600_000 }
    const [a] = await startCluster(1)
    const first = await startNode({ name: 'b', id: 'node-b' })
    await first.node.join([a!.url])
    const ra = rateLimiter(a!, options)
    const rb = rateLimiter(first.node, options)
    let admitted = 0
    for (let i = 0; i < 10; i++) if (rb.take('k').allowed) admitted++
    await waitUntil("a heard of b's counts", () => ra.stats().received > 0)
    rb.close()
    await first.close()
    for (const id of ['node-b', 'node-c']) {
      const again = await startNode({ name: id, id })
      await again.node.join([a!.url])
      const r = rateLimiter(again.node, options)
      await waitUntil(`${id} learned the window's counts`, () => r.stats().received > 0)
      for (let i = 0; i < 10; i++) if (r.take('k').allowed) admitted++
      r.close()
      await again.close()
    }
    expect(admitted).toBe(10)
    expect(ra.take('k').allowed).toBe(false)
  })

  it('bounds a forged counter: no count above the limit, nothing for a window beyond the next, the next only near its start', () => {
    const windowMs = 3_600_000
    const start = 500_000 * windowMs
    vi.useFakeTimers({ toFake: ['Date'] })
    vi.setSystemTime(start + 10 * 60_000) // ten minutes into a window
    const { bus, publish } = fakeBus()
    const limiter = rateLimiter(fakeNode as never, { name: 'forged', limit: 10, windowMs, bus })
    const window = start / windowMs
    const forged = (w: number, counts: Record<string, number>) =>
      publish({ node: `forger-${Math.random()}`, window: w, at: Date.now(), counts })
    forged(window, { a: 1_000_000 }) // more than the limit: no honest instance takes that
    forged(window + 1, { b: 10 }) // the next window, fifty minutes ahead: no clock is that far off
    forged(window + 2, { c: 10 })
    expect(['a', 'b', 'c'].map((k) => limiter.take(k).remaining)).toEqual([9, 9, 9])
    // An honest node whose clock runs ahead publishes for the next window just before it starts.
    vi.setSystemTime(start + windowMs - 200)
    publish({ node: 'ahead', window: window + 1, at: Date.now(), counts: { d: 4 } })
    vi.setSystemTime(start + windowMs)
    expect(['a', 'b', 'c', 'd'].map((k) => limiter.take(k).remaining)).toEqual([9, 9, 9, 5])
    limiter.close()
  })

  it('takes any bus with publish and subscribe (here an in-process fake), and ignores malformed counters', () => {
    const { bus } = fakeBus()
    const limiter = rateLimiter(fakeNode as never, { name: 'fake', limit: 10, windowMs: 60_000, bus })
    const window = Math.floor(Date.now() / 60_000)
    for (const payload of [null, 'x', { node: 'other', window, at: 0, counts: { k: 'lots' } }, { node: 'other' }]) {
      bus.publish('t', payload as JsonValue)
    }
    expect(limiter.take('k')).toMatchObject({ allowed: true, remaining: 9 })
    bus.publish('t', { node: 'other', window, at: Date.now(), counts: { k: 7 } })
    bus.publish('t', { node: 'other', window, at: Date.now(), counts: { k: 3 } }) // merged by max: still 7
    expect(limiter.take('k')).toMatchObject({ allowed: true, remaining: 1 })
    expect(limiter.take('k', 2)).toMatchObject({ allowed: false, remaining: 1 })
    limiter.close()
  })
})
