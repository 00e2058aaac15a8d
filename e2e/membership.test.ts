import { afterAll, describe, expect, it } from 'vitest'
import { waitUntil } from '@mesh/core/testing'
import { E2E_WAIT_MS, request, startNode, stopAll, waitForValue, type MeshProcess } from './harness.js'

interface MemberJson {
  id: string
  name: string
  role: string
  state: string
  capabilities: string[]
}

const HEARTBEAT_MS = 100
const DEAD_AFTER_MS = 1000
const timing = ['--heartbeat-ms', String(HEARTBEAT_MS), '--dead-after-ms', String(DEAD_AFTER_MS)]

const members = async (node: MeshProcess) => (await node.api<MemberJson[]>('/members')).body
const stateOf = async (observer: MeshProcess, id: string) => (await members(observer)).find((m) => m.id === id)?.state
const idOf = async (node: MeshProcess) => (await request<{ id: string }>(`${node.url}/mesh/api/health`)).body.id

const putWith = async (node: MeshProcess, key: string, value: unknown, query: string) => {
  const res = await node.api(`/kv/${encodeURIComponent(key)}?${query}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(value),
  })
  expect(res.status).toBe(200)
}

afterAll(stopAll)

describe('membership across mesh serve processes', () => {
  it('discovers, detects a crash, cleans up after it, takes it back, and tells a leave from a death', async () => {
    const n1 = await startNode({ name: 'n1', args: timing })
    const joinVia1 = (name: string, extra: string[] = []) =>
      startNode({ name, join: [n1.peerUrl], args: [...timing, ...extra] })
    const n2 = await joinVia1('n2')
    const n3 = await joinVia1('n3')
    const n4 = await joinVia1('n4', ['--capabilities', 'gpu,search'])
    const everyone = [n1, n2, n3, n4]

    // 1. Joined only through n1, yet everyone knows everyone.
    for (const node of everyone) {
      await waitUntil(
        `${node.name} sees 4 alive nodes`,
        async () => (await members(node)).filter((m) => m.role === 'node' && m.state === 'alive').length === 4,
        { timeoutMs: E2E_WAIT_MS },
      )
    }
    expect((await members(n2)).find((m) => m.name === 'n4')?.capabilities).toEqual(['gpu', 'search'])

    // 2. n4 holds a lease, then dies without a word.
    await putWith(n4, 'lease:job-1', { holder: 'n4' }, 'ephemeral=true')
    await putWith(n2, 'durable', 1, '')
    for (const node of everyone) await waitForValue(node, 'lease:job-1', { holder: 'n4' })
    const deadId = await idOf(n4)
    const killedAt = Date.now()
    await n4.stop('SIGKILL')
    for (const node of [n1, n2, n3]) {
      await waitUntil(`${node.name} declares n4 dead`, async () => (await stateOf(node, deadId)) === 'dead', {
        timeoutMs: 10 * DEAD_AFTER_MS,
      })
    }
    console.info(
      `n4 declared dead everywhere ${Date.now() - killedAt} ms after SIGKILL (dead-after ${DEAD_AFTER_MS} ms)`,
    )
    for (const node of [n1, n2, n3]) await waitForValue(node, 'lease:job-1', undefined)

    // 3. It comes back as a new member and catches up.
    await putWith(n1, 'while-dead', 'x', '')
    const reborn = await startNode({ name: 'n4', join: [n2.peerUrl], args: timing })
    const rebornId = await idOf(reborn)
    expect(rebornId).not.toBe(deadId)
    await waitForValue(reborn, 'while-dead', 'x')
    await waitForValue(reborn, 'durable', 1)
    await waitUntil('n3 sees the reborn n4', async () => (await stateOf(n3, rebornId)) === 'alive', {
      timeoutMs: E2E_WAIT_MS,
    })

    // 4. A graceful stop is a leave, not a death, and stays so.
    const leaverId = await idOf(n3)
    expect(await n3.stop('SIGTERM')).toEqual({ code: 0, signal: null })
    for (const node of [n1, n2, reborn]) {
      await waitUntil(`${node.name} sees n3 leave`, async () => (await stateOf(node, leaverId)) === 'left', {
        timeoutMs: E2E_WAIT_MS,
      })
    }
    const settled = Date.now() + 2 * DEAD_AFTER_MS
    await waitUntil('n3 stays listed', async () => Date.now() > settled && (await stateOf(n1, leaverId)), {
      timeoutMs: 4 * DEAD_AFTER_MS,
      intervalMs: 200,
    })
    expect(await stateOf(n1, leaverId)).toBe('left')
  })

  it('TTL keys expire on every node', async () => {
    const a = await startNode({ name: 'ttl-a', args: timing })
    const b = await startNode({ name: 'ttl-b', join: [a.peerUrl], args: timing })
    // The key lives 600 ms: b must be linked before it is written, or it may never see it.
    const bId = (await b.api<{ id: string }>('/health')).body.id
    await waitUntil('ttl-a never listed ttl-b as alive', async () => (await stateOf(a, bId)) === 'alive', {
      timeoutMs: E2E_WAIT_MS,
    })
    await putWith(a, 'session', { user: 1 }, 'ttl=600')
    await putWith(a, 'keep', true, '')
    await waitForValue(b, 'session', { user: 1 })
    for (const node of [a, b]) await waitForValue(node, 'session', undefined)
    expect((await b.api('/kv')).body).toEqual({ keep: true })
    const bad = await a.api('/kv/x?ttl=-1', {
      method: 'PUT',
      body: '1',
      headers: { 'content-type': 'application/json' },
    })
    expect(bad.status).toBe(400)
  })
})
