import net from 'node:net'
import type { MeshCallError, MeshNode, MeshNodeOptions } from '@mesh/core'
import { nodeEvents, waitUntil } from '@mesh/core/testing'
import { afterEach, describe, expect, it } from 'vitest'
import { DEADLINE_SLOT_MS, Deadlines } from '../src/routing/deadlines.js'
import { serveNode, type ServedNode } from './helpers.js'

const served: ServedNode[] = []
afterEach(async () => {
  await Promise.all(served.splice(0).map((s) => s.close()))
})

const fast = { membership: { heartbeatMs: 100, deadAfterMs: 1500 } } satisfies MeshNodeOptions

/** Two linked nodes declaring `counter`; resolves once each sees the other alive with it. */
const pair = async (options: MeshNodeOptions = fast): Promise<[MeshNode, MeshNode]> => {
  const a = await serveNode({ name: 'a', capabilities: ['counter'], ...options })
  const b = await serveNode({ name: 'b', capabilities: ['counter'], ...options })
  served.push(a, b)
  await b.node.join([a.url])
  await waitUntil(
    'both nodes see both alive with counter',
    () =>
      [a.node, b.node].every(
        (n) => n.members().filter((m) => m.state === 'alive' && m.capabilities.includes('counter')).length === 2,
      ),
    { subscribe: nodeEvents(a.node, b.node), timeoutMs: 10_000 },
  )
  return [a.node, b.node]
}

const counter = (node: MeshNode, name: string): number | undefined =>
  node
    .metrics()
    .find((m) => m.name === name)
    ?.values.find((v) => v.suffix === undefined || v.suffix === '_count')?.value

const errorsOf = (node: MeshNode, code: string): number =>
  node
    .metrics()
    .find((m) => m.name === 'mesh_call_errors_total')
    ?.values.find((v) => v.labels?.code === code)?.value ?? 0

interface Item {
  slot: number | undefined
  prevDue: Item | undefined
  nextDue: Item | undefined
  deadline: number
}
const item = (deadline: number): Item => ({ slot: undefined, prevDue: undefined, nextDue: undefined, deadline })

