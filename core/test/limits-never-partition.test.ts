import { MeshError } from '@mesh/core'
import { waitUntil } from '@mesh/core/testing'
import { afterEach, describe, expect, it } from 'vitest'
import { serveNode, type ServedNode } from './helpers.js'
import { FrameAssembler } from '../src/replication/index.js'

const served: ServedNode[] = []
afterEach(async () => {
  for (const s of served.splice(0)) await s.close()
})
const start = async (options: Parameters<typeof serveNode>[0] = {}) => {
  const s = await serveNode(options)
  served.push(s)
  return s
}
const openLinks = (s: ServedNode) => s.node.status().peers.filter((p) => p.link === 'open').length

describe('limits refuse a room, never the link', () => {
  it("a peer's room beyond maxRooms is refused; the link stays and room default syncs", async () => {
    const a = await start({ name: 'a', limits: { maxRooms: 2 } })
    const b = await start({ name: 'b' })
    b.node.store('one').set('x', 1)
    b.node.store('two').set('y', 2)
    await b.node.put('hello', 'a')
    let downs = 0
    a.node.on('peer:down', () => downs++)
    await b.node.join([a.url])
    await waitUntil('a has default', () => a.node.get('hello') === 'a', { subscribe: (w) => a.node.on('change', w) })
    expect(a.node.rooms()).toHaveLength(2)
    await b.node.syncUp({ timeoutMs: 3000 })
    await b.node.put('later', true)
    await waitUntil('later writes still cross', () => a.node.get('later') === true, {
      subscribe: (w) => a.node.on('change', w),
    })
    expect(downs).toBe(0)
    expect(openLinks(a)).toBe(1)
  })

  it('a room over maxDocumentBytes on the receiver is held on that link; other rooms keep syncing', async () => {
    const a = await start({ name: 'a', limits: { maxDocumentBytes: 64 * 1024 } })
    const b = await start({ name: 'b' })
    await b.node.join([a.url])
    b.node.store('big').set('blob', 'x'.repeat(100 * 1024))
    await b.node.put('small', 1)
    await waitUntil('small arrives', () => a.node.get('small') === 1, { subscribe: (w) => a.node.on('change', w) })
    await waitUntil('big is held on the link', () =>
      a.node.status().peers.some((p) => p.rooms.big?.state === 'quarantined'),
    )
    expect(a.node.store('big').has('blob')).toBe(false)
    await b.node.put('after', 2)
    await waitUntil('after arrives', () => a.node.get('after') === 2, { subscribe: (w) => a.node.on('change', w) })
    expect(openLinks(a)).toBe(1)
  })

  it('local writes respect maxDocumentBytes: a clear error, nothing applied', async () => {
    const a = await start({ name: 'a', limits: { maxDocumentBytes: 16 * 1024 } })
    await expect(a.node.put('blob', 'x'.repeat(20 * 1024))).rejects.toThrow(MeshError)
    await expect(a.node.put('blob', 'x'.repeat(20 * 1024))).rejects.toThrow(/maxDocumentBytes/)
    expect(a.node.has('blob')).toBe(false)
    await a.node.put('fits', 'y')
    expect(a.node.get('fits')).toBe('y')
  })

  it('a room larger than a peer frame reaches a joining node, in pieces', async () => {
    const limits = { peerMessageBytes: 64 * 1024 }
    const a = await start({ name: 'a', limits })
    const big: Record<string, string> = {}
    for (let i = 0; i < 64; i++) big[`k${i}`] = `${i}:`.padEnd(16 * 1024, 'x')
    await a.node.put(big)
    const b = await start({ name: 'b', limits })
    await b.node.join([a.url])
    await waitUntil('b holds the whole room', () => b.node.get('k63') === big.k63, {
      subscribe: (w) => b.node.on('change', w),
    })
    expect(b.node.data.toJSON()).toEqual(big)
    expect(openLinks(a)).toBe(1)
    // Live writes larger than a frame cross in pieces too.
    await a.node.put('late', 'y'.repeat(200 * 1024))
    await waitUntil('b gets the late write', () => b.node.get('late') !== undefined, {
      subscribe: (w) => b.node.on('change', w),
    })
  })

  it('a frame sent in pieces may not exceed maxDocumentBytes', () => {
    const parts = new FrameAssembler({ maxBytes: 100, minPiece: 10 })
    expect(() => parts.add(101, new Uint8Array(10))).toThrow(/exceeds 100/)
    expect(parts.add(20, new Uint8Array(10))).toBeUndefined()
    expect(() => parts.add(30, new Uint8Array(10))).toThrow(/another frame/)
    expect(parts.add(20, new Uint8Array(10).fill(1))?.length).toBe(20)
    expect(() => parts.add(5, new Uint8Array(6))).toThrow(/beyond/)
    expect(() => parts.add(50, new Uint8Array(9))).toThrow(/before the last/)
  })
})
