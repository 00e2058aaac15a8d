/**
 * The bench worker's routing and pub/sub operations (issue 15): echo actors, call loops,
 * activations, and a subscriber that counts messages. See bench/README.md.
 */
import type { MeshNode } from '@mesh/core'
import { nodeEvents, waitUntil } from '@mesh/core/testing'
import { nextTurn, now } from './clock.js'
import { pacedLoop } from './paced-loop.js'
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
