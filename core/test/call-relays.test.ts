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

describe('a relayed call whose relay–owner link is replaced by a duplicate', () => {
  it('is sent again by the relay on the link that stayed, runs once and is answered', async () => {
    // The caller is cut from the owner, so its calls go through the relay. Ids fixed so that
    // the relay's link to the owner loses to the one the owner dials later (the smaller dialer
    // id keeps its link, docs/protocol.md): relay and owner stay linked throughout.
    const membership = { heartbeatMs: 100, deadAfterMs: 10_000 }
    const caller = await serveNode({ id: 'm-caller', name: 'caller', membership })
    const relay = await serveNode({ id: 'z-relay', name: 'relay', membership })
    const owner = await serveNode({ id: 'a-owner', name: 'owner', capabilities: ['counter'], membership })
    served.push(caller, relay, owner)
    const nodes = [caller.node, relay.node, owner.node]
    caller.node.cut(owner.node.id)
    owner.node.cut(caller.node.id)
    await caller.node.join([relay.url])
    await relay.node.join([owner.url])
    await waitUntil(
      'the caller sees the owner alive with counter',
      () => caller.node.members().some((m) => m.id === owner.node.id && m.state === 'alive' && m.capabilities.length),
      { subscribe: nodeEvents(...nodes) },
    )
    const runs: string[] = []
    let release: (() => void) | undefined
    owner.node.actor('counter', () => ({
      call: (payload) => {
        const run = `${payload as string} #${runs.push(payload as string)}`
        return runs.length === 1 ? new Promise((resolve) => (release = () => resolve(run))) : run
      },
    }))
    // A timeout the test outlives: before, the relay answered owner_lost at once and the caller,
    // whose own route had not changed, waited for one until its deadline.
    const first = caller.node.call({ capability: 'counter', id: 'k', payload: 'hold', timeoutMs: 10_000 })
    await waitUntil('the call runs on the owner', () => release !== undefined, { subscribe: nodeEvents(...nodes) })
    const linkTo = (n: MeshNode, peer: string) => n.status().peers.find((p) => p.id === peer && p.link === 'open')
    expect(linkTo(relay.node, owner.node.id)?.direction).toBe('outgoing')
    await owner.node.join([relay.url])
    await waitUntil(
      "the owner's link replaced the relay's",
      () => linkTo(relay.node, owner.node.id)?.direction === 'incoming',
      {
        subscribe: nodeEvents(...nodes),
      },
    )
    const reached = () =>
      counter(owner.node, 'mesh_calls_served_total') + counter(owner.node, 'mesh_calls_joined_total')
    await waitUntil('the copy the relay sent again reached the owner', () => reached() === 2, {
      subscribe: nodeEvents(...nodes),
    })
    release?.()
    expect(await first).toBe('hold #1')
    expect(await caller.node.call({ capability: 'counter', id: 'k', payload: 'next' })).toBe('next #2')
    expect(runs).toEqual(['hold', 'next'])
  })
})
