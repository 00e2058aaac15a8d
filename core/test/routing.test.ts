import { createRestHandler, MeshCallError, type ActorFactory, type MeshNode, type MeshNodeOptions } from '@mesh/core'
import { afterEach, describe, expect, it } from 'vitest'
import { CallFlag, encodePeer } from '../src/replication/index.js'
import { nodeEvents, waitUntil } from '@mesh/core/testing'
import { rawPeer, serveNode, type ServedNode } from './helpers.js'

const served: ServedNode[] = []
afterEach(async () => {
  await Promise.all(served.splice(0).map((s) => s.close()))
})

const fast = { membership: { heartbeatMs: 100, deadAfterMs: 1500 } } satisfies MeshNodeOptions

/** `count` nodes declaring `capabilities`, each joined to the first; resolves once every node sees every one alive. */
const mesh = async (count: number, options: MeshNodeOptions = {}): Promise<MeshNode[]> => {
  const start = served.length
  for (let i = 0; i < count; i++) {
    const s = await serveNode({ name: `n${start + i}`, capabilities: ['counter'], ...fast, ...options })
    served.push(s)
    if (served.length > 1) await s.node.join([served[0]!.url])
  }
  const nodes = served.map((s) => s.node)
  await converged(nodes)
  return nodes.slice(start)
}

/** Every node sees every node alive, with its capabilities. */
const converged = (nodes: MeshNode[]) =>
  waitUntil(
    'every node sees every other alive with its capabilities',
    () =>
      nodes.every((n) => {
        const alive = n.members().filter((m) => m.role === 'node' && m.state === 'alive')
        return nodes.every((o) =>
          alive.some((m) => m.id === o.id && m.capabilities.join() === o.members()[0]!.capabilities.join()),
        )
      }),
    { subscribe: nodeEvents(...nodes), timeoutMs: 10_000 },
  )

const ids = (n: number, prefix = 'user-') => Array.from({ length: n }, (_, i) => `${prefix}${i}`)

/** A counter actor whose starts and stops are recorded per node. */
const counters = (node: MeshNode, log: { started: string[]; stopped: string[] }): ActorFactory => {
  return (id) => {
    log.started.push(`${node.name}:${id}`)
    let n = 0
    return {
      call: (msg) => (n += (msg as { add: number }).add),
      stop: () => void log.stopped.push(`${node.name}:${id}`),
    }
  }
}

