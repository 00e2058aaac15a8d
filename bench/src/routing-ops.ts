/**
 * The bench worker's routing and pub/sub operations (issue 15): echo actors, call loops,
 * activations, and a subscriber that counts messages. See bench/README.md.
 */
import type { MeshNode } from '@mesh/core'
import { nodeEvents, waitUntil } from '@mesh/core/testing'
import { nextTurn, now } from './clock.js'
import { quantile } from './stats.js'
import type { RoutingOps } from './worker-ops.js'

type Handlers = {
  [K in keyof RoutingOps]: (args: RoutingOps[K]['args']) => Promise<RoutingOps[K]['result']> | RoutingOps[K]['result']
}

/** Calls kept in flight by `concurrency` loops until `count` were made; the time of each, if asked. */
const closedLoop = async (
  count: number,
  concurrency: number,
  call: (i: number) => Promise<unknown>,
): Promise<{ startAt: number; endAt: number }> => {
  let next = 0
  const startAt = now()
  const worker = async () => {
    while (next < count) await call(next++)
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker))
  return { startAt, endAt: now() }
}

/**
 * Calls offered at a fixed `rate` (calls/s), at most `inflight` at a time, until `count` ended;
 * the latency of each from when it was due, not from when it went out, so a stall of the caller
 * counts against it (`sendLateP99`: how late calls went out, the pacer's share). What is due goes
 * out whenever a call ends and on a 1 ms timer: the pacer does not spin. One that awaited
 * `setImmediate` turn after turn allocated 80-100 MB/s by itself (a promise and an `Immediate` a
 * turn), half of the caller's scavenges at half rate, and kept one of the machine's cores busy.
 * `call(i)` must resolve with `i` (the echo actor answers its payload): one handler serves every
 * call, and times go into arrays sized up front, so the pacer adds no garbage of its own per call
 * beyond the `then` (two closures and a growing array per call were a tenth of the caller's).
 */
const pacedLoop = (
  count: number,
  rate: number,
  inflight: number,
  call: (i: number) => Promise<number>,
): Promise<{ latencies: number[]; sendLateP99: number; startAt: number; endAt: number }> =>
  new Promise((resolve, reject) => {
    const latencies = new Float64Array(count).fill(-1)
    // How late each call went out: the pacer's own share of its latency.
    const late = new Float64Array(count)
    const startAt = now()
    const dueAt = (i: number) => startAt + (i * 1000) / rate
    let issued = 0
    let running = 0
    let ended = 0
    let failed = false
    const fail = (error: unknown): void => {
      if (failed) return
      failed = true
      clearInterval(timer)
      reject(error instanceof Error ? error : new Error(String(error)))
    }
    const answered = (i: number): void => {
      if (failed) return
      if (!Number.isInteger(i) || i < 0 || i >= issued || latencies[i] !== -1) return fail(new Error(`answer ${i}`))
      latencies[i] = now() - dueAt(i)
      running--
      if (++ended < count) return issue()
      clearInterval(timer)
      resolve({
        latencies: Array.from(latencies),
        sendLateP99: quantile(Array.from(late), 0.99),
        startAt,
        endAt: now(),
      })
    }
    const issue = (): void => {
      const due = Math.min(count, Math.floor(((now() - startAt) * rate) / 1000) + 1)
      while (issued < due && running < inflight) {
        late[issued] = now() - dueAt(issued)
        running++
        call(issued++).then(answered, fail)
      }
    }
    const timer = setInterval(issue, 1)
    issue()
  })

/** Operations on `node`; `echo` and `fresh` actors are registered at once. */
export const routingOps = (node: MeshNode): Handlers => {
  // `echo` answers its payload; `fresh` is called once per id, so every call starts an actor.
  node.actor('echo', () => ({ call: (payload) => payload }))
  node.actor('fresh', () => ({ call: () => 1 }))
  let subscriber: { seen: number; target: number; doneAt: number | undefined; done: () => void } | undefined
  let unsubscribe: (() => void) | undefined
  return {
    capabilities: async ({ capabilities, members }) => {
      node.setCapabilities(capabilities)
      await waitUntil(
        `${members} members with ${capabilities.join()}`,
        () =>
          node
            .members()
            .filter(
              (m) => m.role === 'node' && m.state === 'alive' && capabilities.every((c) => m.capabilities.includes(c)),
            ).length >= members,
        { timeoutMs: 30_000, subscribe: nodeEvents(node) },
      )
      return null
    },
    'remote-ids': ({ capability, count }) => {
      const ids: string[] = []
      for (let i = 0; ids.length < count; i++) {
        const id = `id-${i}`
        if (node.ownerOf(capability, id)?.id !== node.id) ids.push(id)
      }
      return ids
    },
    'call-loop': ({ ids, count, inflight }) =>
      closedLoop(count, inflight, (i) =>
        node.call({ capability: 'echo', id: ids[i % ids.length] as string, payload: i }),
      ),
    'call-paced': ({ ids, count, rate, inflight }) =>
      pacedLoop(count, rate, inflight, (i) =>
        node.call<number>({ capability: 'echo', id: ids[i % ids.length] as string, payload: i }),
      ),
    activate: ({ prefix, count, inflight }) =>
      closedLoop(count, inflight, (i) => node.call({ capability: 'fresh', id: `${prefix}${i}` })),
    'sub-arm': ({ topic, count }) => {
      unsubscribe?.()
      const state = { seen: 0, target: count, doneAt: undefined as number | undefined, done: () => {} }
      subscriber = state
      unsubscribe = node.subscribe(topic, () => {
        if (++state.seen === state.target) {
          state.doneAt = now()
          state.done()
        }
      })
      return null
    },
    'sub-wait': async ({ timeoutMs }) => {
      const state = subscriber
      if (!state) throw new Error('sub-wait before sub-arm')
      if (state.doneAt === undefined) {
        let timer: ReturnType<typeof setTimeout> | undefined
        await new Promise<void>((resolve, reject) => {
          state.done = resolve
          timer = setTimeout(() => reject(new Error(`${state.seen} of ${state.target} messages`)), timeoutMs)
        }).finally(() => clearTimeout(timer))
      }
      return { doneAt: state.doneAt ?? now() }
    },
    'publish-loop': async ({ topic, count, perTurn }) => {
      const startAt = now()
      for (let i = 0; i < count;) {
        const end = Math.min(count, i + perTurn)
        for (; i < end; i++) node.publish(topic, i)
        await nextTurn()
      }
      return { startAt, endAt: now() }
    },
  }
}
