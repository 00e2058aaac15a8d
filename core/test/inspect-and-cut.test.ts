import { createRestHandler, type FeedMessage, type MergeReport } from '@mesh/core'
import { nodeEvents, waitUntil } from '@mesh/core/testing'
import { afterEach, describe, expect, it } from 'vitest'
import { openSocket, serveNode, type ServedNode } from './helpers.js'

const served: ServedNode[] = []
afterEach(async () => {
  for (const s of served.splice(0)) await s.close()
})
const pair = async () => {
  const a = await serveNode({ name: 'a' })
  const b = await serveNode({ name: 'b' })
  served.push(a, b)
  await b.node.join([a.url])
  return { a, b }
}
const linked = (s: ServedNode, other: ServedNode) =>
  s.node.status().peers.some((p) => p.id === other.node.id && p.link === 'open')

describe('cut and heal', () => {
  it('a cut link stays down both ways; writes diverge; heal merges them', async () => {
    const { a, b } = await pair()
    await waitUntil('linked', () => linked(a, b) && linked(b, a), { subscribe: nodeEvents(a.node, b.node) })
    a.node.cut(b.node.id)
    await waitUntil('cut', () => !linked(a, b) && !linked(b, a), { subscribe: nodeEvents(a.node, b.node) })
    await a.node.put('k', 'from-a')
    await b.node.put('k', 'from-b')
    expect(a.node.get('k')).toBe('from-a')
    expect(b.node.get('k')).toBe('from-b')
    const merges: MergeReport[] = []
    a.node.on('merge', (r) => merges.push(r))
    a.node.heal(b.node.id)
    await waitUntil('merged after heal', () => a.node.get('k') === b.node.get('k'), {
      subscribe: nodeEvents(a.node, b.node),
    })
    await waitUntil('merge reported', () => merges.some((m) => m.conflicts.some((c) => c.key === 'k')), {
      subscribe: nodeEvents(a.node),
    })
    expect(a.node.cuts()).toEqual([])
  })
})

describe('control API', () => {
  it('is off by default, needs the token, and cuts and heals', async () => {
    const { a, b } = await pair()
    const off = createRestHandler(a.node)
    const on = createRestHandler(a.node, { controlToken: 's3cret' })
    const request = (token: string | undefined, path: string, body: unknown) => ({
      method: 'POST',
      path,
      query: new URLSearchParams(),
      body: () => Promise.resolve(JSON.stringify(body)),
      header: (name: string) =>
        name === 'authorization' && token
          ? `Bearer ${token}`
          : name === 'content-type'
            ? 'application/json'
            : undefined,
    })
    expect((await off(request('s3cret', '/control/cut', { peer: b.node.id }))).status).toBe(404)
    expect((await on(request('wrong', '/control/cut', { peer: b.node.id }))).status).toBe(401)
    expect((await on(request(undefined, '/control/cut', { peer: b.node.id }))).status).toBe(401)
    expect((await on(request('s3cret', '/control/cut', {}))).status).toBe(400)
    expect(a.node.cuts()).toEqual([])
    const cut = await on(request('s3cret', '/control/cut', { peer: b.node.id }))
    expect(cut).toEqual({ status: 200, body: { cuts: [b.node.id] } })
    const healed = await on(request('s3cret', '/control/heal', { peer: b.node.id }))
    expect(healed).toEqual({ status: 200, body: { cuts: [] } })
  })
})

describe('inspector feed', () => {
  it('sends the whole picture first, then changes and commits as they happen', async () => {
    const { a, b } = await pair()
    await a.node.put('before', 1)
    const { ws, messages, closed } = await openSocket(`${a.url}/_inspect`)
    const decoded = () => messages.map((m) => JSON.parse(m.toString()) as FeedMessage)
    await waitUntil('hello', () => decoded().length > 0)
    const hello = decoded()[0]!
    expect(hello.type).toBe('hello')
    if (hello.type === 'hello') {
      expect(hello.data).toEqual({ before: 1 })
      expect(hello.status.id).toBe(a.node.id)
      expect(hello.members.map((m) => m.name).sort()).toEqual(['a', 'b'])
    }
    await b.node.put('after', 2)
    await waitUntil('change', () => decoded().some((m) => m.type === 'change' && m.values.after === 2))
    await waitUntil('commit', () => decoded().some((m) => m.type === 'commit' && m.commit.keys.includes('after')))
    await waitUntil('status', () => decoded().some((m) => m.type === 'status'))
    // Read-only: anything sent closes the feed.
    ws.send(Buffer.from([1]))
    expect((await closed).code).toBe(4400)
  })

  it('room names starting with _ are reserved', async () => {
    const { a } = await pair()
    const { closed } = await openSocket(`${a.url}/_other`)
    expect((await closed).code).toBe(4400)
  })
})
