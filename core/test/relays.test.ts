/**
 * Relays without duplicates (issue 19): a node sends an update neither back to the link it came
 * from nor to a peer that gets it straight from the node it came from, so in a full mesh every
 * replica applies each update once, while chains, stars and any connected topology still carry
 * every write everywhere (DESIGN §6), also when a link dies mid-traffic. Anti-entropy is off in
 * every test here: what converges, converges on the normal path.
 */
import type { MeshNode, MeshNodeOptions } from '@mesh/core'
import { nodeEvents, waitUntil } from '@mesh/core/testing'
import * as prng from 'lib0/prng'
import type { Socket } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { serveNode, type ServedNode } from './helpers.js'

const seed = Number(process.env.MESH_SEED ?? Math.floor(Math.random() * 2 ** 31))

const served: ServedNode[] = []
afterEach(async () => {
  for (const s of served.splice(0)) await s.close()
})

/** Only the links a test wires, slow heartbeats, and no anti-entropy to paper over a gap. */
const QUIET: MeshNodeOptions = {
  maxPeers: 0,
  membership: { heartbeatMs: 60_000, deadAfterMs: 300_000 },
  antiEntropyMs: 600_000,
}

const start = async (count: number): Promise<ServedNode[]> => {
  const nodes: ServedNode[] = []
  for (let i = 0; i < count; i++) nodes.push(await serveNode({ name: `n${i}`, ...QUIET }))
  served.push(...nodes)
  return nodes
}

/** Links `b` to `a` (b dials a) for every pair, and waits until every room is synced on every link. */
const wire = async (nodes: ServedNode[], pairs: ReadonlyArray<readonly [number, number]>): Promise<void> => {
  for (const [a, b] of pairs) await nodes[b]!.node.join([nodes[a]!.url])
  for (const s of nodes) await s.node.syncUp({ timeoutMs: 10_000 })
}

/** The pairs of a full mesh of `n` nodes. */
const fullMesh = (n: number): Array<[number, number]> => {
  const pairs: Array<[number, number]> = []
  for (let a = 0; a < n; a++) for (let b = a + 1; b < n; b++) pairs.push([a, b])
  return pairs
}

/** True once every peer of every node announced that it is synced with all its own peers. */
const announced = (nodes: ServedNode[], pairs: ReadonlyArray<readonly [number, number]>): boolean =>
  nodes.every((s, i) =>
    s.node.status().peers.every((peer) => {
      const j = nodes.findIndex((o) => o.node.id === peer.id)
      const theirs = pairs.filter((p) => p.includes(j)).map((p) => nodes[p[0] === j ? p[1] : p[0]]!.node.id)
      const said = peer.rooms['default']?.peers ?? []
      return j !== i && theirs.every((id) => said.includes(id))
    }),
  )

const relays = (node: MeshNode) => node.status().relays ?? { duplicatesApplied: -1, duplicatesDropped: -1 }

const sortedJson = (node: MeshNode): string =>
  JSON.stringify(Object.entries(node.data.toJSON()).sort(([a], [b]) => a.localeCompare(b)))

/** Waits until every node holds the same keys and values, then checks history and pending too. */
const converged = async (nodes: ServedNode[], what: string, timeoutMs = 20_000): Promise<void> => {
  const all = nodes.map((s) => s.node)
  await waitUntil(what, () => all.every((n) => sortedJson(n) === sortedJson(all[0]!)), {
    subscribe: nodeEvents(...all),
    timeoutMs,
  })
  for (const n of all) {
    expect(n.status().stateVector, `${n.name} state vector`).toEqual(all[0]!.status().stateVector)
    expect(n.status().rooms['default']?.pending, `${n.name} pending`).toBe(false)
  }
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve))

/** `count` writes by `node`: single puts, batches, pops, and a yield to the event loop now and then. */
const writes = async (node: MeshNode, count: number, gen: prng.PRNG, tag: string): Promise<void> => {
  for (let i = 0; i < count; i++) {
    const r = prng.int32(gen, 0, 99)
    const key = `${tag}:${node.name}:${i % 40}`
    if (r < 60) await node.put(key, { i, by: node.name })
    else if (r < 75) await node.put({ [key]: i, [`${key}:b`]: [i, node.name] })
    else if (r < 85) await node.pop(key)
    else await turn()
  }
}

