/**
 * SWIM membership across real `mesh serve` processes: a crash is declared dead everywhere
 * within the documented bound (docs/membership.md), a paused node refutes its death when it
 * resumes, a partition heals, and the bytes membership costs a node per round do not grow
 * with the cluster.
 */
import { waitUntil } from '@mesh/core/testing'
import { afterEach, describe, expect, it } from 'vitest'
import { request, stopAll, type MeshProcess } from '../harness.js'
import { startCluster, type MeshCluster } from './cluster.js'
import { metric, readMetrics } from './metrics.js'
import { startControlledNode, type ControlledNode } from './process.js'

const HEARTBEAT_MS = 250
const DEAD_AFTER_MS = 2500
const timing = ['--heartbeat-ms', String(HEARTBEAT_MS), '--dead-after-ms', String(DEAD_AFTER_MS), '--log-level', 'info']
/** docs/membership.md: a member whose links drop is dead everywhere within deadAfterMs + 3 heartbeats. */
const CRASH_BOUND_MS = DEAD_AFTER_MS + 3 * HEARTBEAT_MS
/** What polling 11 nodes over REST on this shared (often overloaded) machine adds to a measured time. */
const POLL_SLACK_MS = 2000

interface MemberJson {
  id: string
  name: string
  role: string
  state: string
}

const members = async (node: MeshProcess) =>
  (await node.api<MemberJson[]>('/members')).body.filter((m) => m.role === 'node')
const idOf = async (node: MeshProcess) => (await request<{ id: string }>(`${node.url}/mesh/api/health`)).body.id
const stateOf = async (observer: MeshProcess, id: string) => (await members(observer)).find((m) => m.id === id)?.state

const seesAllAlive = (nodes: readonly MeshProcess[], count: number, timeoutMs = 30_000) =>
  Promise.all(
    nodes.map((node) =>
      waitUntil(
        `${node.name} sees ${count} alive nodes`,
        async () => (await members(node)).filter((m) => m.state === 'alive').length === count,
        { timeoutMs, intervalMs: 100 },
      ),
    ),
  )

/** Starts `size` nodes, each joining the first. */
const startJoined = async (size: number, prefix: string): Promise<ControlledNode[]> => {
  const seed = await startControlledNode({ name: `${prefix}0`, args: timing, timeoutMs: 60_000 })
  const nodes = [seed]
  // Four at a time: twelve processes starting at once on a loaded machine miss their ready line.
  for (let i = 1; i < size; i += 4) {
    const batch = Array.from({ length: Math.min(4, size - i) }, (_, k) =>
      startControlledNode({ name: `${prefix}${i + k}`, join: [seed.current.peerUrl], args: timing, timeoutMs: 60_000 }),
    )
    nodes.push(...(await Promise.all(batch)))
  }
  return nodes
}

let cluster: MeshCluster | undefined
afterEach(async () => {
  await cluster?.close()
  cluster = undefined
  await stopAll()
})

