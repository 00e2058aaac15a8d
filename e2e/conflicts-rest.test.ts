/**
 * Issue 12, item 3: `mesh serve --on-conflict exception` quarantines a diverged room until the
 * application resolves it, and a CLI node has no application: the REST API must list the
 * pending conflicts and resolve them, or later writes never cross again.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { waitUntil } from '@mesh/core/testing'
import { E2E_WAIT_MS, put, startNode, stopAll, waitForValue, type MeshProcess } from './harness.js'

afterAll(stopAll)

const TOKEN = 'conflict-test-token'
const json = { 'content-type': 'application/json' }

const control = (node: MeshProcess, action: 'cut' | 'heal', peer: string) =>
  node.api(`/control/${action}`, {
    method: 'POST',
    headers: { ...json, authorization: `Bearer ${TOKEN}` },
    body: JSON.stringify({ peer }),
  })

const resolve = (node: MeshProcess, body: unknown, headers: Record<string, string> = json) =>
  node.api<{ error?: string }>('/conflicts/resolve', { method: 'POST', headers, body: JSON.stringify(body) })

interface Conflict {
  peer: string
  room: string
  keys: string[]
}

const linkTo = async (node: MeshProcess, peer: string): Promise<string | undefined> => {
  const status = await node.api<{ peers: Array<{ id: string | null; link: string }> }>('/status')
  return status.body.peers.find((p) => p.id === peer)?.link
}

describe('conflicts over REST (mesh serve --on-conflict exception)', () => {
  it('GET /conflicts lists the quarantine, POST /conflicts/resolve releases it, and writes cross again', async () => {
    const args = ['--on-conflict', 'exception', '--control-token', TOKEN]
    const a = await startNode({ name: 'a', args })
    const b = await startNode({ name: 'b', join: [a.peerUrl], args })
    const bId = (await b.api<{ id: string }>('/health')).body.id
    await put(a, 'before', 1)
    await waitForValue(b, 'before', 1)
    expect((await a.api('/conflicts')).body).toEqual([])

    // Diverge: cut, write the same key on both sides, heal.
    expect((await control(a, 'cut', bId)).status).toBe(200)
    await waitUntil('the cut link to go down', async () => (await linkTo(a, bId)) !== 'open', {
      timeoutMs: E2E_WAIT_MS,
    })
    await put(a, 'color', 'red')
    await put(b, 'color', 'green')
    expect((await control(a, 'heal', bId)).status).toBe(200)

    // The conflict may be listed without keys first (seen once in CI): a round that finds the
    // room held already names none, and the round that names the key adds it (conflicts.ts).
    const listed = await waitUntil(
      'a never listed the conflict with b on color',
      async () => {
        const res = await a.api<Conflict[]>('/conflicts')
        return res.status === 200 && res.body.some((c) => c.keys.length > 0) ? res.body : undefined
      },
      { timeoutMs: E2E_WAIT_MS },
    )
    expect(listed).toEqual([expect.objectContaining({ peer: bId, room: 'default', keys: ['color'] })])
    // Quarantined: a write on a does not reach b.
    await put(a, 'during', true)

    // Bad input changes nothing.
    expect((await resolve(a, { peer: bId, strategy: 'maybe' })).status).toBe(400)
    expect((await resolve(a, { strategy: 'merge' })).status).toBe(400)
    expect((await resolve(a, [bId])).status).toBe(400)
    expect((await resolve(a, { peer: bId, room: 7, strategy: 'merge' })).status).toBe(400)
    expect((await resolve(a, { peer: bId, strategy: 'merge' }, { 'content-type': 'text/plain' })).status).toBe(415)
    const unknown = await resolve(a, { peer: 'no-such-node', room: 'default', strategy: 'merge' })
    expect(unknown.status).toBe(404)
    expect(unknown.body.error).toEqual(expect.any(String))
    expect((await a.api('/conflicts')).body).toEqual(listed)
    expect((await a.api('/conflicts', { method: 'DELETE' })).status).toBe(405)

    const resolved = await resolve(a, { peer: bId, room: 'default', strategy: 'merge' })
    expect(resolved.status, JSON.stringify(resolved.body)).toBe(200)
    expect((await a.api('/conflicts')).body).toEqual([])
    expect((await resolve(a, { peer: bId, room: 'default', strategy: 'merge' })).status).toBe(404)

    // Released: what was held crosses, new writes cross, and both end with one color.
    await waitForValue(b, 'during', true)
    await put(a, 'after', 'crosses')
    await waitForValue(b, 'after', 'crosses')
    const color = (await a.api('/kv/color')).body
    expect(['red', 'green']).toContain(color)
    await waitForValue(b, 'color', color)
  })
})
