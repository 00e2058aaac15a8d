import { MeshNode, type ConflictPolicy } from '@mesh/core'
import { afterEach, describe, expect, it } from 'vitest'
import { MemoryNet } from './memory-net.js'

const nodes: MeshNode[] = []
afterEach(async () => {
  for (const node of nodes.splice(0)) await node.close()
})

/**
 * Reviewer's break of 4aa579e (repro over real sockets with a SIGSTOPped peer: 3 of 3 silent).
 * a (exception) resolves its conflict with b while b does not answer. c stayed apart from a and
 * b the whole time and writes `k2`, which a wrote before the resolution, after it: new, so it
 * conflicts as usual (docs/conflicts.md). During the round's window a merged it silently: a
 * resync where a held only settled writes, a live pair whose write on a's side was settled.
 * Now both wait for the round: the resync holds the room on that link and starts it again
 * once the round is over, the live pair is judged then (conflicts.ts `settled`, `covers`).
 */
const setup = (policies: ConflictPolicy[]) => {
  const net = new MemoryNet()
  const [a, b, c, d] = policies.map((onConflict, i) => new MeshNode({ name: 'abcd'[i]!, onConflict }))
  nodes.push(...[a, b, c, d].filter((n): n is MeshNode => n !== undefined))
  return { net, a: a!, b: b!, c: c!, d }
}

describe('while the resolution round waits for a peer that does not answer', () => {
  for (const frozen of [true, false]) {
    it(`a new write of another node that stayed apart is still raised at a resync (peer ${frozen ? 'frozen' : 'answers'})`, async () => {
      const { net, a, b, c } = setup(['exception', 'merge', 'merge'])
      await a.put('k', 'from-a')
      await a.put('k2', 'from-a')
      await b.put('k', 'from-b')
      const ab = net.connect(a, b)
      await net.drain()
      expect(a.conflicts().map((e) => e.peer)).toEqual([b.id])
      a.resolveConflict({ peer: b.id, strategy: 'merge' })
      if (frozen) net.hold(ab)
      await net.drain()
      expect(a.conflicts()).toEqual([])
      await c.put('k2', 'from-c')
      net.connect(a, c)
      await net.drain()
      if (frozen) {
        // Nothing of c's is taken while the round waits for b: the room waits on that link.
        expect(a.get('k2')).toBe('from-a')
        net.release(ab)
        await net.drain()
      }
      expect(a.conflicts().map((e) => [e.peer, e.keys.map((k) => k.key)])).toEqual([[c.id, ['k2']]])
    })

    it(`a new write of another node that stayed apart is still raised when a third node relays it live (peer ${frozen ? 'frozen' : 'answers'})`, async () => {
      const { net, a, b, c, d } = setup(['exception', 'merge', 'merge', 'merge'])
      await a.put('k', 'from-a')
      await a.put('k2', 'from-a')
      await b.put('k', 'from-b')
      const ab = net.connect(a, b)
      await net.drain()
      a.resolveConflict({ peer: b.id, strategy: 'merge' })
      if (frozen) net.hold(ab)
      await net.drain()
      net.connect(a, d!)
      await net.drain()
      expect(d!.get('k2')).toBe('from-a')
      await c.put('k2', 'from-c')
      net.connect(d!, c)
      await net.drain()
      if (frozen) {
        net.release(ab)
        await net.drain()
      }
      expect(a.conflicts().map((e) => [e.peer, e.keys.map((k) => k.key)])).toEqual([[d!.id, ['k2']]])
    })
  }
})
