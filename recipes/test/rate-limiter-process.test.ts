import { waitUntil } from '@mesh/core/testing'
import { describe, expect, it } from 'vitest'
import { startProcess, startTrio, waitForMembers, type RecipeProcess } from './processes.js'

interface Take {
  allowed: boolean
  remaining: number
  window: number
  node: string
}
interface Stats {
  received: number
  maxTransitMs: number
}

/** Takes one unit of `key` through `p`. */
const take = async (p: RecipeProcess, key: string) => (await p.http<Take>(`/take/${key}`)).body

/** Waits until `p`'s limiter has heard counts from another process. */
const heard = (p: RecipeProcess) =>
  waitUntil(`${p.name} hears counts`, async () => (await p.http<Stats>('/limiter')).body.received > 0, {
    timeoutMs: 15_000,
  })

describe('rate limiter across processes', () => {
  it('3 processes, 1,000 requests spread over them against 100/s: allowed per window within limit + N x rate x d', async () => {
    const limit = 100
    const syncMs = 10 // the limiter's default
    const nodes = await startTrio({ MESH_LIMIT: String(limit), MESH_WINDOW_MS: '1000' })
    await take(nodes[0]!, 'warm-up')
    for (const p of nodes.slice(1)) await heard(p)

    const perWindow = new Map<number, { allowed: number; denied: number }>()
    // Three requests at a time, one per process.
    for (let i = 0; i < 1000; i += 3) {
      const replies = await Promise.all(nodes.slice(0, Math.min(3, 1000 - i)).map((p) => take(p, 'customer-1')))
      for (const r of replies) {
        const w = perWindow.get(r.window) ?? { allowed: 0, denied: 0 }
        w[r.allowed ? 'allowed' : 'denied']++
        perWindow.set(r.window, w)
      }
    }
    const stats = await Promise.all(nodes.map(async (p) => (await p.http<Stats>('/limiter')).body))
    const transit = Math.max(...stats.map((s) => s.maxTransitMs))
    const windows = [...perWindow.entries()].sort(([x], [y]) => x - y).map(([, w]) => w)
    // N x r: the busiest 1 s window's requests (the first and last windows are partial).
    const perNodeRate = Math.max(...windows.map((w) => w.allowed + w.denied)) / 3
    const bound = limit + 3 * perNodeRate * ((syncMs + transit) / 1000)
    console.log(
      `rate limiter, 3 processes: ${windows.map((w) => `${w.allowed}/${w.allowed + w.denied}`).join(' ')} allowed per window; ` +
        `per-node rate ${perNodeRate.toFixed(0)}/s, d = ${syncMs} ms + ${transit} ms transit, bound ${bound.toFixed(1)}`,
    )
    for (const w of windows) {
      expect(w.allowed).toBeLessThanOrEqual(bound)
      // A process refuses only once it knows of the limit taken: no window is short-changed.
      if (w.denied > 0) expect(w.allowed).toBeGreaterThanOrEqual(limit)
    }
  }, 90_000)

  it("a SIGKILLed process's replacement, or its restart under the same id, mid-window buys no fresh limit", async () => {
    // An hour-long window; a scenario that straddles two (unlikely) is run again.
    const env = { MESH_LIMIT: '10', MESH_WINDOW_MS: '3600000' }
    for (let attempt = 0; ; attempt++) {
      const [a, b, c] = (await startTrio(env)) as [RecipeProcess, RecipeProcess, RecipeProcess]
      const key = `k${String(attempt)}`
      const taken = await Promise.all(Array.from({ length: 12 }, () => take(b, key)))
      const windows = new Set(taken.map((t) => t.window))
      expect(taken.filter((t) => t.allowed)).toHaveLength(10)
      await waitUntil(
        "a and c heard of b's 10",
        async () => (await Promise.all([a, c].map((p) => take(p, key)))).every((t) => !t.allowed),
        { timeoutMs: 15_000 },
      )
      const bId = (await waitForMembers(a, 3)).find((m) => m.name === 'b')!.id
      await b.kill()
      const admitted: Take[] = []
      for (const [name, id] of [
        ['b', bId],
        ['d', ''],
      ] as const) {
        const p = await startProcess(name, { ...env, MESH_ID: id, MESH_JOIN: `${a.peerUrl},${c.peerUrl}` })
        await heard(p)
        const replies = await Promise.all(Array.from({ length: 5 }, () => take(p, key)))
        for (const r of replies) windows.add(r.window)
        admitted.push(...replies.filter((r) => r.allowed))
        await p.kill()
      }
      if (windows.size > 1 && attempt === 0) continue
      expect(windows.size).toBe(1)
      expect(admitted).toEqual([])
      return
    }
  }, 90_000)
})