describe('call deadlines (one timer for all calls)', () => {
  it('expire each item once, never before its deadline; a deleted item never expires', async () => {
    const expired: Array<{ item: Item; at: number; deadline: number }> = []
    const deadlines = new Deadlines<Item>({
      expire: (it) => expired.push({ item: it, at: Date.now(), deadline: it.deadline }),
    })
    const start = Date.now()
    const items = Array.from({ length: 50 }, (_, i) => item(start + 5 + ((i * 37) % 60)))
    // Added out of order, as calls with different timeouts are.
    for (const it of items) deadlines.add(it, it.deadline)
    const kept = items.filter((_, i) => i % 5 !== 0)
    for (const it of items.filter((_, i) => i % 5 === 0)) deadlines.delete(it)
    expect(deadlines.size).toBe(kept.length)
    await waitUntil('every kept item expired', () => expired.length >= kept.length)
    expect(new Set(expired.map((e) => e.item)).size).toBe(expired.length)
    expect(expired.map((e) => e.item).sort((x, y) => items.indexOf(x) - items.indexOf(y))).toEqual(kept)
    for (const e of expired) expect(e.at).toBeGreaterThanOrEqual(e.deadline)
    expect(deadlines.size).toBe(0)
    // Moving an item replaces its deadline; expiring may add new items.
    const again = item(Date.now() + 2 * DEADLINE_SLOT_MS)
    const chained = new Deadlines<Item>({
      expire: (it) => {
        expired.push({ item: it, at: Date.now(), deadline: it.deadline })
        if (it === again) chained.add(later, later.deadline)
      },
    })
    const later = item(Date.now() + 4 * DEADLINE_SLOT_MS)
    chained.add(again, Date.now() + 60_000)
    chained.add(again, again.deadline)
    await waitUntil('the chained item expired', () => expired.some((e) => e.item === later))
    expect(expired.filter((e) => e.item === again)).toHaveLength(1)
    expect(chained.size).toBe(0)
  })

  it('a call that gets no answer fails timeout exactly once; answered calls never time out', async () => {
    const [a, b] = await pair()
    let hanging = 0
    for (const n of [a, b]) {
      n.actor('counter', () => ({
        call: (payload) => (payload === 'hang' ? (hanging++, new Promise(() => {})) : payload),
      }))
    }
    const ids = Array.from({ length: 200 }, (_, i) => `t-${i}`)
    const remote = ids.filter((id) => a.ownerOf('counter', id)?.id === b.id).slice(0, 20)
    const local = ids.filter((id) => a.ownerOf('counter', id)?.id === a.id).slice(0, 20)
    const settled: string[] = []
    const calls = [...remote, ...local].map((id, i) =>
      a.call({ capability: 'counter', id, payload: 'hang', timeoutMs: 1500 + (i % 7) * 100 }).then(
        () => settled.push(`answered ${id}`),
        (error: unknown) => settled.push(`${(error as MeshCallError).code} ${id}`),
      ),
    )
    // Answered long before the hanging calls time out: their deadlines (1 s) pass meanwhile
    // and must not fire.
    const answered = await Promise.all(
      [...remote, ...local].map((id, i) =>
        a.call({ capability: 'counter', id: `${id}-ok`, payload: i, timeoutMs: 1000 }),
      ),
    )
    await Promise.all(calls)
    expect(answered).toEqual([...remote, ...local].map((_, i) => i))
    expect(hanging).toBe(remote.length + local.length)
    expect(settled.sort()).toEqual([...remote, ...local].map((id) => `timeout ${id}`).sort())
    expect(errorsOf(a, 'timeout')).toBe(remote.length + local.length)
    expect(counter(a, 'mesh_call_duration_seconds')).toBe(answered.length)
  })

  it('a closed link fails its calls in flight (owner_lost, once each); closing the node fails the waiting ones', async () => {
    // Slow heartbeats: the owner stays alive in the table, so the lost calls have nowhere to go.
    const [a, b] = await pair({ membership: { heartbeatMs: 60_000, deadAfterMs: 300_000 } })
    let running = 0
    b.actor('counter', () => ({ call: () => (running++, new Promise(() => {})) }))
    a.actor('counter', () => ({ call: () => new Promise(() => {}) }))
    const ids = Array.from({ length: 200 }, (_, i) => `c-${i}`)
    const remote = ids.filter((id) => a.ownerOf('counter', id)?.id === b.id).slice(0, 10)
    const lost = remote.map((id) =>
      a.call({ capability: 'counter', id, timeoutMs: 1500 }).catch((e: unknown) => e as MeshCallError),
    )
    await waitUntil('the calls reached the actor', () => running === remote.length, { subscribe: nodeEvents(a, b) })
    a.cut(b.id)
    for (const error of await Promise.all(lost)) expect(error).toMatchObject({ code: 'owner_lost' })
    expect(errorsOf(a, 'owner_lost')).toBe(remote.length)
    expect(errorsOf(a, 'timeout')).toBe(0)
    const localId = ids.find((id) => a.ownerOf('counter', id)?.id === a.id)!
    const waiting = a.call({ capability: 'counter', id: localId, timeoutMs: 60_000 }).catch((e: unknown) => e)
    const servedA = served.splice(
      served.findIndex((x) => x.node === a),
      1,
    )[0]!
    await servedA.close()
    expect(await waiting).toMatchObject({ code: 'closed' })
  })
})

