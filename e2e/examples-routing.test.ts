/**
 * Smoke tests of examples/routing: the counter and the chat room, each as three processes
 * on 127.0.0.1 with port 0. Needs `npx tsc -b` first.
 */
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { waitUntil } from '@mesh/core/testing'
import { afterEach, describe, expect, it } from 'vitest'
import { E2E_WAIT_MS, request, startNode, stopAll, type MeshProcess } from './harness.js'

afterEach(stopAll)

const script = (name: string): string => {
  const path = fileURLToPath(new URL(`../examples/routing/dist/${name}.js`, import.meta.url))
  if (!existsSync(path)) throw new Error(`${path} is missing: run "npx tsc -b" before the e2e tests`)
  return path
}

/** Three processes of an example, b and c joined to a; resolves once every node sees the capability on all three. */
const three = async (example: 'counter' | 'chat'): Promise<MeshProcess[]> => {
  const env = (name: string, join = '') => ({ PORT: '0', HOST: '127.0.0.1', MESH_NAME: name, MESH_JOIN: join })
  const a = await startNode({ name: 'a', script: script(example), env: env('a') })
  const others = await Promise.all(
    ['b', 'c'].map((name) => startNode({ name, script: script(example), env: env(name, a.peerUrl) })),
  )
  const nodes = [a, ...others]
  for (const node of nodes) {
    await waitUntil(
      `${node.name} sees 3 members with ${example}`,
      async () => {
        const members = (await node.api<Array<{ state: string; capabilities: string[] }>>('/members')).body
        return members.filter((m) => m.state === 'alive' && m.capabilities.includes(example)).length === 3
      },
      { timeoutMs: E2E_WAIT_MS },
    )
  }
  return nodes
}

const post = <T>(url: string, body?: unknown) =>
  request<T>(url, {
    method: 'POST',
    ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  })

describe('examples/routing', () => {
  it('counter: calls from all three nodes, by the app route and by REST, count on one owner', async () => {
    const nodes = await three('counter')
    const answers: Array<{ count: number; servedBy: string }> = []
    for (let i = 0; i < 9; i++) {
      const node = nodes[i % 3] as MeshProcess
      const res =
        i % 2 === 0
          ? await post<{ count: number; servedBy: string }>(`${node.url}/count/user-42`)
          : await post<{ count: number; servedBy: string }>(`${node.url}/mesh/api/call/counter/user-42`, { add: 1 })
      expect(res.status).toBe(200)
      answers.push(res.body)
    }
    expect(answers.map((a) => a.count)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9])
    expect(new Set(answers.map((a) => a.servedBy)).size).toBe(1)
    // The count is in the store too, on every node.
    for (const node of nodes) {
      await waitUntil(`${node.name} has the count`, async () => (await node.api('/kv/counter%3Auser-42')).body === 9, {
        timeoutMs: E2E_WAIT_MS,
      })
    }
  })

  it('chat: a line posted on a is streamed to a listener on c and kept in the history on b', async () => {
    const [a, b, c] = (await three('chat')) as [MeshProcess, MeshProcess, MeshProcess]
    const events = new AbortController()
    const stream = await fetch(`${c.url}/rooms/lobby/events`, { signal: events.signal })
    const reader = stream.body!.pipeThrough(new TextDecoderStream()).getReader()
    let received = ''
    const reading = (async () => {
      for (;;) {
        const { value, done } = await reader.read()
        if (done) return
        received += value
      }
    })().catch(() => {})
    await waitUntil('subscribed', () => received.includes(': subscribed'), { timeoutMs: E2E_WAIT_MS })
    const posted = await post<{ seq: number }>(`${a.url}/rooms/lobby/messages`, { from: 'ada', text: 'hello' })
    expect(posted).toMatchObject({ status: 200, body: { seq: 1, from: 'ada', text: 'hello' } })
    await waitUntil('c streamed the line', () => received.includes('"text":"hello"'), { timeoutMs: E2E_WAIT_MS })
    expect(received.match(/"text":"hello"/g)).toHaveLength(1)
    expect((await post(`${b.url}/rooms/lobby/messages`, { from: 'bob', text: 'hi' })).body).toMatchObject({ seq: 2 })
    await waitUntil(
      'b has both lines',
      async () => (await request<Array<{ text: string }>>(`${b.url}/rooms/lobby/messages`)).body.length === 2,
      { timeoutMs: E2E_WAIT_MS },
    )
    expect((await post(`${c.url}/rooms/lobby/messages`, { text: 'no sender' })).status).toBe(400)
    events.abort()
    await reading
  })
})
