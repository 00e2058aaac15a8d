import type { Socket } from 'node:net'
import { CloseCode, type MeshNode } from '@mesh/core'
import { waitUntil } from '@mesh/core/testing'
import { describe, expect, it } from 'vitest'
import { memoryLogger, servedPerTest } from './helpers.js'

const { start } = servedPerTest()

/** Links a node closed for silence: `mesh_rejected_total{reason="silent"}`. */
const silentCloses = (node: MeshNode): number =>
  node
    .metrics()
    .find((m) => m.name === 'mesh_rejected_total')
    ?.values.find((v) => v.labels?.reason === 'silent')?.value ?? 0

describe('a peer link that stays open but stops answering', () => {
  it('is never closed between live idle peers, even with deadAfterMs barely above heartbeatMs', async () => {
    // Beats come every other heartbeat (up to 2.4 apart with jitter): a bound of 2 × deadAfterMs
    // alone would be 2.2 heartbeats here, shorter than an honest gap.
    const options = { membership: { heartbeatMs: 40, deadAfterMs: 44 } }
    const a = await start({ name: 'a', ...options })
    const b = await start({ name: 'b', ...options })
    await b.node.join([a.url])
    await b.node.syncUp()
    const framesIn = () => a.node.metrics().find((m) => m.name === 'mesh_peer_frames_in_total')?.values[0]?.value ?? 0
    const start0 = framesIn()
    // 40 of b's beats: about 80 heartbeats of an idle link.
    await waitUntil('a received 40 more frames from b', () => framesIn() >= start0 + 40, { timeoutMs: 30_000 })
    expect(silentCloses(a.node) + silentCloses(b.node)).toBe(0)
  })

  it('is closed with the named code past the silence bound, and the node behind it converges through the others', async () => {
    // Anti-entropy far away: it would heal the gap on its own, much later.
    const options = { membership: { heartbeatMs: 50, deadAfterMs: 300 }, antiEntropyMs: 600_000 }
    const logs = memoryLogger()
    const a = await start({ name: 'a', ...options })
    const b = await start({ name: 'b', ...options })
    const c = await start({ name: 'c', ...options, logger: logs.logger })
    // Every connection a makes to c lands on c's server; c's link to b is its own dial.
    const accepted: Socket[] = []
    let stalled = false
    c.server.on('connection', (socket: Socket) => {
      accepted.push(socket)
      if (stalled) socket.pause()
    })
    await c.node.join([b.url])
    await a.node.join([b.url, c.url])
    for (const s of [a, b, c]) await s.node.syncUp()
    await a.node.put('before', 1)
    await waitUntil('c has a write of a', () => c.node.get('before') === 1)

    // c stops reading every connection a opened to it: a's frames wait in the kernel, the
    // sockets stay up, and a's heartbeats still reach c through b (a is alive to c).
    stalled = true
    for (const socket of accepted) socket.pause()
    for (let i = 0; i < 20; i++) await a.node.put(`during:${i}`, i)
    await waitUntil('c closed the silent link with 4408', () => silentCloses(c.node) > 0)
    expect(logs.entries).toContainEqual(
      expect.objectContaining({
        level: 'warn',
        message: 'closing peer link that stopped answering',
        fields: expect.objectContaining({ peer: a.node.id }),
      }),
    )
    await waitUntil('c has every write a made while its link was stalled', () => c.node.get('during:19') === 19, {
      subscribe: (wake) => c.node.on('change', wake),
      timeoutMs: 15_000,
    })
    expect(c.node.data.toJSON()).toEqual(a.node.data.toJSON())

    // Reading again, c links to a once more and stays equal.
    stalled = false
    for (const socket of accepted) socket.resume()
    await a.node.put('after', true)
    await waitUntil('c has a write made after the stall', () => c.node.get('after') === true, {
      subscribe: (wake) => c.node.on('change', wake),
    })
    await waitUntil('all three equal', () =>
      [b, c].every((s) => JSON.stringify(s.node.data.toJSON()) === JSON.stringify(a.node.data.toJSON())),
    )
  })

  it('is not cut while the peer is busy applying a large cold join (200,000 keys)', async () => {
    const holder = await start({ name: 'holder' })
    for (let start = 0; start < 200_000; start += 20_000) {
      await holder.node.put(
        Object.fromEntries(Array.from({ length: 20_000 }, (_, i) => [`key:${start + i}`, start + i])),
      )
    }
    expect(holder.node.data.size).toBe(200_000)
    const joiner = await start({ name: 'joiner' })
    await joiner.node.join([holder.url])
    await joiner.node.syncUp({ timeoutMs: 120_000 })
    await waitUntil('the joiner holds every key', () => joiner.node.data.size === 200_000, { timeoutMs: 120_000 })
    // Each hears the other's heartbeats from well past the join: their own silence checks ran meanwhile.
    const past = Date.now() + 2500
    const heard = (node: MeshNode, other: MeshNode) =>
      (node.members().find((m) => m.id === other.id)?.lastSeen ?? 0) > past
    await waitUntil(
      'heartbeats from past the join',
      () => heard(holder.node, joiner.node) && heard(joiner.node, holder.node),
      {
        timeoutMs: 10_000,
      },
    )
    for (const s of [holder, joiner]) {
      expect(silentCloses(s.node), `${s.node.name} cut a link for silence`).toBe(0)
      expect(s.node.status().peers.filter((p) => p.link === 'open')).toHaveLength(1)
    }
    expect(CloseCode.silent).toBe(4408)
  }, 180_000)
})

describe('a node whose own heartbeats stalled past deadAfterMs', () => {
  it('says so, links to its peers again, and judges none of them dead for its own stall', async () => {
    const options = { membership: { heartbeatMs: 50, deadAfterMs: 300 } }
    const logs = memoryLogger()
    const a = await start({ name: 'a', ...options, logger: logs.logger })
    const b = await start({ name: 'b', ...options })
    await b.node.join([a.url])
    await a.node.syncUp()
    const dead: string[] = []
    a.node.on('member:dead', ({ member }) => dead.push(member.name))
    const linkToB = () => a.node.status().peers.find((p) => p.id === b.node.id && p.link === 'open')
    const before = linkToB()
    expect(before).toBeDefined()
    // Both nodes share this process: both stall, as a long GC would stall them.
    const until = Date.now() + 2 * 300
    while (Date.now() < until);
    await waitUntil('a logged the stall', () =>
      logs.entries.some(
        (e) =>
          e.level === 'warn' && e.message === 'heartbeats stalled past the failure bound: linking to every peer again',
      ),
    )
    await a.node.put('after', 1)
    await waitUntil('b has a write made after the stall', () => b.node.get('after') === 1, {
      subscribe: (wake) => b.node.on('change', wake),
    })
    await waitUntil(
      'a links to b again and sees it alive',
      () => a.node.members().some((m) => m.id === b.node.id && m.state === 'alive') && linkToB() !== undefined,
    )
    expect(dead).toEqual([])
  })
})