describe('an owner lost twice', () => {
  it('a call whose owner is lost through one link, then another, waits for a third instead of failing owner_lost', async () => {
    // As when the owner is killed: this node's link and a relay's close one after the other, and
    // the owner is still alive in the table until the failure detector says otherwise.
    const [a, b] = await pair({ membership: { heartbeatMs: 60_000, deadAfterMs: 300_000 } })
    let calls = 0
    // The call answers only once its link was cut under it twice: the caller loses it through
    // one link, then through the one that replaced it. The owner keeps the answer it could not
    // send for the caller's next copy, so the call runs once (before, it ran once per link).
    let release = (): void => {}
    b.actor('counter', () => ({
      call: () => {
        const n = ++calls
        return new Promise((resolve) => (release = () => resolve(n)))
      },
    }))
    a.actor('counter', () => ({ call: () => 'a' }))
    const id = Array.from({ length: 200 }, (_, i) => `c-${i}`).find((x) => a.ownerOf('counter', x)?.id === b.id)!
    const answer = a.call({ capability: 'counter', id, timeoutMs: 30_000 })
    const linked = () => a.status().peers.some((p) => p.id === b.id && p.link === 'open')
    // Run, or joined to the run in progress as a copy.
    const reached = () => (counter(b, 'mesh_calls_served_total') ?? 0) + (counter(b, 'mesh_calls_joined_total') ?? 0)
    for (const round of [1, 2]) {
      await waitUntil(`attempt ${round} reached the owner`, () => reached() === round, { subscribe: nodeEvents(a, b) })
      a.cut(b.id)
      await waitUntil('the link is down', () => !linked(), { subscribe: nodeEvents(a, b) })
      if (round === 2) release()
      a.heal(b.id)
      await waitUntil('the link is back', linked, { subscribe: nodeEvents(a, b) })
    }
    expect(await answer).toBe(1)
    expect(calls).toBe(1)
    expect(errorsOf(a, 'owner_lost')).toBe(0)
  })
})

/**
 * A caller and an owner linked by the caller's dial, with ids fixed so that the link the caller
 * dials loses to the one the owner dials later (the smaller dialer id keeps its link,
 * docs/protocol.md): the peers stay linked throughout, as after a heal where both sides redial
 * at once (the CI failure of "an owner lost twice"). The owner's actor logs its runs; the call
 * named `hold`, when it runs first, answers only when `release` is called, with `pad` after its name.
 */
const duplicatePair = async () => {
  const slow = { membership: { heartbeatMs: 60_000, deadAfterMs: 300_000 } }
  const caller = await serveNode({ id: 'z-caller', name: 'caller', capabilities: ['counter'], ...slow })
  const owner = await serveNode({ id: 'a-owner', name: 'owner', capabilities: ['counter'], ...slow })
  served.push(caller, owner)
  const [a, b] = [caller.node, owner.node]
  await a.join([owner.url])
  await waitUntil(
    'both see both alive with counter',
    () =>
      [a, b].every(
        (n) => n.members().filter((m) => m.state === 'alive' && m.capabilities.includes('counter')).length === 2,
      ),
    { subscribe: nodeEvents(a, b) },
  )
  const held = { runs: [] as string[], release: undefined as (() => void) | undefined, pad: '' }
  b.actor('counter', () => ({
    call: (payload) => {
      const run = `${payload as string} #${held.runs.push(payload as string)}`
      if (payload !== 'hold' || held.runs.length > 1) return run
      return new Promise((resolve) => (held.release = () => resolve(run + held.pad)))
    },
  }))
  a.actor('counter', () => ({ call: () => 'a' }))
  const id = Array.from({ length: 200 }, (_, i) => `d-${i}`).find((x) => a.ownerOf('counter', x)?.id === b.id)!
  const linkTo = (n: MeshNode, peer: string) => n.status().peers.find((p) => p.id === peer && p.link === 'open')
  expect(linkTo(a, b.id)?.direction).toBe('outgoing')
  const redial = async () => {
    await b.join([caller.url])
    await waitUntil("the owner's link replaced the caller's", () => linkTo(a, b.id)?.direction === 'incoming', {
      subscribe: nodeEvents(a, b),
    })
  }
  return { a, b, id, held, redial }
}

