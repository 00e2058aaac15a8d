/**
 * Reviewer's break of 408e3a6 (w8-conflicts), fixed: a race that R2 resolved while the losing writer A
 * and A's neighbour R1 were apart. R1 then resyncs with R2 and gets the winner and the loser's
 * deletion in one state (its index resolves nothing, so it remembers no lost race: R2's naming
 * of it is only read for R1's own entries), and A resyncs with R1 alone: A is never told.
 * The winner's writer B wrote another key first, so the winner's origin is B's own previous
 * write and its position proves nothing (array-order.ts). With A resyncing with R2 directly,
 * A reports it (3 of 3); through R1, 5 of 5 were missed. Now R1 remembers the races R2 names
 * for entries it holds, and names them to A in turn (lost-races.ts).
 * Which write wins depends on the Yjs client ids: rounds are repeated until B's wins.
 */
import { waitUntil } from '@mesh/core/testing'
import { afterEach, describe, expect, it } from 'vitest'
import { serveNode, type ServedNode } from './helpers.js'

const cleanups: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

type Node = ServedNode['node']
const cut = (x: Node, y: Node): void => {
  x.cut(y.id)
  y.cut(x.id)
}
const heal = (x: Node, y: Node): void => {
  x.heal(y.id)
  y.heal(x.id)
}
const apart = (x: Node, y: Node) =>
  waitUntil('apart', () => x.status().peers.every((p) => p.id !== y.id || p.link !== 'open'))

/** One round; resolves with what A reported about `k`, or undefined when A's write won. */
const round = async (): Promise<string[] | undefined> => {
  const served: ServedNode[] = []
  for (const name of ['A', 'R1', 'R2', 'B']) {
    const s = await serveNode({ name, onConflict: name === 'A' ? 'warn' : 'merge' })
    cleanups.push(() => s.close())
    served.push(s)
  }
  const [a, r1, r2, b] = served.map((s) => s.node) as [Node, Node, Node, Node]
  cut(a, r2)
  cut(a, b)
  cut(r1, b)
  await a.join([served[1]!.url])
  await r1.join([served[2]!.url])
  await r2.join([served[3]!.url])
  await b.put('base', 1)
  await waitUntil('base everywhere', () => [a, r1, r2].every((n) => n.get('base') === 1))
  cut(r2, b)
  await apart(r2, b)
  await a.put('k', 'from-A')
  await waitUntil('R2 has A write', () => r2.get('k') === 'from-A')
  cut(a, r1)
  cut(r1, r2)
  await apart(r1, a)
  await apart(r1, r2)
  await b.put('other', 'y')
  await b.put('k', 'from-B')
  const reported: string[] = []
  a.on('conflict', (e) => reported.push(...e.error.keys.map((k) => k.key)))
  heal(r2, b)
  await waitUntil('R2 merged B', () => r2.get('other') === 'y')
  if (r2.get('k') !== 'from-B') return undefined
  heal(r1, r2)
  await waitUntil('R1 synced with R2', () => r1.get('other') === 'y')
  cut(r1, r2)
  await apart(r1, r2)
  heal(a, r1)
  await waitUntil('A synced with R1', () => a.get('other') === 'y' && a.get('k') === 'from-B')
  await a.put('after', 1)
  await waitUntil('R1 has A write after', () => r1.get('after') === 1)
  return reported
}

describe('a race resolved two hops away while the loser was apart', () => {
  it('is reported to the loser when it resyncs with a node that learned of it by a resync', async () => {
    let reported: string[] | undefined
    for (let attempt = 0; attempt < 8 && reported === undefined; attempt++) {
      reported = await round()
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
    }
    expect(reported).toContain('k')
  })
})
