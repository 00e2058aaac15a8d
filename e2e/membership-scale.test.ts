/**
 * Membership of 10 `mesh serve` processes that do not form a full mesh (each joins only the
 * seed, and dials at most 2 peers it learns of): no false suspicion while idle, a crash is
 * seen everywhere, and a paused process is judged dead, then taken back once it resumes.
 * It checks behaviour from outside (GET /mesh/api/members), whatever the membership design.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { waitUntil } from '@mesh/core/testing'
import { E2E_WAIT_MS, startNode, stopAll, type MeshProcess } from './harness.js'

interface MemberJson {
  id: string
  name: string
  role: string
  state: string
}

const NODES = 10
const HEARTBEAT_MS = 200
const DEAD_AFTER_MS = 1500
const POLL_MS = 100
/** How long a crash or a pause may take to be seen as `dead` by every node, generously. */
const DETECT_BOUND_MS = 4 * DEAD_AFTER_MS
const args = ['--max-peers', '2', '--heartbeat-ms', String(HEARTBEAT_MS), '--dead-after-ms', String(DEAD_AFTER_MS)]

/** Every node's view, polled in parallel: observer → member id → state. */
type Views = Map<MeshProcess, Map<string, string>>

const view = async (node: MeshProcess): Promise<Map<string, string>> => {
  // A stopped process never answers: no poll may hang on one.
  const res = await node.api<MemberJson[]>('/members', { signal: AbortSignal.timeout(2000) })
  if (res.status !== 200) throw new Error(`${node.name}: GET /members answered ${res.status}`)
  return new Map(res.body.filter((m) => m.role === 'node').map((m) => [m.id, m.state]))
}

const views = async (observers: readonly MeshProcess[]): Promise<Views> => {
  const all = await Promise.all(observers.map(async (node) => [node, await view(node)] as const))
  return new Map(all)
}

/** Processes SIGSTOPped by the test, resumed in cleanup so `stopAll` can kill them. */
const paused = new Set<MeshProcess>()

afterAll(async () => {
  for (const node of paused) node.child.kill('SIGCONT')
  await stopAll()
})