describe('a link replaced by a duplicate', () => {
  it('a call in flight on a link the peer replaced by its own dial runs once and is answered on the new link', async () => {
    const { a, b, id, held, redial } = await duplicatePair()
    const first = a.call({ capability: 'counter', id, payload: 'hold', timeoutMs: 30_000 })
    await waitUntil('the call runs on the owner', () => held.release !== undefined, { subscribe: nodeEvents(a, b) })
    await redial()
    // The caller cannot tell whether the closed link delivered the call, so it sends it again;
    // wait until that copy reached the owner (run, or joined to the run in progress).
    const reached = () => (counter(b, 'mesh_calls_served_total') ?? 0) + (counter(b, 'mesh_calls_joined_total') ?? 0)
    await waitUntil('the copy sent again reached the owner', () => reached() === 2, { subscribe: nodeEvents(a, b) })
    held.release?.()
    expect(await first).toBe('hold #1')
    expect(await a.call({ capability: 'counter', id, payload: 'next' })).toBe('next #2')
    expect(held.runs).toEqual(['hold', 'next'])
    expect(errorsOf(a, 'owner_lost')).toBe(0)
  })

  it('a call answered on the link that replaced its own runs once, though the caller sent it again first', async () => {
    // The owner answers the moment its link from the caller is replaced (closed by either side
    // as a duplicate): on the new link, before any copy can arrive. The caller sees its old link
    // close before it has read that answer (a large one, to make sure) and sends the call again.
    const { a, b, id, held, redial } = await duplicatePair()
    held.pad = '.'.repeat(4 * 1024 * 1024)
    const first = a.call({ capability: 'counter', id, payload: 'hold', timeoutMs: 30_000 })
    await waitUntil('the call runs on the owner', () => held.release !== undefined, { subscribe: nodeEvents(a, b) })
    const off = b.on('peer:up', () => held.release?.())
    await redial()
    off()
    expect(await first).toBe(`hold #1${held.pad}`)
    expect(await a.call({ capability: 'counter', id, payload: 'next' })).toBe('next #2')
    expect(held.runs).toEqual(['hold', 'next'])
    expect(errorsOf(a, 'owner_lost')).toBe(0)
  })
})

