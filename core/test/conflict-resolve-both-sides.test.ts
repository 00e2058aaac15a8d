import type { ConflictPolicy, MeshNode } from '@mesh/core'
import { waitUntil } from '@mesh/core/testing'
import { describe, expect, it } from 'vitest'
import { servedPerTest, type ServedNode } from './helpers.js'
import { serveRest } from './rest-server.js'

const { start, cleanups } = servedPerTest()

/** Three nodes on real sockets, each with its REST API, linked in a full mesh. */
const trio = async (policies: [ConflictPolicy, ConflictPolicy, ConflictPolicy]) => {
  const served: ServedNode[] = []
  for (const [i, onConflict] of policies.entries()) served.push(await start({ name: `n${i}`, onConflict }))
  const apis = await Promise.all(served.map((s) => serveRest(s.node, cleanups)))
  const nodes = served.map((s) => s.node) as [MeshNode, MeshNode, MeshNode]
  for (const [i, node] of nodes.entries()) await node.join(served.slice(i + 1).map((s) => s.url))
  for (const node of nodes) await node.syncUp()
  return { nodes, apis }
}

const listed = async (api: string): Promise<unknown[]> => (await (await fetch(`${api}/conflicts`)).json()) as unknown[]

const isolate = async (nodes: MeshNode[]) => {
  for (const a of nodes) for (const b of nodes) if (a !== b) a.cut(b.id)
  await waitUntil('every node isolated', () => nodes.every((n) => n.status().peers.every((p) => p.link !== 'open')))
}

const heal = (nodes: MeshNode[], pairs: Array<[number, number]>) => {
  for (const [i, j] of pairs) {
    nodes[j]!.heal(nodes[i]!.id)
    nodes[i]!.heal(nodes[j]!.id)
  }
}

/**
 * Issue 11 point 4: the peer used to clear its conflict with the resolving node, but the same
 * diverged writes reached a node again over its other links (relayed by the third node) and
 * were detected anew, on the resolving node or between the other pair: 2 to 4 of these 9 cases
 * failed per run (3 runs) before resolutions settled the writes they cover (conflicts.ts). Each
 * case also checks that no conflict event fires on or about a once a's conflicts are cleared,
 * nor anywhere once every pair is resolved.
 */
