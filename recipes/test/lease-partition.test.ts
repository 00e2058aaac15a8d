/**
 * Leases across a partition (node.cut both ways, then heal): the holder on the cut-off side keeps
 * trying to renew while the other side grants the same leases again. After the heal the stored
 * state must not go back to the cut-off side's view. Only a side with a majority of the voting
 * members grants: a token is never granted to two holders.
 */
import type { MeshNode } from '@mesh/core'
import { enableLeases, LEASE_CAPABILITY, lease, type Lease } from '@mesh/recipes'
import { waitUntil } from '@mesh/core/testing'
import * as prng from 'lib0/prng'
import { describe, expect, it } from 'vitest'
import { allDeclare, allSee, startCluster } from './helpers.js'

/** The highest mark stored for lease `name` on `node`, over every record of it. */
const storedMark = (node: MeshNode, name: string): number => {
  let mark = 0
  for (const [key, value] of node.data.entries()) {
    if (!key.startsWith('mesh.lease/') || !(key === `mesh.lease/${name}` || key.endsWith(`/${name}`))) continue
    const reserved = (value as { reserved?: unknown } | null)?.reserved
    if (typeof reserved === 'number') mark = Math.max(mark, reserved)
  }
  return mark
}

/** True when no record of lease `name` on `node` names a holder. */
const storedFree = (node: MeshNode, name: string): boolean =>
  node.data
    .entries()
    .every(
      ([key, value]) =>
        !key.startsWith('mesh.lease/') ||
        !key.endsWith(`/${name}`) ||
        (value as { holder?: unknown } | null)?.holder == null,
    )

const cutBoth = (x: MeshNode, y: MeshNode, heal = false) => {
  if (heal) {
    x.heal(y.id)
    y.heal(x.id)
  } else {
    x.cut(y.id)
    y.cut(x.id)
  }
}