describe('placement', () => {
  it('maps an id to the same owner on every node, spreads 10k ids within ±10 % over 4 nodes', async () => {
    const nodes = await mesh(4)
    const perNode = new Map<string, number>()
    for (const id of ids(10_000)) {
      const owners = nodes.map((n) => n.ownerOf('counter', id)?.id)
      expect(new Set(owners).size, id).toBe(1)
      perNode.set(owners[0]!, (perNode.get(owners[0]!) ?? 0) + 1)
    }
    expect([...perNode.keys()].sort()).toEqual(nodes.map((n) => n.id).sort())
    for (const count of perNode.values()) {
      expect(count).toBeGreaterThanOrEqual(2250)
      expect(count).toBeLessThanOrEqual(2750)
    }
    // Status (and so the inspector) shows each node's share of the 4096 shards.
    const shards = nodes.map((n) => n.status().routing?.find((r) => r.capability === 'counter'))
    expect(shards.reduce((sum, r) => sum + (r?.shards ?? 0), 0)).toBe(4096)
    for (const r of shards) expect(r).toMatchObject({ actors: 0, shards: expect.any(Number) })
  })

  it('a join moves about 1/N of the ids, all to the newcomer; a leave moves only the leaver’s', async () => {
    const nodes = await mesh(4)
    const all = ids(20_000)
    const before = new Map(all.map((id) => [id, nodes[0]!.ownerOf('counter', id)?.id]))
    const [newcomer] = await mesh(1)
    const after = new Map(all.map((id) => [id, nodes[0]!.ownerOf('counter', id)?.id]))
    const moved = all.filter((id) => before.get(id) !== after.get(id))
    expect(moved.length / all.length).toBeGreaterThan(0.15)
    expect(moved.length / all.length).toBeLessThan(0.25)
    for (const id of moved) expect(after.get(id)).toBe(newcomer!.id)

    const leaver = served.find((s) => s.node === nodes[1])!
    const owned = all.filter((id) => after.get(id) === leaver.node.id)
    await leaver.close()
    served.splice(served.indexOf(leaver), 1)
    await waitUntil('leave seen', () => nodes[0]!.ownerOf('counter', owned[0]!)?.id !== leaver.node.id, {
      subscribe: nodeEvents(nodes[0]!),
    })
    const final = new Map(all.map((id) => [id, nodes[0]!.ownerOf('counter', id)?.id]))
    for (const id of all) if (after.get(id) !== leaver.node.id) expect(final.get(id), id).toBe(after.get(id))
    for (const id of owned) expect(final.get(id)).not.toBe(leaver.node.id)
  })

  it('a capability nobody declares has no owner: call fails with no_owner at once, cast throws', async () => {
    const [a] = await mesh(2)
    expect(a!.ownerOf('nobody', 'x')).toBeUndefined()
    const error = await a!.call({ capability: 'nobody', id: 'x', timeoutMs: 60_000 }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(MeshCallError)
    expect(error).toMatchObject({ code: 'no_owner', capability: 'nobody', id: 'x' })
    expect(() => a!.cast({ capability: 'nobody', id: 'x' })).toThrow(MeshCallError)
    const errors = a!.metrics().find((m) => m.name === 'mesh_call_errors_total')
    expect(errors?.values).toContainEqual({ labels: { code: 'no_owner' }, value: 1 })
  })
})

describe('calls', () => {
  it('a call from any node reaches the owner’s actor, which keeps its state across calls', async () => {
    const nodes = await mesh(3)
    const log = { started: [] as string[], stopped: [] as string[] }
    for (const n of nodes) n.actor('counter', counters(n, log))
    const answers: unknown[] = []
    for (const n of nodes) answers.push(await n.call({ capability: 'counter', id: 'user-42', payload: { add: 1 } }))
    expect(answers).toEqual([1, 2, 3])
    const owner = nodes[0]!.ownerOf('counter', 'user-42')!
    expect(log.started).toEqual([`${owner.name}:user-42`])

    // Many ids from one node: each actor starts on its owner only, calls to one id run in order.
    const many = ids(60, 'k-')
    const results = await Promise.all(
      many.flatMap((id) =>
        [1, 2, 3].map(() => nodes[1]!.call<number>({ capability: 'counter', id, payload: { add: 1 } })),
      ),
    )
    expect(results.filter((r) => r === 3)).toHaveLength(many.length)
    const metric = (node: MeshNode, name: string) =>
      node
        .metrics()
        .find((m) => m.name === name)
        ?.values.find((v) => v.suffix === undefined || v.suffix === '_count')?.value
    expect(metric(nodes[1]!, 'mesh_calls_total')).toBe(1 + many.length * 3)
    expect(metric(nodes[1]!, 'mesh_call_duration_seconds')).toBe(1 + many.length * 3)
    expect(nodes.reduce((sum, n) => sum + metric(n, 'mesh_actors')!, 0)).toBe(many.length + 1)
    for (const id of many) {
      const ownerName = nodes[0]!.ownerOf('counter', id)!.name
      expect(log.started.filter((s) => s.endsWith(`:${id}`))).toEqual([`${ownerName}:${id}`])
    }
    // A cast lands too, in order with the calls that node sends after it.
    nodes[2]!.cast({ capability: 'counter', id: 'user-42', payload: { add: 10 } })
    expect(await nodes[2]!.call({ capability: 'counter', id: 'user-42', payload: { add: 0 } })).toBe(13)
  })

  it('a call works on a node alone, without any link (local calls never need the network)', async () => {
    const s = await serveNode({ capabilities: ['counter'] })
    served.push(s)
    const log = { started: [] as string[], stopped: [] as string[] }
    s.node.actor('counter', counters(s.node, log))
    expect(await s.node.call({ capability: 'counter', id: 'a', payload: { add: 2 } })).toBe(2)
    expect(await s.node.call({ capability: 'counter', id: 'a', payload: { add: 2 } })).toBe(4)
    await s.close()
    served.pop()
    expect(log.stopped).toEqual([`${s.node.name}:a`])
  })

  it('limits.maxActors stops the least recently called idle actor, and refuses a new one when all are busy', async () => {
    const s = await serveNode({ capabilities: ['counter'], limits: { maxActors: 3 } })
    served.push(s)
    const log = { started: [] as string[], stopped: [] as string[] }
    const count = counters(s.node, log)
    const hanging = new Set<string>()
    s.node.actor('counter', async (id) => {
      const actor = await count(id)
      return { ...actor, call: (msg) => (hanging.has(id) ? new Promise(() => {}) : actor.call(msg)) }
    })
    const add = (id: string) => s.node.call({ capability: 'counter', id, payload: { add: 1 }, timeoutMs: 60_000 })
    for (const id of ['a', 'b', 'c', 'a']) await add(id)
    expect(await add('d')).toBe(1)
    expect(log.stopped).toEqual([`${s.node.name}:b`]) // a was called after b
    expect(await add('a')).toBe(3)
    // Every actor busy: a new id is refused rather than growing without bound.
    for (const id of ['a', 'c', 'd']) {
      hanging.add(id)
      void add(id).catch(() => {})
    }
    await expect(add('e')).rejects.toMatchObject({
      code: 'actor_failed',
      message: expect.stringContaining('maxActors'),
    })
  })

  it('actor errors come back as actor_failed with the message only; a stuck actor times out', async () => {
    const nodes = await mesh(2)
    for (const n of nodes) {
      n.actor('counter', (id) => {
        if (id === 'cannot-start') throw new Error('no such account')
        return {
          call: (msg) => {
            if (msg === 'boom') throw new Error('boom')
            if (msg === 'hang') return new Promise(() => {})
            if (msg === 'bad') return { fn: () => 1 }
            return 'ok'
          },
        }
      })
    }
    const remoteId = ids(200).find((id) => nodes[0]!.ownerOf('counter', id)?.id === nodes[1]!.id)!
    const localId = ids(200).find((id) => nodes[0]!.ownerOf('counter', id)?.id === nodes[0]!.id)!
    for (const id of [remoteId, localId]) {
      const call = (payload: string, timeoutMs?: number) =>
        nodes[0]!.call({ capability: 'counter', id, payload, timeoutMs }).catch((e: unknown) => e as MeshCallError)
      const boom = await call('boom')
      expect(boom).toMatchObject({ code: 'actor_failed', message: 'boom' })
      expect((boom as Error).message).not.toContain(' at ')
      expect(await call('bad')).toMatchObject({ code: 'actor_failed' })
      expect(await call('hang', 300)).toMatchObject({ code: 'timeout' })
    }
    const error = await nodes[0]!.call({ capability: 'counter', id: 'cannot-start' }).catch((e: unknown) => e)
    expect(error).toMatchObject({ code: 'actor_failed', message: 'no such account' })
  })

  it('when a join moves a shard, the old owner stops its actor and calls reach the new one', async () => {
    const nodes = await mesh(2)
    const log = { started: [] as string[], stopped: [] as string[] }
    for (const n of nodes) n.actor('counter', counters(n, log))
    const all = ids(100, 'm-')
    for (const id of all) await nodes[0]!.call({ capability: 'counter', id, payload: { add: 1 } })
    const [c] = await mesh(1)
    c!.actor('counter', counters(c!, log))
    // Every pair linked directly first, so that the calls below cross no link being settled as a
    // duplicate: this test is about the handoff (call-relays and served-calls test link churn).
    // A CI run once saw a moved id answer 2 here; 50 runs under load did not reproduce it.
    const all3 = [...nodes, c!]
    await waitUntil(
      'every node linked to every other',
      () => all3.every((n) => n.status().peers.filter((p) => p.link === 'open').length === all3.length - 1),
      { subscribe: nodeEvents(...all3) },
    )
    const movedIds = all.filter((id) => nodes[0]!.ownerOf('counter', id)?.id === c!.id)
    expect(movedIds.length).toBeGreaterThan(10)
    await waitUntil(
      'old owners stopped the moved actors',
      () => movedIds.every((id) => log.stopped.some((s) => s.endsWith(`:${id}`))),
      { subscribe: nodeEvents(...nodes) },
    )
    for (const id of movedIds) {
      expect(await nodes[1]!.call({ capability: 'counter', id, payload: { add: 1 } })).toBe(1)
      expect(log.started.filter((s) => s === `${c!.name}:${id}`)).toHaveLength(1)
    }
    // Ids that did not move kept their actors and state.
    const stayed = all.find((id) => !movedIds.includes(id))!
    expect(await c!.call({ capability: 'counter', id: stayed, payload: { add: 1 } })).toBe(2)
  })

  it('a call whose owner is lost mid-call, and which finds no new owner by its deadline, fails owner_lost (REST 502)', async () => {
    // Slow heartbeats: the owner stays alive in the table, so the lost call has nowhere to go.
    const nodes = await mesh(2, { membership: { heartbeatMs: 60_000, deadAfterMs: 300_000 } })
    const [a, b] = nodes as [MeshNode, MeshNode]
    let running = 0
    b.actor('counter', () => ({ call: () => (running++, new Promise(() => {})) }))
    const id = ids(200).find((i) => a.ownerOf('counter', i)?.id === b.id)!
    const rest = createRestHandler(a)
    const answer = rest({
      method: 'POST',
      path: `/call/counter/${id}`,
      query: new URLSearchParams('timeoutMs=1500'),
      body: () => Promise.resolve(''),
    })
    const direct = a.call({ capability: 'counter', id, timeoutMs: 1500 }).catch((e: unknown) => e)
    await waitUntil('the call reached the actor', () => running === 1, { subscribe: nodeEvents(...nodes) })
    a.cut(b.id)
    expect(await direct).toMatchObject({ code: 'owner_lost' })
    expect(await answer).toMatchObject({ status: 502, body: { code: 'owner_lost' } })
  })

  it('a call to an owner without a direct link is relayed once by a linked peer', async () => {
    // A - B - C in a line: maxPeers 0 keeps A and C from dialing each other.
    const nodes = await mesh(2, { maxPeers: 0 })
    const c = await serveNode({ name: 'c', capabilities: ['counter'], maxPeers: 0, ...fast })
    served.push(c)
    await c.node.join([served[1]!.url])
    const all = [...nodes, c.node]
    await converged(all)
    expect(nodes[0]!.status().peers.map((p) => p.id)).not.toContain(c.node.id)
    const log = { started: [] as string[], stopped: [] as string[] }
    for (const n of all) n.actor('counter', counters(n, log))
    const id = ids(200).find((i) => nodes[0]!.ownerOf('counter', i)?.id === c.node.id)!
    expect(await nodes[0]!.call({ capability: 'counter', id, payload: { add: 5 } })).toBe(5)
    expect(await nodes[0]!.call({ capability: 'counter', id, payload: { add: 5 } })).toBe(10)
    expect(log.started).toEqual([`c:${id}`])
  })
})

describe('hostile call frames', () => {
  it('close only the link that sent them; the node keeps routing for everyone else', async () => {
    const nodes = await mesh(2)
    for (const n of nodes) n.actor('counter', () => ({ call: () => 'fine' }))
    const target = nodes[0]!.id
    const call = { callId: 1, capability: 'counter', id: 'x', target, flags: 0, timeoutMs: 1000, payload: 'null' }
    const hostile = [
      encodePeer.call({ ...call, payload: '{not json' }),
      encodePeer.call({ ...call, payload: '['.repeat(100) + ']'.repeat(100) }),
      encodePeer.call({ ...call, capability: '' }),
      encodePeer.call({ ...call, id: 'x'.repeat(5000) }),
      encodePeer.call({ ...call, flags: 64 }),
      encodePeer.call({ ...call, target: 'someone-else', flags: CallFlag.relayed }),
      new Uint8Array([31, 1, 99, 0]), // answer with an unknown status
    ]
    for (const frame of hostile) {
      const peer = await rawPeer(served[0]!.url)
      peer.ws.send(frame)
      expect(await peer.closed).toBe(4400)
    }
    // An answer nobody asked for is ignored, and a good call from a raw peer is answered.
    const peer = await rawPeer(served[0]!.url)
    peer.ws.send(encodePeer.answer(12345, 'ok', '1'))
    const id = ids(200).find((i) => nodes[0]!.ownerOf('counter', i)?.id === target)!
    peer.ws.send(encodePeer.call({ ...call, callId: 9, id }))
    await waitUntil('an answer to the good call', () => peer.frames.some((f) => f[0] === 31))
    peer.ws.close()
    expect(await nodes[1]!.call({ capability: 'counter', id })).toBe('fine')
    expect(await nodes[0]!.call({ capability: 'counter', id })).toBe('fine')
  })
})
