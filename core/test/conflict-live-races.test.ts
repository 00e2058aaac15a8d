import type { ConflictEvent, ConflictPolicy, MeshNode } from '@mesh/core'
import { waitUntil } from '@mesh/core/testing'
import * as prng from 'lib0/prng'
import { describe, expect, it } from 'vitest'
import { servedPerTest } from './helpers.js'

const seed = Number(process.env.MESH_SEED ?? Math.floor(Math.random() * 2 ** 31))
const ROUNDS = 16

const { start } = servedPerTest()

/** a and b, linked only through c: a – c – b. */
const chain = async (writers: ConflictPolicy) => {
  const [a, b, c] = await Promise.all([
    start({ name: 'a', onConflict: writers }),
    start({ name: 'b', onConflict: writers }),
    start({ name: 'c', onConflict: 'merge' }),
  ])
  a.node.cut(b.node.id)
  b.node.cut(a.node.id)
  await a.node.join([c.url])
  await b.node.join([c.url])
  // Settled first: the races below must travel as live traffic, not in a link's first sync.
  const linked = (node: MeshNode, peers: MeshNode[]) =>
    peers.every((p) => node.status().peers.some((s) => s.id === p.id && s.link === 'open'))
  await waitUntil(
    'the chain is linked',
    () => linked(a.node, [c.node]) && linked(b.node, [c.node]) && linked(c.node, [a.node, b.node]),
  )
  for (const served of [a, b, c]) await served.node.syncUp()
  return { a: a.node, b: b.node, c: c.node }
}

const canonical = (node: MeshNode): string =>
  JSON.stringify(Object.entries(node.data.toJSON()).sort(([x], [y]) => (x < y ? -1 : 1)))

const converged = (nodes: MeshNode[]) =>
  waitUntil('replicas equal', () => nodes.every((n) => canonical(n) === canonical(nodes[0]!)))

/**
 * Each writer writes 0 to 2 keys first, its own or keys the other writes too, one writer after
 * the other (so these are no race): what a writer wrote before decides its next entry's origin.
 */
const earlierWrites = async (gen: prng.PRNG, writers: MeshNode[], all: MeshNode[], tag: string) => {
  for (const writer of writers) {
    const earlier = prng.int32(gen, 0, 2)
    for (let i = 0; i < earlier; i++) {
      await writer.put(prng.bool(gen) ? `own-${writer.name}-${i}` : `shared-${i}`, `${writer.name}-${tag}-${i}`)
    }
    await converged(all)
  }
}

/**
 * Issue 11 point 4: `a` and `b` write one key in the same turn, linked only through `c`, which
 * merges the race and relays the winner. Under `warn` (and `exception`, the same detection)
 * each writer must hear of the other's write. Before the fix, when b's write won and b had
 * written any key before, the loser was not told in 8 of 16 rounds: c sent b's write and its own deletion of
 * a's losing entry in one batch, a applied them as one transaction, and the only trace left of
 * whether b had seen a's entry was the origin of b's item, which b's previous write hides.
 */
describe(`a live race relayed by a third node is reported to both writers (MESH_SEED=${seed})`, () => {
  it('warn on the writers, merge on the relay; earlier writes by either writer, in random order', async () => {
    const gen = prng.create(seed)
    const { a, b, c } = await chain('warn')
    const nodes = [a, b, c]
    const events = new Map<MeshNode, ConflictEvent[]>([
      [a, []],
      [b, []],
    ])
    for (const [node, list] of events) node.on('conflict', (e) => list.push(e))
    const missed: string[] = []
    for (let round = 0; round < ROUNDS; round++) {
      await earlierWrites(gen, [a, b], nodes, String(round))
      const key = `race-${round}`
      const first = prng.bool(gen) ? a : b
      const second = first === a ? b : a
      // Same turn, no I/O between: neither can have seen the other's write.
      const writes = [first.put(key, first.name), second.put(key, second.name)]
      await Promise.all(writes)
      await converged(nodes)
      for (const [node, list] of events) {
        if (!list.some((e) => e.error.keys.some((k) => k.key === key))) {
          missed.push(`round ${round}: ${node.name} (winner ${String(c.get(key))})`)
        }
      }
    }
    if (missed.length > 0) console.error(`live races missed (MESH_SEED=${seed}):`, missed)
    expect(missed).toEqual([])
  })

  it('exception on the writers: both quarantine the room, whichever write won', async () => {
    const gen = prng.create(seed + 1)
    for (let run = 0; run < 4; run++) {
      const { a, b, c } = await chain('exception')
      await earlierWrites(gen, [a, b], [a, b, c], String(run))
      await Promise.all([a.put('race', 'a'), b.put('race', 'b')])
      await waitUntil('both writers raised the race', () =>
        [a, b].every((n) => n.conflicts().some((e) => e.keys.some((k) => k.key === 'race'))),
      )
      for (const n of [a, b]) expect(n.conflicts().map((e) => e.peer)).toEqual([c.id])
    }
  })

  it('warn: a race the relay merged while a writer was apart is reported to the writer whose value lost, at its resync', async () => {
    const gen = prng.create(seed + 2)
    const { a, b, c } = await chain('warn')
    const nodes = [a, b, c]
    const raised = new Map<MeshNode, Set<string>>([
      [a, new Set()],
      [b, new Set()],
    ])
    for (const [node, keys] of raised) node.on('conflict', (e) => e.error.keys.forEach((k) => keys.add(k.key)))
    const apart = async (x: MeshNode, y: MeshNode) => {
      x.cut(y.id)
      y.cut(x.id)
      await waitUntil('apart', () => x.status().peers.every((p) => p.id !== y.id || p.link !== 'open'))
    }
    const together = async (x: MeshNode, y: MeshNode) => {
      x.heal(y.id)
      y.heal(x.id)
      await x.syncUp()
      await y.syncUp()
    }
    /** Half the time `writer` writes a key of its own while apart, before its race write. */
    const aside = new Set<MeshNode>()
    const maybeAside = async (writer: MeshNode, round: number) => {
      if (!prng.bool(gen)) return
      aside.add(writer)
      await writer.put(`aside-${writer.name}-${round}`, round)
    }
    const missed: string[] = []
    const winners = new Set<string>()
    for (let round = 0; round < 8; round++) {
      aside.clear()
      await earlierWrites(gen, [a, b], nodes, `r${round}`)
      const key = `apart-${round}`
      await apart(b, c)
      await maybeAside(a, round)
      await a.put(key, 'a')
      await converged([a, c])
      await apart(a, c)
      await maybeAside(b, round)
      await b.put(key, 'b')
      // c merges the race with b; a hears of it only at its own resync with c.
      await together(b, c)
      await converged([b, c])
      await together(a, c)
      await converged(nodes)
      const winner = String(c.get(key))
      winners.add(winner)
      // The writer whose value was replaced must hear of it, also when the winner wrote another
      // key first (its entry's origin is then its own earlier write, and Yjs's order cannot
      // tell whether it had received the loser's entry meanwhile: the relay names the race,
      // lost-races.ts). The winner may not hear: the relay deleted the losing entry and
      // collected its content.
      const loser = winner === 'a' ? b : a
      const winnerWroteFirst = aside.has(loser === a ? b : a)
      if (!raised.get(loser)!.has(key))
        missed.push(
          `round ${round}: ${loser.name} lost without a report (winner wrote first: ${String(winnerWroteFirst)})`,
        )
    }
    console.info(`resync races: winners ${[...winners].join(',')}`)
    if (missed.length > 0) console.error(`races met at a resync missed (MESH_SEED=${seed}):`, missed)
    expect(missed).toEqual([])
  })
})