describe('SWIM membership across processes', () => {
  it('12 nodes: a SIGKILLed node is dead everywhere within the bound; a SIGSTOPped one refutes when continued', async () => {
    const nodes = await startJoined(12, 'sw')
    const procs = nodes.map((n) => n.current)
    await seesAllAlive(procs, 12)

    const victim = nodes[5]!
    const victimId = await idOf(victim.current)
    const others = procs.filter((p) => p !== victim.current)
    const killedAt = Date.now()
    await victim.kill()
    const times = await Promise.all(
      others.map(async (node) => {
        await waitUntil(
          `${node.name} declares the killed node dead`,
          async () => (await stateOf(node, victimId)) === 'dead',
          {
            timeoutMs: 10 * CRASH_BOUND_MS,
            intervalMs: 50,
          },
        )
        return Date.now() - killedAt
      }),
    )
    console.info(`SIGKILL: dead on all 11 nodes after ${Math.max(...times)} ms (bound ${CRASH_BOUND_MS} ms)`)
    expect(Math.max(...times)).toBeLessThanOrEqual(CRASH_BOUND_MS + POLL_SLACK_MS)

    // Paused past the bound: its sockets stay open, only probes can tell.
    const sleeper = nodes[7]!
    const sleeperId = await idOf(sleeper.current)
    const awake = others.filter((p) => p !== sleeper.current)
    sleeper.pause()
    await Promise.all(
      awake.map((node) =>
        waitUntil(
          `${node.name} declares the paused node dead`,
          async () => (await stateOf(node, sleeperId)) === 'dead',
          {
            timeoutMs: 30_000,
            intervalMs: 100,
          },
        ),
      ),
    )
    sleeper.resume()
    // The same process, the same id: alive again everywhere because it refuted its death.
    await Promise.all(
      awake.map((node) =>
        waitUntil(
          `${node.name} sees the resumed node alive`,
          async () => (await stateOf(node, sleeperId)) === 'alive',
          {
            timeoutMs: 30_000,
            intervalMs: 100,
          },
        ),
      ),
    )
    expect(await idOf(sleeper.current)).toBe(sleeperId)
    expect((await members(sleeper.current)).filter((m) => m.state === 'alive')).toHaveLength(11)
    expect(nodes.flatMap((n) => n.crashes())).toEqual([])
  }, 120_000)

  it('a partition: each side declares the other dead; after the heal everyone is alive again', async () => {
    cluster = await startCluster({ size: 6, prefix: 'sp', args: timing })
    const procs = cluster.nodes.map((n) => n.current)
    await cluster.waitLinked()
    await seesAllAlive(procs, 6)
    const ids = await Promise.all(procs.map(idOf))

    cluster.partition([
      [0, 1, 2],
      [3, 4, 5],
    ])
    const sides = [
      [0, 1, 2],
      [3, 4, 5],
    ]
    for (const [mine, theirs] of [sides, [...sides].reverse()] as Array<[number[], number[]]>) {
      for (const i of mine)
        for (const j of theirs)
          await waitUntil(`sp${i} declares sp${j} dead`, async () => (await stateOf(procs[i]!, ids[j]!)) === 'dead', {
            timeoutMs: 30_000,
            intervalMs: 100,
          })
    }
    cluster.healLinks()
    await cluster.waitLinked({ timeout: 30_000 })
    await seesAllAlive(procs, 6)
    expect(cluster.crashes()).toEqual([])
  }, 120_000)

  it('membership bytes a node sends per round do not grow from 4 to 12 nodes', async () => {
    const perRound = async (size: number): Promise<number> => {
      const nodes = await startJoined(size, `sb${size}-`)
      const procs = nodes.map((n) => n.current)
      await seesAllAlive(procs, size)
      const sample = async () =>
        Promise.all(
          procs.map(async (p) => {
            const m = await readMetrics(p)
            return {
              rounds: metric(m, 'mesh_membership_rounds_total') ?? NaN,
              bytes: metric(m, 'mesh_membership_bytes_out_total') ?? NaN,
            }
          }),
        )
      // Let the news of the joins run out first: a join is news, an idle cluster is not.
      const settled = await sample()
      await waitUntil(
        'every node ran 15 more rounds',
        async () => (await sample()).every((s, i) => s.rounds >= settled[i]!.rounds + 15),
        { timeoutMs: 60_000, intervalMs: 200 },
      )
      const start = await sample()
      await waitUntil(
        'every node ran 25 more rounds',
        async () => (await sample()).every((s, i) => s.rounds >= start[i]!.rounds + 25),
        { timeoutMs: 60_000, intervalMs: 200 },
      )
      const end = await sample()
      const bytes = end.reduce((sum, s, i) => sum + s.bytes - start[i]!.bytes, 0)
      const rounds = end.reduce((sum, s, i) => sum + s.rounds - start[i]!.rounds, 0)
      await stopAll()
      return bytes / rounds
    }
    const small = await perRound(4)
    const large = await perRound(12)
    console.info(`membership bytes per node per round: ${small.toFixed(0)} at 4 nodes, ${large.toFixed(0)} at 12`)
    expect(large).toBeLessThan(1.5 * small)
  }, 180_000)
})
