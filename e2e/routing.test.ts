import { fileURLToPath } from 'node:url'
import { waitUntil } from '@mesh/core/testing'
import { afterAll, describe, expect, it } from 'vitest'
import { runCli, startNode, stopAll, type MeshProcess } from './harness.js'

afterAll(stopAll)

const ACTORS = fileURLToPath(new URL('./fixtures/actors.mjs', import.meta.url))
/** Fast failure detection, so a SIGKILLed owner is replaced within seconds. */
const TIMING = ['--heartbeat-ms', '100', '--dead-after-ms', '1500']

interface Member {
  id: string
  name: string
  state: string
  capabilities: string[]
}
interface Answer {
  id: string
  n: number
  node: string
}

const post = (node: MeshProcess, path: string, body?: unknown, contentType = 'application/json') =>
  node.api<Answer & { error?: string; code?: string }>(path, {
    method: 'POST',
    ...(body === undefined ? {} : { headers: { 'content-type': contentType }, body: JSON.stringify(body) }),
  })

/** Waits until `node` sees exactly `names` alive with capability `counter`. */
const seesAlive = (node: MeshProcess, names: string[]) =>
  waitUntil(
    `${node.name} sees ${names.join(', ')} alive with counter`,
    async () => {
      const members = (await node.api<Member[]>('/members')).body
      const alive = members.filter((m) => m.state === 'alive' && m.capabilities.includes('counter')).map((m) => m.name)
      return alive.sort().join() === [...names].sort().join()
    },
    { timeoutMs: 20_000 },
  )

describe('capability routing across mesh serve processes', () => {
  let nodes: MeshProcess[] = []

  it('serves calls from any node on the owner, over REST, with typed error codes', async () => {
    const a = await startNode({ name: 'a', args: ['--actors', ACTORS, ...TIMING] })
    const b = await startNode({ name: 'b', join: [a.peerUrl], args: ['--actors', ACTORS, ...TIMING] })
    const c = await startNode({
      name: 'c',
      join: [a.peerUrl],
      args: ['--capabilities', 'counter', '--actors', ACTORS, ...TIMING],
    })
    nodes = [a, b, c]
    for (const node of nodes) await seesAlive(node, ['a', 'b', 'c'])

    const answers = []
    for (const node of nodes) answers.push((await post(node, '/call/counter/user-42', { add: 1 })).body)
    expect(answers.map((x) => x.n)).toEqual([1, 2, 3])
    expect(new Set(answers.map((x) => x.node)).size).toBe(1)

    // Typed errors, each with its status.
    const none = await post(a, '/call/nobody/x', { add: 1 })
    expect(none).toMatchObject({ status: 503, body: { code: 'no_owner' } })
    const failed = await post(b, '/call/counter/user-42', { fail: 'no credit left' })
    expect(failed).toMatchObject({ status: 502, body: { code: 'actor_failed', error: 'no credit left' } })
    const slow = await post(c, '/call/counter/stuck?timeoutMs=300', { hang: true })
    expect(slow).toMatchObject({ status: 504, body: { code: 'timeout' } })
    // A call without a body gets null; JSON only for bodies, POST only.
    expect((await post(a, '/call/counter/empty')).body).toMatchObject({ id: 'empty', n: 0 })
    expect((await post(a, '/call/counter/x', 'text', 'text/plain')).status).toBe(415)
    expect((await a.api('/call/counter/x')).status).toBe(405)
  })

  it('SIGKILL the owner: a call waits for failure detection and succeeds on the new owner', async () => {
    const [a, b, c] = nodes as [MeshProcess, MeshProcess, MeshProcess]
    // An id owned by c, found by asking the mesh itself.
    let id = ''
    for (let i = 0; !id; i++) {
      const res = await post(a, `/call/counter/k-${i}`, { add: 1 })
      if (res.body.node === 'c') id = `k-${i}`
    }
    expect((await post(b, `/call/counter/${id}`, { add: 1 })).body).toMatchObject({ node: 'c', n: 2 })
    await c.stop('SIGKILL')
    // Sent while c is still believed alive: it waits (the deadline covers detection) and goes to the new owner.
    const after = await post(a, `/call/counter/${id}?timeoutMs=20000`, { add: 1 })
    expect(after.status).toBe(200)
    expect(['a', 'b']).toContain(after.body.node)
    // A fresh actor: its state lived in c's memory only (docs/routing.md: keep it in the store to survive a move).
    expect(after.body.n).toBe(1)
    await seesAlive(a, ['a', 'b'])
    const again = await post(b, `/call/counter/${id}`, { add: 1 })
    expect(again.body).toMatchObject({ node: after.body.node, n: 2 })
  })

  it('--actors refuses a module without a default map of factories, with a one-line error', async () => {
    const run = await runCli([
      'serve',
      '--port',
      '0',
      '--actors',
      fileURLToPath(import.meta.url).replace(/\.ts$/, '.nope.mjs'),
    ])
    expect(run.code).not.toBe(0)
    expect(run.stderr).toMatch(/^mesh: --actors [^\n]+cannot load it[^\n]*\n$/)
  })
})
