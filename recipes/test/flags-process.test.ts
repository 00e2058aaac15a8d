import { waitUntil } from '@mesh/core/testing'
import { describe, expect, it } from 'vitest'
import { startProcess, startTrio, waitForMembers, type RecipeProcess } from './processes.js'

interface Audit {
  name: string
  by: string
  byName: string | undefined
  via: string
}

const put = async (p: RecipeProcess, name: string, value: unknown): Promise<string> => {
  const res = await p.http<{ node: string }>(`/flags/${name}`, { method: 'PUT', body: JSON.stringify(value) })
  expect(res.status).toBe(200)
  return res.body.node
}

/** An object as JSON with its keys sorted. */
const sorted = (value: unknown): string =>
  JSON.stringify(Object.entries(value as Record<string, unknown>).sort(([x], [y]) => (x < y ? -1 : 1)))

/** Waits until every process serves `flags` as its whole set of flags. */
const allServe = async (processes: RecipeProcess[], flags: Record<string, unknown>) => {
  for (const p of processes) {
    await waitUntil(
      `${p.name} serves ${JSON.stringify(flags)}`,
      // Key order is each replica's own, not part of the state.
      async () => sorted((await p.http('/flags')).body) === sorted(flags),
      { timeoutMs: 15_000 },
    )
  }
}

const typed = async (p: RecipeProcess, name: string, fallback: unknown) =>
  (await p.http<{ value: unknown; type: string }>(`/flags/${name}?fallback=${JSON.stringify(fallback)}`)).body

describe('flags across processes', () => {
  it('set on one process, read typed on the others, kept through a SIGKILL and a restart under the same id, audited', async () => {
    const [a, b, c] = (await startTrio()) as [RecipeProcess, RecipeProcess, RecipeProcess]
    const aId = await put(a, 'dark-mode', true)
    const cId = await put(c, 'max-items', 25)
    await allServe([a, b, c], { 'dark-mode': true, 'max-items': 25 })
    for (const p of [a, b, c]) {
      expect(await typed(p, 'dark-mode', false)).toEqual({ value: true, type: 'boolean' })
      expect(await typed(p, 'max-items', 100)).toEqual({ value: 25, type: 'number' })
      // A reader that expects another type gets its fallback, never the stored number.
      expect(await typed(p, 'max-items', 'many')).toEqual({ value: 'many', type: 'string' })
    }

    // b dies without a goodbye and comes back under the same id, with no data of its own.
    const bId = (await waitForMembers(b, 3)).find((m) => m.name === 'b')!.id
    await b.kill()
    const b2 = await startProcess('b', { MESH_ID: bId, MESH_JOIN: `${a.peerUrl},${c.peerUrl}` })
    await allServe([b2], { 'dark-mode': true, 'max-items': 25 })
    expect(await typed(b2, 'dark-mode', false)).toEqual({ value: true, type: 'boolean' })
    // Its changes reach the others as before.
    expect(await put(b2, 'dark-mode', false)).toBe(bId)
    await allServe([a, b2, c], { 'dark-mode': false, 'max-items': 25 })

    // The audit trail on a: who changed what, and how it arrived.
    const audit = (await a.http<Audit[]>('/audit')).body
    expect(audit.filter((e) => e.name === 'dark-mode').map((e) => [e.by, e.byName, e.via])).toEqual([
      [aId, 'a', 'local'],
      [bId, 'b', expect.stringMatching(/^peer:/)],
    ])
    expect(audit.filter((e) => e.name === 'max-items').map((e) => [e.by, e.byName])).toEqual([[cId, 'c']])
  }, 60_000)
})