describe('a conflict resolved on one side is cleared on every side, with three nodes', () => {
  for (const policies of [
    ['exception', 'merge', 'merge'],
    ['exception', 'exception', 'merge'],
    ['exception', 'exception', 'exception'],
  ] as Array<[ConflictPolicy, ConflictPolicy, ConflictPolicy]>) {
    for (const order of [
      [
        [0, 1],
        [1, 2],
        [0, 2],
      ],
      [
        [1, 2],
        [0, 2],
        [0, 1],
      ],
      [
        [0, 2],
        [1, 2],
        [0, 1],
      ],
    ] as Array<Array<[number, number]>>) {
      it(`${policies.join('/')}, heal order ${order.map(([i, j]) => 'abc'[i]! + 'abc'[j]!).join(' ')}: what a resolves is cleared on a and its peers; the others' pairs clear once one side resolves`, async () => {
        const { nodes, apis } = await trio(policies)
        const [a, b, c] = nodes
        await isolate(nodes)
        await a.put('k', 'from-a')
        await b.put('k', 'from-b')
        await c.put('other', 'from-c')
        heal(nodes, order)
        await waitUntil('a lists a conflict', () => a.conflicts().length > 0, { timeoutMs: 10_000 })
        // Let every link finish its round (quarantined rooms count as settled).
        await waitUntil('every link up', () =>
          nodes.every((n) => n.status().peers.filter((p) => p.link === 'open').length === 2),
        )
        const nameOf = (id: string) => nodes.find((n) => n.id === id)?.name
        const before = nodes.map((n) => n.conflicts().map((e) => `${n.name}->${nameOf(e.peer) ?? ''}`))
        const listing = () => nodes.map((n) => n.conflicts().map((e) => `${n.name}->${nameOf(e.peer) ?? ''}`))
        /** Resolves, over REST, what `node` lists, until it lists nothing. */
        const resolveAll = async (node: MeshNode) => {
          const api = apis[nodes.indexOf(node)]!
          while (node.conflicts().length > 0) {
            const conflict = node.conflicts()[0]!
            const res = await fetch(`${api}/conflicts/resolve`, {
              method: 'POST',
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify({ peer: conflict.peer, room: conflict.room, strategy: 'merge' }),
            })
            // 404: it cleared meanwhile (its peer resolved it first).
            expect([200, 404]).toContain(res.status)
          }
        }
        /** True once no node lists a conflict `matching`, neither in conflicts() nor over REST. */
        const noneListed = async (matching: (node: MeshNode, peer: string) => boolean) => {
          for (const [i, node] of nodes.entries()) {
            if (node.conflicts().some((e) => matching(node, e.peer))) return false
            const rest = (await listed(apis[i]!)) as Array<{ peer: string }>
            if (rest.some((e) => matching(node, e.peer))) return false
          }
          return true
        }
        /** `settle`: run before each check (a late raise of the initial round, resolved). */
        const waitNone = (
          what: string,
          matching: (node: MeshNode, peer: string) => boolean,
          settle: () => Promise<void> = async () => {},
        ) =>
          waitUntil(
            `${what} (before: ${JSON.stringify(before)})`,
            async () => {
              await settle()
              return noneListed(matching)
            },
            { timeoutMs: 10_000 },
          ).catch((error: unknown) => {
            throw new Error(`${String(error)}; still listed: ${JSON.stringify(listing())}`)
          })

        // What a resolves is cleared on a and on each peer it resolved with.
        // The initial round of a link may still be under way on a's side and raise its
        // conflict after resolveAll returned (CI: "n0->n1" listed on a after it resolved
        // "n0->n2", while b had listed "n1->n0" from the start): a resolves that one too.
        await resolveAll(a)
        await waitNone(
          'no conflict of a, nor with a, listed anywhere',
          (node, peer) => node === a || peer === a.id,
          () => resolveAll(a),
        )
        // From here on nothing raises a conflict on a or with a, and once every pair is
        // resolved, nothing at all. (Earlier, a round that was under way when the resolving
        // began may still raise its conflict: one that resolveAll then clears.)
        const raised: string[] = []
        let allResolved = false
        for (const node of nodes) {
          node.on('conflict', (e) => {
            if (allResolved || node === a || e.error.peer === a.id) {
              raised.push(`${node.name}->${nameOf(e.error.peer) ?? ''} (${e.policy})`)
            }
          })
        }
        // Conflicts between the two others are theirs: one side of each pair resolves it.
        for (const node of [b, c]) await resolveAll(node)
        await waitNone('no conflict listed anywhere', () => true)
        allResolved = true
        for (const node of nodes) await node.syncUp()
        const sorted = (n: MeshNode) =>
          JSON.stringify(Object.entries(n.data.toJSON()).sort(([x], [y]) => (x < y ? -1 : 1)))
        await waitUntil('all equal', () => [b, c].every((n) => sorted(n) === sorted(a)))
        expect(raised).toEqual([])
        expect(listing()).toEqual([[], [], []])
      })
    }
  }
})

describe('a conflict with a peer that goes away is dropped, so syncUp resolves again', () => {
  const fast = { membership: { heartbeatMs: 50, deadAfterMs: 500 } }
  /** a (`exception`) and b diverge on `k` and conflict; c (`merge`) is linked to a only. */
  const conflicted = async () => {
    const served: ServedNode[] = []
    for (const [i, onConflict] of (['exception', 'merge', 'merge'] as const).entries()) {
      served.push(await start({ name: `n${i}`, onConflict, ...fast }))
    }
    const [a, b, c] = served.map((s) => s.node) as [MeshNode, MeshNode, MeshNode]
    // b and c never link: b's write must not reach c (and a through it) behind the conflict.
    b.cut(c.id)
    c.cut(b.id)
    await a.join([served[2]!.url])
    await a.syncUp()
    await a.put('k', 'from-a')
    await b.put('k', 'from-b')
    await a.join([served[1]!.url])
    await waitUntil('a lists its conflict with b', () => a.conflicts().some((e) => e.peer === b.id))
    await expect(a.syncUp({ timeoutMs: 2000 })).rejects.toMatchObject({ code: 'conflict', peer: b.id })
    return { a, b, c }
  }

  it('b leaves gracefully', async () => {
    const { a, b, c } = await conflicted()
    await b.close()
    await waitUntil('a drops the conflict with b, which left', () => a.conflicts().length === 0)
    await a.syncUp({ timeoutMs: 5000 })
    await c.syncUp({ timeoutMs: 5000 })
    expect(c.data.toJSON()).toEqual(a.data.toJSON())
    expect(a.get('k')).toBe('from-a')
  })

  it('b dies (its links cut for good, no goodbye)', async () => {
    const { a, b, c } = await conflicted()
    a.cut(b.id)
    b.cut(a.id)
    await waitUntil('a declares b dead and drops the conflict', () => a.conflicts().length === 0, {
      timeoutMs: 10_000,
    })
    await a.syncUp({ timeoutMs: 5000 })
    await c.syncUp({ timeoutMs: 5000 })
    expect(c.data.toJSON()).toEqual(a.data.toJSON())
    expect(a.get('k')).toBe('from-a')
  })
})