describe('lease across a partition', () => {
  const seed = Number(process.env.MESH_SEED ?? Date.now() % 100_000)
  it(`the side that renewed while cut off loses to the grants of the other side (MESH_SEED=${seed})`, async () => {
    const gen = prng.create(seed)
    const nodes = await startCluster(3)
    // The seed picks which node is cut off (b) and how many leases it holds.
    const bIndex = prng.uint32(gen, 0, 2)
    const b = nodes[bIndex]!
    const [a, c] = nodes.filter((n) => n !== b) as [MeshNode, MeshNode]
    const names = Array.from({ length: prng.uint32(gen, 8, 16) }, (_, i) => `leader-${i}`)
    const lb = names.map((n) => lease(b, n, { ttlMs: 30_000 }))
    const lc = names.map((n) => lease(c, n, { ttlMs: 30_000 }))
    for (const node of nodes) enableLeases(node)
    await allDeclare(nodes, LEASE_CAPABILITY)

    // Invariant: the stored mark never decreases on any node.
    const marks = new Map<string, number>()
    const drops: string[] = []
    const watch = (node: MeshNode) =>
      node.on('change', () => {
        for (const name of names) {
          const key = `${node.name}/${name}`
          const mark = storedMark(node, name)
          const before = marks.get(key) ?? 0
          if (mark < before) drops.push(`${key}: ${String(before)} -> ${String(mark)}`)
          marks.set(key, Math.max(mark, before))
        }
      })
    for (const node of nodes) watch(node)
    // Invariant: the tokens granted for one lease strictly increase over time, whoever grants.
    const granted = new Map<string, number[]>(names.map((n) => [n, []]))
    const take = async (l: Lease) => {
      const grant = await l.acquire()
      if (grant) granted.get(l.name)!.push(grant.token)
      return grant
    }

    expect((await Promise.all(lb.map(take))).every((g) => g !== undefined)).toBe(true)
    const renewing = { on: true }
    const renewLoop = (async () => {
      while (renewing.on) {
        await Promise.all(lb.map((l) => l.renew().catch(() => false)))
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
    })()
    cutBoth(b, a)
    cutBoth(b, c)
    await waitUntil('a and c see b dead', () =>
      [a, c].every((n) => n.members().find((m) => m.id === b.id)?.state === 'dead'),
    )
    const cSide = await Promise.all(
      lc.map((l) => waitUntil(`c acquires ${l.name}`, () => take(l), { intervalMs: 100 })),
    )
    cutBoth(b, a, true)
    cutBoth(b, c, true)
    await allSee(nodes, (alive) => alive.length === 3)
    // Converged: every node sees c's grant as the lease's state, and b's renew fails.
    for (const [i, name] of names.entries()) {
      await waitUntil(`every node sees c's grant of ${name}`, async () => {
        const seen = await Promise.all(nodes.map((n) => lease(n, name).holder()))
        return seen.every((h) => h?.token === cSide[i]!.token && h.node === c.id)
      })
    }
    renewing.on = false
    await renewLoop
    expect(await Promise.all(lb.map((l) => l.renew()))).toEqual(names.map(() => false))
    expect(await Promise.all(lc.map((l) => l.renew()))).toEqual(names.map(() => true))
    // The next grant, from a fresh handle on a, is above every token granted before.
    await Promise.all(lc.map((l) => l.release()))
    const la = names.map((n) => lease(a, n, { ttlMs: 30_000 }))
    expect((await Promise.all(la.map(take))).every((g) => g !== undefined)).toBe(true)
    for (const name of names) {
      const tokens = granted.get(name)!
      for (let k = 1; k < tokens.length; k++)
        expect(tokens[k], `${name}: ${tokens.join()}`).toBeGreaterThan(tokens[k - 1]!)
    }
    expect(drops).toEqual([])
  }, 60_000)

  /** Partitions `nodes` into `sides` (every link between two sides cut both ways), or heals them. */
  const split = (sides: MeshNode[][], heal = false) => {
    for (const [i, side] of sides.entries())
      for (const other of sides.slice(i + 1)) for (const x of side) for (const y of other) cutBoth(x, y, heal)
  }

  for (const shape of ['2|1', '1|1|1'] as const) {
    it(`split ${shape}: only a majority side grants, no token is ever granted to two holders, and after the heal grants go on above every token (MESH_SEED=${seed})`, async () => {
      const gen = prng.create(seed)
      const nodes = await startCluster(3)
      for (const node of nodes) enableLeases(node)
      await allDeclare(nodes, LEASE_CAPABILITY)
      const names = Array.from({ length: prng.uint32(gen, 4, 8) }, (_, i) => `side-${i}`)
      /** Every grant made, by lease: token and holder. */
      const granted = new Map<string, Array<{ token: number; holderId: string }>>(names.map((n) => [n, []]))
      const take = async (l: Lease) => {
        const grant = await l.acquire()
        if (grant) granted.get(l.name)!.push({ token: grant.token, holderId: grant.holderId })
        return grant
      }
      // One grant each before the partition, so that every node holds a mark.
      const first = nodes[prng.uint32(gen, 0, 2)]!
      for (const name of names) {
        const l = lease(first, name)
        expect(await take(l)).toBeDefined()
        await l.release()
      }
      await waitUntil('every node holds every mark and release', () =>
        nodes.every((n) => names.every((name) => storedMark(n, name) > 0 && storedFree(n, name))),
      )
      // The seed picks the node alone on its side in 2|1.
      const shuffled = [...nodes]
      const k = prng.uint32(gen, 0, 2)
      ;[shuffled[0], shuffled[k]] = [shuffled[k]!, shuffled[0]!]
      const sides = shape === '2|1' ? [[shuffled[0]], shuffled.slice(1)] : nodes.map((n) => [n])
      split(sides)
      await waitUntil('each node sees the nodes of the other sides dead', () =>
        sides.every((side) =>
          side.every((n) => n.members().filter((m) => m.state === 'dead').length === nodes.length - side.length),
        ),
      )
      const majority = sides.find((side) => side.length === 2)
      for (const side of sides) {
        for (const node of side) {
          for (const name of names) {
            const l = lease(node, name, { ttlMs: 30_000 })
            if (side !== majority) {
              // A minority side answers with a clear error, and grants nothing.
              await expect(take(l)).rejects.toThrow(/no quorum/)
              continue
            }
            // The majority side's owner may be on the other side at first: it moves once it is dead.
            const grant = await waitUntil(`${node.name} acquires ${name}`, () => take(l).catch(() => undefined), {
              intervalMs: 100,
              timeoutMs: 15_000,
            })
            await l.release()
            expect(grant.token).toBeGreaterThan(0)
          }
        }
      }
      split(sides, true)
      await allSee(nodes, (alive) => alive.length === 3)
      // After the heal, every node grants above every token granted before.
      for (const node of nodes) {
        for (const name of names) {
          const l = lease(node, name, { ttlMs: 30_000 })
          await waitUntil(`${node.name} acquires ${name} after the heal`, () => take(l).catch(() => undefined), {
            intervalMs: 100,
            timeoutMs: 15_000,
          })
          await l.release()
        }
      }
      for (const name of names) {
        const grants = granted.get(name)!
        // Granted in this order, one at a time: each token above the last, so never one twice.
        for (let i = 1; i < grants.length; i++)
          expect(grants[i]!.token, `${name}: ${grants.map((g) => g.token).join()}`).toBeGreaterThan(
            grants[i - 1]!.token,
          )
        expect(new Set(grants.map((g) => g.token)).size).toBe(grants.length)
        if (majority === undefined) expect(grants).toHaveLength(1 + nodes.length)
      }
    }, 120_000)
  }
})
