import type { MeshNode } from '@mesh/core'
import { waitUntil } from '@mesh/core/testing'
import * as prng from 'lib0/prng'
import { afterEach, describe, expect, it } from 'vitest'
import { serveNode, type ServedNode } from './helpers.js'
import { startSwitch, type PartitionSwitch } from './partition-switch.js'

const seed = Number(process.env.MESH_SEED ?? Math.floor(Math.random() * 2 ** 31))
const DEAD_AFTER_MS = 300
const timing = { membership: { heartbeatMs: 50, deadAfterMs: DEAD_AFTER_MS } }

const served: ServedNode[] = []
let network: PartitionSwitch | undefined
afterEach(async () => {
  for (const s of served.splice(0)) await s.close()
  await network?.close()
  network = undefined
})

const canonical = (node: MeshNode): string =>
  JSON.stringify(Object.entries(node.data.toJSON()).sort(([a], [b]) => (a < b ? -1 : 1)))

const linkedTo = (node: MeshNode, others: readonly MeshNode[]) =>
  others.every((o) => node.status().peers.some((p) => p.id === o.id && p.link === 'open'))

describe(`a partition longer than the failure bound heals by itself (MESH_SEED=${seed})`, () => {
  it('4 nodes found by gossip, split 2|2 for 3x deadAfterMs by the network: every link, member, write and ephemeral key comes back', async () => {
    const gen = prng.create(seed)
    network = startSwitch()
    const start = async (name: string) => {
      const s = await serveNode({ name, ...timing })
      served.push(s)
      // Every link crosses the switch: the node advertises the switch's port, which gossip spreads.
      s.node.url = await network!.front(s.port, s.node.id)
      return s.node
    }
    // A bootstrap node that every other node joins, then goes away (a replaced pod): after it,
    // only links that gossip found hold the mesh together.
    const bootstrap = await start('bootstrap')
    const nodes: MeshNode[] = []
    for (let i = 0; i < 4; i++) nodes.push(await start(`n${i}`))
    for (const node of nodes) await node.join([bootstrap.url])
    for (const node of nodes) {
      await waitUntil(`${node.name} linked to every node by gossip`, () =>
        linkedTo(
          node,
          nodes.filter((o) => o !== node),
        ),
      )
    }
    for (const node of nodes) await node.put(`eph:${node.name}`, node.name, { ephemeral: true })
    await served.shift()!.close()
    await waitUntil('every node saw the bootstrap node leave', () =>
      nodes.every((n) => n.members().find((m) => m.id === bootstrap.id)?.state === 'left'),
    )

    const order = [...nodes]
    for (let i = order.length - 1; i > 0; i--) {
      const j = prng.int32(gen, 0, i)
      ;[order[i], order[j]] = [order[j]!, order[i]!]
    }
    const sides = [order.slice(0, 2), order.slice(2)] as const
    const trace = `sides ${sides.map((s) => s.map((n) => n.name).join('+')).join(' | ')}`
    network.partition(sides.map((side) => side.map((n) => n.id)))
    const written = new Map<string, number>()
    for (const node of nodes) {
      const value = prng.int32(gen, 0, 1_000_000)
      await node.put(`during:${node.name}`, value)
      written.set(`during:${node.name}`, value)
    }
    const across = (node: MeshNode) => (sides[0].includes(node) ? sides[1] : sides[0])
    // Both sides judge the other dead, and the split lasts 3x the failure bound.
    for (const node of nodes) {
      await waitUntil(`${node.name} saw the other side dead for 3x deadAfterMs (${trace})`, () =>
        across(node).every((o) => {
          const m = node.members().find((x) => x.id === o.id)
          return m?.state === 'dead' && Date.now() - m.lastSeen > 3 * DEAD_AFTER_MS
        }),
      )
    }
    network.heal()
    const healedAt = Date.now()

    const detail = () =>
      nodes
        .map(
          (n) =>
            `${n.name}: ${JSON.stringify(n.status().peers.map((p) => [p.id?.slice(0, 6), p.link, p.url]))} ` +
            `members ${JSON.stringify(n.members().map((m) => [m.name, m.state]))}`,
        )
        .join('\n')
    try {
      for (const node of nodes) {
        const others = nodes.filter((o) => o !== node)
        await waitUntil(`${node.name} linked to every node again (${trace})`, () => linkedTo(node, others), {
          timeoutMs: 30_000,
        })
        await waitUntil(`${node.name} sees every node alive (${trace})`, () =>
          others.every((o) => node.members().find((m) => m.id === o.id)?.state === 'alive'),
        )
      }
      console.info(`every link open again ${Date.now() - healedAt} ms after the network healed (${trace})`)
      // Each side swept the other side's ephemeral keys; their owners, alive, write them back.
      const complete = (n: MeshNode) =>
        [...written].every(([key, value]) => n.get(key) === value) &&
        nodes.every((owner) => n.get(`eph:${owner.name}`) === owner.name)
      await waitUntil(
        `replicas equal, with every write of the split and every ephemeral key (${trace})`,
        () =>
          nodes.every(
            (n) => complete(n) && canonical(n) === canonical(nodes[0]!) && !n.status().rooms.default?.pending,
          ),
        { timeoutMs: 15_000 },
      )
    } catch (error) {
      throw new Error(`${String(error)}\n${detail()}\nreplay with MESH_SEED=${seed}`)
    }
    const data = nodes[0]!.data.toJSON()
    for (const [key, value] of written) expect(data[key], `${key} written during the split (${trace})`).toBe(value)
    for (const node of nodes)
      expect(data[`eph:${node.name}`], `${node.name}'s ephemeral key (${trace})`).toBe(node.name)
  }, 120_000)
})