describe('membership of 10 processes linked in a partial mesh', () => {
  it('stays quiet while idle, sees a crash and a pause everywhere, and takes a paused node back', async () => {
    const launchedAt = Date.now()
    const seed = await startNode({ name: 'm0', args })
    const rest = await Promise.all(
      Array.from({ length: NODES - 1 }, (_, i) => startNode({ name: `m${i + 1}`, join: [seed.peerUrl], args })),
    )
    const nodes = [seed, ...rest]
    const ids = new Map<MeshProcess, string>()
    for (const node of nodes) ids.set(node, (await node.api<{ id: string }>('/health')).body.id)
    const idOf = (node: MeshProcess): string => ids.get(node) as string
    const nameOf = new Map(nodes.map((node) => [idOf(node), node.name]))
    const describeView = (observer: MeshProcess, id: string, state: string | undefined): string =>
      `${observer.name} sees ${nameOf.get(id) ?? id} ${state ?? 'missing'}`

    /** What in `seen` says one of `watched` is not alive, as readable lines. */
    const falseSuspicions = (seen: Views, watched: readonly MeshProcess[]): string[] =>
      [...seen].flatMap(([observer, states]) =>
        watched
          .map((node) => idOf(node))
          .filter((id) => states.get(id) !== 'alive')
          .map((id) => describeView(observer, id, states.get(id))),
      )

    /** Waits until every node of `group` lists every node of `group` as alive. */
    const allAlive = (what: string, group: readonly MeshProcess[], timeoutMs: number) =>
      waitUntil(
        what,
        async () => {
          const missing = falseSuspicions(await views(group), group)
          if (missing.length > 0) throw new Error(missing.slice(0, 5).join('; '))
          return true
        },
        { timeoutMs, intervalMs: POLL_MS },
      )

    // 1. Everyone joined only the seed, with at most 2 dialed peers each; yet all see all.
    const startedAt = Date.now()
    await allAlive('every node lists all 10 as alive', nodes, 2 * E2E_WAIT_MS)
    console.info(
      `${NODES} nodes started in ${startedAt - launchedAt} ms; all see all alive ${Date.now() - startedAt} ms later`,
    )
    // For the record (not asserted, the design decides): how many open links each node has.
    const degrees = await Promise.all(
      nodes.map(async (node) => {
        const { body } = await node.api<{ peers: Array<{ link: string }> }>('/status')
        return `${node.name}:${body.peers.filter((p) => p.link === 'open').length}`
      }),
    )
    console.info(`open links per node: ${degrees.join(' ')}`)

    // 2. An idle window of 3 × dead-after: nobody is ever seen as anything but alive.
    const idleMs = 3 * DEAD_AFTER_MS
    const idleEnd = Date.now() + idleMs
    const idleSuspicions: string[] = []
    let idlePolls = 0
    await waitUntil(
      `${idleMs} ms of idle membership`,
      async () => {
        idleSuspicions.push(...falseSuspicions(await views(nodes), nodes))
        idlePolls++
        return idleSuspicions.length > 0 || Date.now() >= idleEnd
      },
      { timeoutMs: idleMs + E2E_WAIT_MS, intervalMs: POLL_MS },
    )
    console.info(`idle window: ${idleMs} ms, ${idlePolls} polls of all ${NODES} nodes, no false suspicion`)
    expect(idleSuspicions).toEqual([])

    /**
     * Polls `observers` until each has seen `target` as `dead` (once is enough), recording
     * any other node of `watched` that one of them shows as not alive meanwhile.
     */
    const untilDeadEverywhere = async (
      target: MeshProcess,
      observers: readonly MeshProcess[],
      watched: readonly MeshProcess[],
      since: number,
    ) => {
      const deadAt = new Map<MeshProcess, number>()
      const others: string[] = []
      await waitUntil(
        `every other node sees ${target.name} dead`,
        async () => {
          const seen = await views(observers)
          const now = Date.now()
          for (const [observer, states] of seen)
            if (!deadAt.has(observer) && states.get(idOf(target)) === 'dead') deadAt.set(observer, now - since)
          others.push(...falseSuspicions(seen, watched))
          if (deadAt.size < observers.length) {
            const pending = observers.filter((o) => !deadAt.has(o))
            throw new Error(
              pending.map((o) => describeView(o, idOf(target), seen.get(o)?.get(idOf(target)))).join('; '),
            )
          }
          return true
        },
        { timeoutMs: DETECT_BOUND_MS + E2E_WAIT_MS, intervalMs: POLL_MS },
      )
      const slowest = Math.max(...deadAt.values())
      const fastest = Math.min(...deadAt.values())
      return { slowest, fastest, others }
    }

    // 3. A non-seed node crashes: every other node sees it dead, and only it.
    const crashed = nodes[4] as MeshProcess
    const afterCrash = nodes.filter((node) => node !== crashed)
    const killedAt = Date.now()
    crashed.child.kill('SIGKILL')
    const crash = await untilDeadEverywhere(crashed, afterCrash, afterCrash, killedAt)
    console.info(
      `${crashed.name} SIGKILLed: dead on the first node after ${crash.fastest} ms, on all ${afterCrash.length} after ${crash.slowest} ms (dead-after ${DEAD_AFTER_MS} ms, heartbeat ${HEARTBEAT_MS} ms)`,
    )
    expect(crash.others).toEqual([])
    expect(crash.slowest).toBeLessThan(DETECT_BOUND_MS)
    await crashed.exited

    // 4. Another non-seed node is paused: judged dead everywhere, then alive again once resumed.
    const frozen = nodes[7] as MeshProcess
    const observers = afterCrash.filter((node) => node !== frozen)
    paused.add(frozen)
    const stoppedAt = Date.now()
    frozen.child.kill('SIGSTOP')
    const pause = await untilDeadEverywhere(frozen, observers, observers, stoppedAt)
    console.info(
      `${frozen.name} SIGSTOPped: dead on the first node after ${pause.fastest} ms, on all ${observers.length} after ${pause.slowest} ms`,
    )
    expect(pause.others).toEqual([])
    expect(pause.slowest).toBeLessThan(DETECT_BOUND_MS)

    const resumedAt = Date.now()
    frozen.child.kill('SIGCONT')
    paused.delete(frozen)
    await waitUntil(
      `every node sees ${frozen.name} alive again`,
      async () => {
        const notYet = falseSuspicions(await views(afterCrash), [frozen])
        if (notYet.length > 0) throw new Error(notYet.join('; '))
        return true
      },
      { timeoutMs: DETECT_BOUND_MS + E2E_WAIT_MS, intervalMs: POLL_MS },
    )
    console.info(
      `${frozen.name} SIGCONTed: alive again on all ${afterCrash.length} nodes after ${Date.now() - resumedAt} ms`,
    )

    // The mesh heals: the 9 running nodes, the resumed one included, see the 9 alive.
    await allAlive('every running node lists the 9 running nodes as alive', afterCrash, E2E_WAIT_MS)
    console.info(`whole test: ${Date.now() - launchedAt} ms`)
  }, 60_000)
})
