import type { MeshNode } from '@mesh/core'
import { nodeEvents, waitUntil } from '@mesh/core/testing'
import { afterEach, describe, expect, it } from 'vitest'
import { serveNode, type ServedNode } from './helpers.js'

const served: ServedNode[] = []
afterEach(async () => {
  await Promise.all(served.splice(0).map((s) => s.close()))
})

const counter = (node: MeshNode, name: string): number =>
  node
    .metrics()
    .find((m) => m.name === name)
    ?.values.find((v) => v.suffix === undefined || v.suffix === '_count')?.value ?? 0

/**
 * A caller cut from the owner, so that its calls go through the relay, with the given ids (the
 * smaller dialer id keeps its link when two links join the same nodes, docs/protocol.md). The
 * owner's actor logs its runs; its first call answers only when `release` is called.
 */
const relayed = async (ids: { caller: string; relay: string; owner: string }) => {
  const membership = { heartbeatMs: 100, deadAfterMs: 10_000 }
  const caller = await serveNode({ id: ids.caller, name: 'caller', membership })
  const relay = await serveNode({ id: ids.relay, name: 'relay', membership })
  const owner = await serveNode({ id: ids.owner, name: 'owner', capabilities: ['counter'], membership })
  served.push(caller, relay, owner)
  const subscribe = nodeEvents(caller.node, relay.node, owner.node)
  caller.node.cut(owner.node.id)
  owner.node.cut(caller.node.id)
  await caller.node.join([relay.url])
  await relay.node.join([owner.url])
  await waitUntil(
    'the caller sees the owner alive with counter',
    () => caller.node.members().some((m) => m.id === owner.node.id && m.state === 'alive' && m.capabilities.length),
    { subscribe },
  )
  const held = { runs: [] as string[], release: undefined as (() => void) | undefined }
  owner.node.actor('counter', () => ({
    call: (payload) => {
      const run = `${payload as string} #${held.runs.push(payload as string)}`
      return held.runs.length === 1 ? new Promise((resolve) => (held.release = () => resolve(run))) : run
    },
  }))
  // A timeout the test outlives: a call lost at the relay waits for a route change until then.
  const first = caller.node.call({ capability: 'counter', id: 'k', payload: 'hold', timeoutMs: 10_000 })
  await waitUntil('the call runs on the owner', () => held.release !== undefined, { subscribe })
  return {
    caller: caller.node,
    relay: relay.node,
    owner: owner.node,
    urls: [caller.url, relay.url],
    subscribe,
    held,
    first,
  }
}

const linkTo = (n: MeshNode, peer: string) => n.status().peers.find((p) => p.id === peer && p.link === 'open')

describe('a relayed call whose link is replaced by a duplicate', () => {
  it('relay–owner: is sent again by the relay on the link that stayed, runs once and is answered', async () => {
    const { caller, relay, owner, urls, subscribe, held, first } = await relayed({
      caller: 'm-caller',
      relay: 'z-relay',
      owner: 'a-owner',
    })
    // Before, the relay answered owner_lost at once, and the caller, whose own route had not
    // changed, waited for one until its deadline.
    expect(linkTo(relay, owner.id)?.direction).toBe('outgoing')
    await owner.join([urls[1]!])
    await waitUntil("the owner's link replaced the relay's", () => linkTo(relay, owner.id)?.direction === 'incoming', {
      subscribe,
    })
    const reached = () => counter(owner, 'mesh_calls_served_total') + counter(owner, 'mesh_calls_joined_total')
    await waitUntil('the copy the relay sent again reached the owner', () => reached() === 2, { subscribe })
    held.release?.()
    expect(await first).toBe('hold #1')
    expect(await caller.call({ capability: 'counter', id: 'k', payload: 'next' })).toBe('next #2')
    expect(held.runs).toEqual(['hold', 'next'])
  })

  it('caller–relay: the copy the caller sends again joins the relayed call, which runs once', async () => {
    const { caller, relay, urls, subscribe, held, first } = await relayed({
      caller: 'z-caller',
      relay: 'a-relay',
      owner: 'm-owner',
    })
    // Before, the relay sent the copy on as a new call of its own, and the owner ran it again.
    expect(linkTo(caller, relay.id)?.direction).toBe('outgoing')
    await relay.join([urls[0]!])
    await waitUntil(
      "the relay's link replaced the caller's",
      () => linkTo(caller, relay.id)?.direction === 'incoming',
      {
        subscribe,
      },
    )
    await waitUntil(
      'the copy the caller sent again reached the relay',
      () => counter(relay, 'mesh_calls_relayed_total') === 2,
      {
        subscribe,
      },
    )
    held.release?.()
    expect(await first).toBe('hold #1')
    expect(await caller.call({ capability: 'counter', id: 'k', payload: 'next' })).toBe('next #2')
    expect(held.runs).toEqual(['hold', 'next'])
  })
})