describe(`no duplicate relays (MESH_SEED=${seed})`, () => {
  it('a 3-node full mesh applies every update once on every replica', async () => {
    const gen = prng.create(seed)
    const nodes = await start(3)
    const pairs = fullMesh(3)
    await wire(nodes, pairs)
    await waitUntil('every peer announced its synced links', () => announced(nodes, pairs))
    await Promise.all(nodes.map((s, i) => writes(s.node, 400, prng.create(seed + i), 'w')))
    await nodes[prng.int32(gen, 0, 2)]!.node.put('last', true)
    await converged(nodes, 'all writes everywhere')
    for (const s of nodes) expect(relays(s.node).duplicatesApplied, `${s.node.name} applied duplicates`).toBe(0)
    const dropped = nodes.reduce((n, s) => n + relays(s.node).duplicatesDropped, 0)
    expect(dropped).toBeGreaterThan(0)
    const metric = (node: MeshNode, name: string) => node.metrics().find((m) => m.name === name)?.values[0]?.value
    expect(metric(nodes[0]!.node, 'mesh_duplicate_updates_applied_total')).toBe(0)
    expect(metric(nodes[0]!.node, 'mesh_duplicate_relays_dropped_total')).toBe(relays(nodes[0]!.node).duplicatesDropped)
  })

  /** Every node answers a `ping:` key written elsewhere with its own `pong:` key, from its change listener. */
  const reacting = (nodes: ServedNode[]): void => {
    for (const s of nodes) {
      s.node.on('change', (event) => {
        for (const change of event.changes) {
          if (!change.key.startsWith('ping:') || change.value === undefined) continue
          if (change.key.endsWith(`:${s.node.name}`)) continue
          void s.node.put(`pong:${change.key}:${s.node.name}`, change.value)
        }
      })
    }
  }

  const topologyRun = async (nodes: ServedNode[], pairs: Array<[number, number]>, gen: prng.PRNG) => {
    reacting(nodes)
    await wire(nodes, pairs)
    await Promise.all(
      nodes.map(async (s, i) => {
        await writes(s.node, 150, prng.create(prng.uint32(gen, 0, 2 ** 30) + i), 'w')
        await s.node.put(`ping:${i}:${s.node.name}`, i)
      }),
    )
    await converged(nodes, 'writes, pings and pongs everywhere')
    const keys = nodes[0]!.node.data.toJSON()
    for (const [i, s] of nodes.entries())
      for (const other of nodes)
        if (other !== s) expect(keys[`pong:ping:${i}:${s.node.name}:${other.node.name}`], 'a pong').toBe(i)
  }

  it('chain n0-n1-n2-n3 carries writes end to end', async () => {
    const nodes = await start(4)
    await topologyRun(
      nodes,
      [
        [0, 1],
        [1, 2],
        [2, 3],
      ],
      prng.create(seed),
    )
  })

  it('star around a hub', async () => {
    const nodes = await start(5)
    await topologyRun(
      nodes,
      [1, 2, 3, 4].map((i): [number, number] => [0, i]),
      prng.create(seed),
    )
  })

  it('a seeded random connected topology', async () => {
    const gen = prng.create(seed)
    const n = 6
    const nodes = await start(n)
    // A random spanning tree, then random chords.
    const pairs: Array<[number, number]> = []
    for (let i = 1; i < n; i++) pairs.push([prng.int32(gen, 0, i - 1), i])
    for (const [a, b] of fullMesh(n)) {
      if (!pairs.some(([x, y]) => x === a && y === b) && prng.bool(gen)) pairs.push([a, b])
    }
    await topologyRun(nodes, pairs, gen)
  })

  it('a link killed mid-traffic: the others carry on and everything converges without anti-entropy', async () => {
    const nodes = await start(3)
    // A ring of dials (n1 dials n0, n2 dials n1, n0 dials n2): each server holds one accepted socket.
    const sockets = nodes.map(() => new Set<Socket>())
    nodes.forEach((s, i) => s.server.on('upgrade', (_req, socket: Socket) => sockets[i]!.add(socket)))
    const pairs: Array<[number, number]> = [
      [0, 1],
      [1, 2],
      [2, 0],
    ]
    reacting(nodes)
    await wire(nodes, pairs)
    await waitUntil('every peer announced its synced links', () => announced(nodes, pairs))
    const [a, , c] = nodes.map((s) => s.node) as [MeshNode, MeshNode, MeshNode]
    let killed = false
    // n0 dialed n2: that link's socket is n2's only accepted one. n2 stops reading it, so what
    // n0 sends meanwhile (and n1 skips, as n0 and n2 said they are synced) waits in the socket;
    // then the socket dies without a close frame, and all of that with it.
    const stall = (): void => {
      for (const socket of sockets[2]!) socket.pause()
    }
    const kill = (): void => {
      killed = true
      for (const socket of sockets[2]!) socket.destroy()
      a.cut(c.id)
      c.cut(a.id)
    }
    await Promise.all(
      nodes.map(async (s, i) => {
        const gen = prng.create(seed + 7 * i)
        for (let round = 0; round < 6; round++) {
          if (i === 0 && round === 2) stall()
          if (i === 0 && round === 4) kill()
          await writes(s.node, 60, gen, `r${round}`)
          await s.node.put(`ping:${round}:${i}:${s.node.name}`, round)
        }
      }),
    )
    expect(killed).toBe(true)
    await waitUntil('n0 and n2 apart', () => !a.status().peers.some((p) => p.id === c.id && p.link === 'open'))
    await converged(nodes, 'everything on all three after the kill')
  })
})
