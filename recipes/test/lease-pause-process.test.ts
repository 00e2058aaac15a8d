/**
 * A lease owner's process paused (SIGSTOP) or its event loop stalled past the failure bound,
 * then running again: on resume it sees every other node silent for the whole pause, so it declares them dead and owns
 * every lease until their heartbeats reach it again. Meanwhile the others granted those leases.
 * The resumed node must not answer from its stale view in that gap.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { waitUntil } from '@mesh/core/testing'
import * as prng from 'lib0/prng'
import { describe, expect, it } from 'vitest'
import { startTrio, waitForMembers, type ProcessMember, type RecipeProcess } from './processes.js'

interface ClaimReply {
  claimed: boolean
  token?: number
  node?: string
  holder?: { node: string; token: number } | null
  error?: string
}

const claimOn = (p: RecipeProcess, item: string) =>
  p.http<ClaimReply>(`/claim/jobs/${encodeURIComponent(item)}`, { method: 'POST' })

/** Waits until `p` lists member `id` as dead. */
const seesDead = (p: RecipeProcess, id: string) =>
  waitUntil(
    `${p.name} sees ${id} dead`,
    async () => (await p.http<ProcessMember[]>('/mesh/api/members')).body.find((m) => m.id === id)?.state === 'dead',
    { timeoutMs: 15_000 },
  )

/** How a test freezes one process and lets it go again. */
interface Freeze {
  begin(p: RecipeProcess): void
  /** Lets it go; resolves once it runs again. */
  end(p: RecipeProcess): Promise<void>
}

/**
 * Freezes one of a trio (not the first, so that the others close their links to it when they
 * declare it dead), has the others claim items meanwhile, lets it go, and checks that right
 * after it grants none of those items and once it is back it answers with the others' grants.
 * Returns the frozen process and the ids of the others.
 */
const claimsAcrossFreeze = async (name: string, freeze: Freeze) => {
  const seed = Number(process.env.MESH_SEED ?? Math.floor(Math.random() * 2 ** 31))
  console.log(`${name}: MESH_SEED=${String(seed)}`)
  const random = prng.create(seed)
  const nodes = await startTrio({}, 'mesh.lease')
  const frozen = nodes[prng.uint32(random, 1, 2)]!
  const others = nodes.filter((p) => p !== frozen)
  const members = await waitForMembers(others[0]!, 3)
  const frozenId = members.find((m) => m.name === frozen.name)!.id
  // Items the frozen node claimed before (its claims end with its life, as the others see it),
  // and items nobody claimed before.
  const early = Array.from({ length: prng.uint32(random, 0, 3) }, (_, i) => `early-${String(seed)}-${String(i)}`)
  const fresh = Array.from({ length: prng.uint32(random, 6, 9) }, (_, i) => `fresh-${String(seed)}-${String(i)}`)
  // A first claim may miss its deadline on a loaded machine: asked again (claims are idempotent).
  for (const item of early) {
    await waitUntil(`${frozen.name} claims ${item}`, async () => (await claimOn(frozen, item)).status === 200, {
      timeoutMs: 15_000,
    })
  }

  freeze.begin(frozen)
  for (const p of others) await seesDead(p, frozenId)
  const tokens = new Map<string, number>()
  for (const item of [...early, ...fresh]) {
    const by = others[prng.uint32(random, 0, 1)]!
    const res = await waitUntil(
      `${by.name} claims ${item}`,
      async () => {
        const r = await claimOn(by, item)
        return r.status === 200 || r.status === 409 ? r : undefined
      },
      { timeoutMs: 15_000 },
    )
    expect(res.status, `${item} on ${by.name}, MESH_SEED=${String(seed)}`).toBe(200)
    tokens.set(item, res.body.token!)
  }

  await freeze.end(frozen)
  // At once, before its links are back: no item may be granted to it again.
  const replies = await Promise.all(
    [...tokens.keys()].map(async (item) => ({ item, ...(await claimOn(frozen, item)) })),
  )
  const statuses = new Map<number, number>()
  for (const r of replies) statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1)
  console.log(`${name}: right after, ${String(replies.length)} claims answered:`, Object.fromEntries(statuses))
  const granted = replies.filter((r) => r.status === 200)
  expect(granted, `double grants, MESH_SEED=${String(seed)}`).toEqual([])

  // Once it is back, it answers with the others' grants.
  await waitForMembers(frozen, 3)
  for (const [item, token] of tokens) {
    const res = await waitUntil(
      `${frozen.name} answers ${item}`,
      async () => {
        const r = await claimOn(frozen, item)
        return r.status === 409 ? r : undefined
      },
      { timeoutMs: 15_000 },
    )
    expect(res.body.holder?.token, `${item}, MESH_SEED=${String(seed)}`).toBe(token)
  }
  return { frozen, otherIds: members.filter((m) => m.id !== frozenId).map((m) => m.id), seed }
}

describe('lease owner frozen past the failure bound', () => {
  it('right after SIGCONT the resumed process grants none of the items the others claimed meanwhile', async () => {
    await claimsAcrossFreeze('sigstop claims', {
      begin: (p) => p.signal('SIGSTOP'),
      end: (p) => {
        p.signal('SIGCONT')
        return Promise.resolve()
      },
    })
  }, 90_000)

  it('after its event loop stalled, a process grants none of the items the others claimed meanwhile and judges none of them dead for its stall', async () => {
    // A stall ends inside a handler: the next turn runs its timers (the heartbeat) before it
    // reads the sockets, where the others' closes wait.
    const dir = await mkdtemp(join(tmpdir(), 'mesh-stall-'))
    const flag = join(dir, 'go')
    let stall: Promise<{ body: { from: number; to: number } }> | undefined
    try {
      const { frozen, otherIds, seed } = await claimsAcrossFreeze('stalled claims', {
        begin: (p) => {
          stall = p.http(`/stall?until=${encodeURIComponent(flag)}`, { method: 'POST' })
        },
        end: async () => {
          await writeFile(flag, '')
          await stall
        },
      })
      // Its own stall is no evidence against the others: alive all along, none is judged dead.
      const { from } = (await stall!).body
      const events = (await frozen.http<{ id: string; state: string; at: number }[]>('/member-events')).body
      const verdicts = events.filter((e) => otherIds.includes(e.id) && e.state === 'dead' && e.at >= from)
      expect(verdicts, `MESH_SEED=${String(seed)}`).toEqual([])
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  }, 90_000)
})
