/**
 * The per-node lease records (`mesh.lease/<node>/<name>`) of a node that left or died: the
 * leases' new owners fold them into their own records and remove them, without any call for
 * the leases, and without a stored mark ever going down or a token being issued twice.
 */
import type { MeshNode } from '@mesh/core'
import { waitUntil } from '@mesh/core/testing'
import { enableLeases, LEASE_CAPABILITY, lease } from '@mesh/recipes'
import * as prng from 'lib0/prng'
import { describe, expect, it } from 'vitest'
import { allDeclare, startCluster, startNode } from './helpers.js'

/** The highest mark any record of lease `name` holds on `node`. */
const storedMark = (node: MeshNode, name: string): number => {
  let mark = 0
  for (const [key, value] of node.data.entries()) {
    if (!key.startsWith('mesh.lease/') || !key.endsWith(`/${name}`)) continue
    const reserved = (value as { reserved?: unknown } | null)?.reserved
    if (typeof reserved === 'number') mark = Math.max(mark, reserved)
  }
  return mark
}

const recordsOf = (node: MeshNode, writer: string): string[] =>
  node.data.keys().filter((k) => k.startsWith(`mesh.lease/${writer}/`))

describe('lease records of gone nodes', () => {
  const seed = Number(process.env.MESH_SEED ?? Date.now() % 100_000)
  for (const how of ['leaves', 'dies'] as const) {
    it(`a node that ${how}: its records are removed once folded in, marks never go down, tokens keep growing (MESH_SEED=${String(seed)})`, async () => {
      const random = prng.create(seed)
      const nodes = await startCluster(3)
      for (const node of nodes) enableLeases(node)
      await allDeclare(nodes, LEASE_CAPABILITY)
      const goneIndex = prng.uint32(random, 0, 2)
      const gone = nodes[goneIndex]!
      const [a, b] = nodes.filter((n) => n !== gone) as [MeshNode, MeshNode]
      // Leases whose owner is the node that goes, so that it wrote their records.
      const names: string[] = []
      const count = prng.uint32(random, 3, 7)
      for (let i = 0; names.length < count; i++) {
        const name = `job-${String(seed)}-${String(i)}`
        if (a.ownerOf(LEASE_CAPABILITY, name)?.id === gone.id) names.push(name)
      }
      const handles = names.map((n) => lease(a, n, { ttlMs: 60_000 }))
      // A first grant waits for its reservation to reach the peers: on a loaded machine it may
      // miss the call's deadline, and is asked again (acquire is idempotent for a holder).
      const grants = await Promise.all(
        handles.map((h) => waitUntil(`a acquires ${h.name}`, () => h.acquire().catch(() => undefined))),
      )
      await waitUntil('the records reached a and b', () =>
        [a, b].every((n) => names.every((name) => n.has(`mesh.lease/${gone.id}/${name}`))),
      )

      // Invariant: the stored mark of each lease never goes down on a or b.
      const marks = new Map<string, number>()
      const drops: string[] = []
      for (const node of [a, b]) {
        node.on('change', () => {
          for (const name of names) {
            const key = `${node.name}/${name}`
            const mark = storedMark(node, name)
            if (mark < (marks.get(key) ?? 0)) drops.push(`${key}: ${String(marks.get(key))} -> ${String(mark)}`)
            marks.set(key, Math.max(mark, marks.get(key) ?? 0))
          }
        })
      }

      const before = names.map((name) => storedMark(a, name))
      if (how === 'leaves') await gone.close()
      else {
        for (const n of [a, b]) {
          n.cut(gone.id)
          gone.cut(n.id)
        }
      }
      await waitUntil(
        `a and b remove the records of the node that ${how}`,
        () => [a, b].every((n) => recordsOf(n, gone.id).length === 0),
        { timeoutMs: 20_000, intervalMs: 100 },
      )
      // Folded, not lost: each lease's record now comes from its new owner, with the mark.
      for (const [i, name] of names.entries()) {
        for (const n of [a, b]) {
          expect(storedMark(n, name), name).toBeGreaterThanOrEqual(before[i]!)
          expect(n.data.keys().filter((k) => k.endsWith(`/${name}`)).length, name).toBeGreaterThan(0)
        }
      }
      // The grants made by the gone owner still hold, and the next ones are larger.
      expect(await Promise.all(handles.map((h) => h.renew()))).toEqual(names.map(() => true))
      await Promise.all(handles.map((h) => h.release()))
      const next = await Promise.all(names.map((n) => lease(b, n).acquire()))
      for (const [i, name] of names.entries()) {
        expect(next[i]?.token, `${name}, MESH_SEED=${String(seed)}`).toBeGreaterThan(grants[i]!.token)
      }
      expect(drops).toEqual([])
    }, 60_000)
  }

  it('the shared key of earlier releases goes once the owner folded its mark in; tokens keep growing', async () => {
    const { node } = await startNode()
    await node.put('mesh.lease/legacy', {
      token: 7,
      reserved: 1000,
      holder: null,
      node: null,
      started: null,
      expiresAt: null,
    })
    const l = lease(node, 'legacy')
    const grant = await l.acquire()
    expect(grant?.token).toBeGreaterThan(1000)
    await waitUntil('the shared key is removed', () => !node.has('mesh.lease/legacy'), { timeoutMs: 10_000 })
    await l.release()
    expect((await l.acquire())?.token).toBeGreaterThan(grant!.token)
  })
})