describe('a call on a link that went silent', () => {
  /** A TCP proxy to `target` whose `silence()` drops everything both ways without closing. */
  const silentProxy = async (target: string) => {
    const { hostname, port, pathname } = new URL(target)
    let silent = false
    const sockets: net.Socket[] = []
    const server = net.createServer((client) => {
      const upstream = net.connect(Number(port), hostname)
      sockets.push(client, upstream)
      client.on('data', (d: Buffer) => {
        if (!silent) upstream.write(d)
      })
      upstream.on('data', (d: Buffer) => {
        if (!silent) client.write(d)
      })
      for (const socket of [client, upstream]) socket.on('error', () => {})
      client.on('close', () => upstream.destroy())
      upstream.on('close', () => client.destroy())
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const proxyPort = (server.address() as net.AddressInfo).port
    const close = () => {
      for (const socket of sockets) socket.destroy()
      server.close()
    }
    return { url: `ws://127.0.0.1:${proxyPort}${pathname}`, silence: () => (silent = true), close }
  }

  // The link is replaced by the owner's own dial (4409), but the silent path never brings the
  // peer's close frame: the drain must end on its own, not after ws's 30 s close timeout.
  it('is sent again once the link that replaced it is up, not after the old one times out', async () => {
    const membership = { heartbeatMs: 60_000, deadAfterMs: 300_000 }
    const caller = await serveNode({ id: 'z-caller', name: 'caller', membership })
    const owner = await serveNode({ id: 'a-owner', name: 'owner', capabilities: ['counter'], membership })
    served.push(caller, owner)
    const proxy = await silentProxy(owner.url)
    try {
      await caller.node.join([proxy.url])
      await waitUntil(
        'the caller sees the owner',
        () => caller.node.members().some((m) => m.id === 'a-owner' && m.capabilities.includes('counter')),
        { subscribe: nodeEvents(caller.node, owner.node) },
      )
      let runs = 0
      owner.node.actor('counter', () => ({ call: (x) => (runs++, `ran ${x as string}`) }))
      proxy.silence()
      // Well under ws's 30 s close timeout: the call fails unless the drain ends sooner.
      const answer = caller.node.call({ capability: 'counter', id: 'k', payload: 'x', timeoutMs: 10_000 })
      await owner.node.join([caller.url])
      expect(await answer).toBe('ran x')
      expect(runs).toBe(1)
    } finally {
      proxy.close()
    }
  })
})

describe('actor mailbox with actors that answer at once', () => {
  it('runs one call at a time in arrival order, mixing answers and promises', async () => {
    const s = await serveNode({ capabilities: ['counter'] })
    served.push(s)
    let running = 0
    let most = 0
    const order: number[] = []
    s.node.actor('counter', () => ({
      call: (payload) => {
        const n = payload as number
        running++
        most = Math.max(most, running)
        order.push(n)
        if (n % 3 !== 0) {
          running--
          return n
        }
        return new Promise((resolve) =>
          setImmediate(() => {
            running--
            resolve(n)
          }),
        )
      },
    }))
    const call = (n: number) => s.node.call({ capability: 'counter', id: 'one', payload: n })
    expect(await call(1)).toBe(1)
    order.length = 0
    // A burst (the first runs at once, the rest queue), then calls one after the other (each at once).
    const answers = await Promise.all(Array.from({ length: 60 }, (_, n) => call(n)))
    for (let n = 60; n < 90; n++) answers.push(await call(n))
    expect(answers).toEqual(Array.from({ length: 90 }, (_, n) => n))
    expect(order).toEqual(answers)
    expect(most).toBe(1)
  })

  it('a call an actor makes to itself waits until its own call is answered', async () => {
    const s = await serveNode({ capabilities: ['counter'] })
    served.push(s)
    const log: string[] = []
    let finishOuter: (() => void) | undefined
    s.node.actor('counter', () => ({
      call: (payload) => {
        log.push(`start ${JSON.stringify(payload)}`)
        if (payload !== 'outer') return payload
        s.node.cast({ capability: 'counter', id: 'self', payload: 'inner' })
        return new Promise((resolve) => {
          finishOuter = () => {
            log.push('end outer')
            resolve('outer')
          }
        })
      },
    }))
    // Started and idle: the next call runs at once.
    expect(await s.node.call({ capability: 'counter', id: 'self', payload: 'warm' })).toBe('warm')
    log.length = 0
    const outer = s.node.call({ capability: 'counter', id: 'self', payload: 'outer' })
    await waitUntil('the outer call runs', () => finishOuter !== undefined)
    // Everything already queued would have run by the next turn.
    await new Promise((resolve) => setImmediate(resolve))
    expect(log).toEqual(['start "outer"'])
    finishOuter?.()
    expect(await outer).toBe('outer')
    await waitUntil('the inner call ran', () => log.length === 3)
    expect(log).toEqual(['start "outer"', 'end outer', 'start "inner"'])
  })

  it('an actor that throws or answers what JSON cannot hold fails with actor_failed, and the next call runs', async () => {
    const s = await serveNode({ capabilities: ['counter'] })
    served.push(s)
    s.node.actor('counter', () => ({
      call: (payload) => {
        if (payload === 'throw') throw new Error('nope')
        if (payload === 'fn') return { fn: () => 1 }
        return payload
      },
    }))
    const call = (payload: string) =>
      s.node.call({ capability: 'counter', id: 'x', payload }).catch((e: unknown) => e as MeshCallError)
    expect(await call('throw')).toMatchObject({ code: 'actor_failed', message: 'nope' })
    expect(await call('fn')).toMatchObject({ code: 'actor_failed' })
    expect(await call('fine')).toBe('fine')
  })
})
