/**
 * A `mesh serve` process paused (SIGSTOP) past the failure bound, then resumed (SIGCONT). The
 * others rightly judge it dead meanwhile; on resume it must not judge them dead in turn for a
 * silence that was its own pause: no "member dead" from it, so it neither closes their links
 * nor sweeps their ephemeral keys (which they would then have to write back).
 */
import { waitUntil } from '@mesh/core/testing'
import * as prng from 'lib0/prng'
import { afterAll, describe, expect, it } from 'vitest'
import { E2E_WAIT_MS, startNode, stopAll, waitForValue, type MeshProcess } from './harness.js'

interface MemberJson {
  id: string
  name: string
  role: string
  state: string
  lastSeen: number
}

const HEARTBEAT_MS = 100
const DEAD_AFTER_MS = 1000
const timing = ['--heartbeat-ms', String(HEARTBEAT_MS), '--dead-after-ms', String(DEAD_AFTER_MS)]

const members = async (node: MeshProcess) => (await node.api<MemberJson[]>('/members')).body
const aliveCount = async (node: MeshProcess) =>
  (await members(node)).filter((m) => m.role === 'node' && m.state === 'alive').length

afterAll(stopAll)

describe('a process paused past the failure bound, then resumed', () => {
  it('does not declare its live peers dead for its own pause; no live owner loses an ephemeral key, no write is lost', async () => {
    const seed = Number(process.env.MESH_SEED ?? Math.floor(Math.random() * 2 ** 31))
    console.log(`pause-resume: MESH_SEED=${String(seed)}`)
    const random = prng.create(seed)
    const first = await startNode({ name: 'p0', args: timing })
    const nodes = [
      first,
      await startNode({ name: 'p1', join: [first.peerUrl], args: timing }),
      await startNode({ name: 'p2', join: [first.peerUrl], args: timing }),
    ]
    for (const node of nodes) {
      await waitUntil(`${node.name} sees 3 alive nodes`, async () => (await aliveCount(node)) === 3, {
        timeoutMs: E2E_WAIT_MS,
      })
    }
    const put = async (node: MeshProcess, key: string, value: unknown, query = '') => {
      const res = await node.api(`/kv/${key}${query}`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(value),
      })
      expect(res.status).toBe(200)
    }
    for (const node of nodes) await put(node, `eph:${node.name}`, node.name, '?ephemeral=true')
    for (const node of nodes) for (const owner of nodes) await waitForValue(node, `eph:${owner.name}`, owner.name)

    // Any of them: the lowest id is the one that sweeps, and any may be it.
    const paused = nodes[prng.uint32(random, 0, 2)]!
    const others = nodes.filter((n) => n !== paused)
    const pausedId = (await members(paused))[0]!.id
    await put(paused, 'before-pause', seed)
    for (const node of nodes) await waitForValue(node, 'before-pause', seed)
    paused.child.kill('SIGSTOP')
    for (const node of others) {
      await waitUntil(
        `${node.name} saw ${paused.name} dead for 2x the failure bound`,
        async () => {
          const m = (await members(node)).find((x) => x.id === pausedId)
          return m?.state === 'dead' && Date.now() - m.lastSeen > 2 * DEAD_AFTER_MS
        },
        { timeoutMs: 10 * DEAD_AFTER_MS },
      )
    }
    // A durable write during the pause (the paused node made one before it).
    await put(others[0]!, 'during-pause', seed)
    const logged = new Map(nodes.map((n) => [n, n.stderr.length]))
    paused.child.kill('SIGCONT')

    for (const node of nodes) {
      await waitUntil(`${node.name} sees 3 alive nodes again`, async () => (await aliveCount(node)) === 3, {
        timeoutMs: E2E_WAIT_MS,
      })
    }
    for (const node of nodes) {
      for (const owner of nodes) await waitForValue(node, `eph:${owner.name}`, owner.name)
      await waitForValue(node, 'before-pause', seed)
      await waitForValue(node, 'during-pause', seed)
    }
    const since = (n: MeshProcess) => n.stderr.slice(logged.get(n))
    const detail = `(MESH_SEED=${String(seed)}, paused ${paused.name})\n${since(paused)}`
    expect(since(paused), `${paused.name} declared a live peer dead on resume ${detail}`).not.toMatch(/member dead/)
    for (const node of others) {
      expect(since(node), `${node.name} had to write back its ephemeral key ${detail}`).not.toMatch(
        /writing back ephemeral keys/,
      )
    }
  })
})
