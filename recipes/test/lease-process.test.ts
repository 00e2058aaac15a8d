import { waitUntil } from '@mesh/core/testing'
import { describe, expect, it } from 'vitest'
import { startProcess, startTrio, waitForMembers, type RecipeProcess } from './processes.js'

interface Grant {
  token: number
  node: string
}
interface HolderReply {
  holder: { node: string; token: number; expiresAt: number | null } | null
  self: string
}

/** Starts 3 fixture processes joined to the first; resolves once each sees all three declare mesh.lease. */
const cluster = (env: Record<string, string>): Promise<RecipeProcess[]> => startTrio(env, 'mesh.lease')

/** Acquires through `p`, retrying while the lease's owner is not known yet (no_owner) everywhere. */
const acquire = (p: RecipeProcess, path: string) =>
  waitUntil(
    `${p.name} answers ${path}`,
    async () => {
      const res = await p.http<Grant>(path, { method: 'POST' })
      return res.status === 200 || res.status === 409 ? res : undefined
    },
    { timeoutMs: 15_000 },
  )

describe('lease across processes', () => {
  it('SIGKILL of the holder: another process acquires once the TTL ran out, with a larger token', async () => {
    // Death is declared only after a minute (suspicion after 500 ms moves the lease's owner):
    // only the TTL can free the lease here.
    const nodes = await cluster({ MESH_DEAD_AFTER_MS: '60000' })
    const path = '/lease/kill/acquire?ttlMs=1500'
    const first = await acquire(nodes[0]!, path)
    expect(first.status).toBe(200)
    const holderBefore = (await nodes[1]!.http<HolderReply>('/lease/kill/holder')).body.holder
    expect(holderBefore).toMatchObject({ token: first.body.token })
    // Held, unless the TTL already ran out (a loaded machine may take that long for two calls).
    const second = await acquire(nodes[1]!, path)
    if (second.status === 200) expect(Date.now()).toBeGreaterThanOrEqual(holderBefore!.expiresAt!)
    else expect(second.status).toBe(409)
    await nodes[0]!.kill()
    const next = await waitUntil(
      'b or c acquires the lease',
      async () => {
        for (const p of nodes.slice(1)) {
          const res = await p.http<Grant>(path, { method: 'POST' })
          if (res.status === 200) return res.body
        }
        return undefined
      },
      { timeoutMs: 20_000, intervalMs: 100 },
    )
    expect(Date.now()).toBeGreaterThanOrEqual(holderBefore!.expiresAt!)
    expect(next.token).toBeGreaterThan(first.body.token)
  }, 60_000)

  it('SIGKILL of the holder of a lease without TTL: another acquires once membership declares it dead', async () => {
    const nodes = await cluster({ MESH_DEAD_AFTER_MS: '1500' })
    const path = '/lease/forever/acquire'
    const first = await acquire(nodes[2]!, path)
    expect(first.status).toBe(200)
    expect((await acquire(nodes[0]!, path)).status).toBe(409)
    await nodes[2]!.kill()
    const next = await waitUntil(
      'a or b acquires the lease',
      async () => {
        for (const p of nodes.slice(0, 2)) {
          const res = await p.http<Grant>(path, { method: 'POST' })
          if (res.status === 200) return res.body
        }
        return undefined
      },
      { timeoutMs: 20_000, intervalMs: 100 },
    )
    expect(next.token).toBeGreaterThan(first.body.token)
  }, 60_000)
  it('a lease without TTL whose holder restarted under the same id is void: another acquires, with a larger token', async () => {
    // Death is declared only after a minute: the restart, not a death, must end the old hold.
    const env = { MESH_DEAD_AFTER_MS: '60000' }
    const [a, b, c] = (await cluster(env)) as [RecipeProcess, RecipeProcess, RecipeProcess]
    const path = '/lease/restart/acquire'
    const first = await acquire(c, path)
    expect(first.status).toBe(200)
    expect((await acquire(a, path)).status).toBe(409)
    const before = (await waitForMembers(a, 3)).find((m) => m.name === 'c')!
    await c.kill()
    await startProcess('c', { ...env, MESH_ID: before.id, MESH_JOIN: `${a.peerUrl},${b.peerUrl}` })
    for (const p of [a, b]) {
      await waitUntil(
        `${p.name} sees c's new life`,
        async () =>
          (await waitForMembers(p, 3, 'mesh.lease')).find((m) => m.id === before.id)!.startedAt !== before.startedAt,
        { timeoutMs: 15_000 },
      )
    }
    const next = await acquire(a, path)
    expect(next.status).toBe(200)
    expect(next.body.token).toBeGreaterThan(first.body.token)
  }, 60_000)

  it('a lease without TTL whose dead holder membership forgot (a minute later) is free', async () => {
    const [a, b, c] = (await cluster({ MESH_DEAD_AFTER_MS: '1500' })) as [RecipeProcess, RecipeProcess, RecipeProcess]
    const path = '/lease/forgotten/acquire'
    const first = await acquire(c, path)
    expect(first.status).toBe(200)
    const cId = (await waitForMembers(a, 3)).find((m) => m.name === 'c')!.id
    await c.kill()
    // No call for the lease until c is forgotten everywhere (60 s after its death at the least).
    for (const p of [a, b]) {
      await waitUntil(
        `${p.name} forgets c`,
        async () => !(await p.http<Array<{ id: string }>>('/mesh/api/members')).body.some((m) => m.id === cId),
        { timeoutMs: 90_000, intervalMs: 1000 },
      )
    }
    const next = await acquire(a, path)
    expect(next.status).toBe(200)
    expect(next.body.token).toBeGreaterThan(first.body.token)
  }, 120_000)
})
