import { fileURLToPath } from 'node:url'
import { waitUntil } from '@mesh/core/testing'
import { afterEach, describe, expect, it } from 'vitest'
import { stopAll, type MeshProcess } from '../harness.js'
import { startCluster, type MeshCluster } from './cluster.js'

const ACTORS = fileURLToPath(new URL('../fixtures/actors.mjs', import.meta.url))

let cluster: MeshCluster | undefined
afterEach(async () => {
  await cluster?.close()
  cluster = undefined
  await stopAll()
})

interface Answer {
  id: string
  n: number
  node: string
}

const call = async (node: MeshProcess, id: string, add: number): Promise<Answer> => {
  const res = await node.api<Answer>(`/call/counter/${id}?timeoutMs=20000`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ add }),
  })
  if (res.status !== 200) throw new Error(`call on ${node.name}: ${res.status} ${JSON.stringify(res.body)}`)
  return res.body
}

/** Waits until `node` sees exactly `names` alive (members declaring `counter`). */
const seesAlive = (node: MeshProcess, names: string[]) =>
  waitUntil(
    `${node.name} sees exactly ${names.join(', ')} alive`,
    async () => {
      const members = (await node.api<Array<{ name: string; state: string }>>('/members')).body
      return (
        members
          .filter((m) => m.state === 'alive')
          .map((m) => m.name)
          .sort()
          .join() === [...names].sort().join()
      )
    },
    { timeoutMs: 20_000 },
  )

/** Live actors on a node, from its metrics. */
const actors = async (node: MeshProcess): Promise<number> => {
  const text = (await node.api<string>('/metrics')).body
  return Number(/^mesh_actors (\d+)$/m.exec(text)?.[1] ?? NaN)
}

describe('capability routing through a partition (fault proxies)', () => {
  it('both sides own the shard during a partition; after heal one owner remains and the other actor stops', async () => {
    cluster = await startCluster({
      size: 4,
      prefix: 'r',
      args: ['--actors', ACTORS, '--heartbeat-ms', '100', '--dead-after-ms', '1500'],
    })
    const nodes = cluster.nodes.map((n) => n.current)
    const names = nodes.map((n) => n.name)
    await cluster.waitLinked()
    for (const node of nodes) await seesAlive(node, names)

    const id = 'room-1'
    const owner = (await call(nodes[0]!, id, 1)).node
    const ownerIndex = names.indexOf(owner)
    const sides =
      ownerIndex < 2
        ? [
            [0, 1],
            [2, 3],
          ]
        : [
            [2, 3],
            [0, 1],
          ]
    const [ownSide, otherSide] = sides as [number[], number[]]

    cluster.partition([
      [0, 1],
      [2, 3],
    ])
    for (const side of sides)
      for (const i of side)
        await seesAlive(
          nodes[i]!,
          side.map((j) => names[j]!),
        )

    // Each side routes to an owner of its own: the old owner keeps its actor and state, the other side starts one.
    const kept = await call(nodes[ownSide[0]!]!, id, 1)
    expect(kept).toMatchObject({ node: owner, n: 2 })
    const second = await call(nodes[otherSide[0]!]!, id, 1)
    expect(otherSide.map((i) => names[i])).toContain(second.node)
    expect(second.n).toBe(1)
    const counts = await Promise.all(nodes.map(actors))
    expect(counts.reduce((a, b) => a + b, 0)).toBe(2)

    cluster.healLinks()
    await cluster.waitLinked({ timeout: 30_000 })
    for (const node of nodes) await seesAlive(node, names)
    // The side that lost the shard stops its actor: one actor for the id in the whole mesh.
    await waitUntil(
      'exactly one live actor after the heal',
      async () => (await Promise.all(nodes.map(actors))).reduce((a, b) => a + b, 0) === 1,
      { timeoutMs: 20_000 },
    )
    expect(await actors(nodes[ownerIndex]!)).toBe(1)
    const after = []
    for (const node of nodes) after.push(await call(node, id, 1))
    expect(after.map((a) => a.node)).toEqual([owner, owner, owner, owner])
    expect(after.map((a) => a.n)).toEqual([3, 4, 5, 6])
  })
})
