import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { request, runCli, startNode, stopAll, waitFor, type MeshProcess } from './harness.js'

afterAll(stopAll)

describe('mesh CLI', () => {
  it('prints help and exits 0', async () => {
    const [main, serve] = await Promise.all([runCli(['--help']), runCli(['serve', '--help'])])
    expect(main).toMatchObject({ code: 0, stderr: '' })
    expect(main.stdout).toContain('mesh serve')
    expect(serve.code).toBe(0)
    expect(serve.stdout).toContain('--join URL')
  })

  it('rejects a bad flag or command with a one-line error and exit code 2', async () => {
    const cases = [['serve', '--bogus'], ['serve', '--port', 'x'], ['serve', '--on-conflict', 'maybe'], ['nope']]
    const runs = await Promise.all(cases.map((args) => runCli(args)))
    runs.forEach((run, i) => {
      const what = cases[i]?.join(' ')
      expect(run.code, what).toBe(2)
      expect(run.stdout, what).toBe('')
      expect(run.stderr, what).toMatch(/^mesh: [^\n]+\n$/)
    })
  })

  it('shows the real port in the ready line with --port 0', async () => {
    const a = await startNode({ name: 'ready' })
    expect(a.port).toBeGreaterThan(0)
    expect(a.stdout).toBe(`mesh: ready listening on http://127.0.0.1:${a.port}\n`)
    expect((await a.api('/health')).body).toMatchObject({ status: 'ok', name: 'ready' })
  })

  it('exits 1 with a one-line error when the port is taken', async () => {
    const a = await startNode({ name: 'first' })
    const run = await runCli(['serve', '--port', String(a.port), '--host', '127.0.0.1'])
    expect(run.code).toBe(1)
    expect(run.stderr).toMatch(/^mesh: .*EADDRINUSE.*\n$/)
  })

  it('reads PORT, MESH_NAME and MESH_JOIN when the flags are absent', async () => {
    const a = await startNode({ name: 'a' })
    const b = await startNode({
      name: 'from-env',
      bare: true,
      args: ['--host', '127.0.0.1'],
      env: { PORT: '0', MESH_NAME: 'from-env', MESH_JOIN: ` ${a.peerUrl}, ` },
    })
    expect(b.port).toBeGreaterThan(0)
    await waitFor(
      async () =>
        (await a.api<Array<{ name: string; state: string }>>('/members')).body.some(
          (m) => m.name === 'from-env' && m.state === 'alive',
        ),
      { message: 'the node configured from the environment never joined a' },
    )
  })

  it('keeps serving when the peers it joins are down', async () => {
    const a = await startNode({ name: 'lonely', join: ['ws://127.0.0.1:1/mesh'] })
    expect((await a.api('/health')).status).toBe(200)
  })
})

describe('REST API over HTTP', () => {
  let a: MeshProcess
  beforeAll(async () => {
    a = await startNode({ name: 'rest' })
    await a.api('/kv/color', { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '"blue"' })
  })

  it('answers bad JSON with 400 and changes nothing', async () => {
    const res = await a.api('/kv/color', {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: '{no',
    })
    expect(res.status).toBe(400)
    expect(res.contentType).toContain('application/json')
    expect(res.body).toMatchObject({ error: expect.any(String) })
    expect((await a.api('/kv')).body).toEqual({ color: 'blue' })
  })

  it('answers unknown routes with a 404 JSON error', async () => {
    for (const url of [`${a.url}/mesh/api/nope`, `${a.url}/nowhere`]) {
      const res = await request(url)
      expect(res.status, url).toBe(404)
      expect(res.body, url).toMatchObject({ error: expect.any(String) })
    }
  })

  it('answers a huge body with 413 and changes nothing', async () => {
    const res = await a.api('/kv/big', { method: 'PUT', body: JSON.stringify('x'.repeat(2 * 1024 * 1024)) })
    expect(res.status).toBe(413)
    expect(res.body).toMatchObject({ error: expect.any(String) })
    expect((await a.api('/kv')).body).toEqual({ color: 'blue' })
  })

  it('answers a plain GET on the WebSocket endpoints with 426', async () => {
    for (const path of ['/mesh', '/mesh/default']) {
      const res = await request(`${a.url}${path}`)
      expect(res.status, path).toBe(426)
      expect(res.body, path).toEqual({ error: 'expected a WebSocket upgrade' })
    }
  })
})
