import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { waitUntil } from '@mesh/core/testing'
import { describe, expect, it } from 'vitest'
import { servedPerTest } from './helpers.js'

const { start } = servedPerTest()
const timing = { membership: { heartbeatMs: 50, deadAfterMs: 1000 } }

/** A URL nobody listens on: the port of a server that was closed. */
const deadUrl = async (): Promise<string> => {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return `ws://127.0.0.1:${port}/mesh`
}

describe('dialers that cannot bring a distinct live member', () => {
  it('a dialer gossip started for a member that then linked another way is dropped, and syncUp does not wait for it', async () => {
    const seed = await start({ name: 'seed', ...timing })
    // a advertises an address nobody can dial (a URL that changed, a wrong advertised host), and
    // dials nobody by gossip itself.
    const a = await start({ name: 'a', maxPeers: 1, ...timing })
    const wrong = await deadUrl()
    a.node.url = wrong
    await a.node.join([seed.url])
    const b = await start({ name: 'b', ...timing })
    await b.node.join([seed.url])
    await waitUntil('b dials the address gossip gave for a', () =>
      b.node.status().peers.some((p) => p.url === wrong && p.direction === 'outgoing'),
    )
    // a reaches b itself: b is linked to a, through a link that a dialed.
    await a.node.join([b.url])
    await waitUntil('b linked to a', () => b.node.status().peers.some((p) => p.id === a.node.id && p.link === 'open'))

    await b.node.syncUp({ timeoutMs: 5000 })
    // The link a dialed lists a's advertised URL too, as incoming.
    const dialing = () => b.node.status().peers.filter((p) => p.direction === 'outgoing' && p.url === wrong)
    await waitUntil('b dropped the dialer of the address that never answers', () => dialing().length === 0)
    expect(b.node.status().peers.filter((p) => p.url === wrong || p.id === a.node.id)).toMatchObject([
      { id: a.node.id, direction: 'incoming', link: 'open' },
    ])
  })

  it('nodes that dialed each other at once by gossip keep one row per peer: the dialer that lost the duplicate is dropped', async () => {
    const seed = await start({ name: 'seed', ...timing })
    const nodes = await Promise.all(Array.from({ length: 6 }, (_, i) => start({ name: `n${i}`, ...timing })))
    // All at once: each learns the others from the seed's gossip at about the same time, and
    // pairs that dial each other both ways keep one link (docs/protocol.md, duplicates).
    await Promise.all(nodes.map((s) => s.node.join([seed.url])))
    const everyone = [seed, ...nodes].map((s) => s.node)
    for (const node of everyone) {
      const others = everyone.filter((o) => o !== node).map((o) => o.id)
      const rows = () => node.status().peers
      await waitUntil(`${node.name} has one open row per peer and no other row`, () => {
        return (
          rows().length === others.length && others.every((id) => rows().some((p) => p.id === id && p.link === 'open'))
        )
      }).catch((error: unknown) => {
        throw new Error(
          `${String(error)}: ${JSON.stringify(rows().map((p) => [p.id?.slice(0, 6), p.direction, p.link]))}`,
        )
      })
    }
    for (const node of everyone) await node.syncUp({ timeoutMs: 5000 })
  })
})
