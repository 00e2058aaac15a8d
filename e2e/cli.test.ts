import { readFile } from 'node:fs/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { waitUntil } from '@mesh/core/testing'
import { E2E_WAIT_MS, request, runCli, startNode, stopAll, type MeshProcess } from './harness.js'

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

  it('mesh --help shows every serve option, which the errors point to (issue 13)', async () => {
    const [main, serve] = await Promise.all([runCli(['--help']), runCli(['serve', '--help'])])
    const flags = (text: string) => [...new Set(text.match(/--[a-z][a-z-]+/g))].sort()
    const serveFlags = flags(serve.stdout)
    expect(serveFlags).toContain('--join')
    expect(serveFlags).toContain('--allowed-origin')
    expect(main.stdout).toContain('--join URL')
    for (const flag of serveFlags) expect(main.stdout, flag).toContain(flag)
  })

  it("the README's mesh serve synopsis lists every flag of mesh serve --help (issue 13)", async () => {
    const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8')
    const synopsis = /```\n(mesh serve \[[\s\S]*?)```/.exec(readme)?.[1]
    expect(synopsis, 'a ```mesh serve [...]``` block in README.md').toBeDefined()
    const serve = await runCli(['serve', '--help'])
    const flags = [...new Set(serve.stdout.match(/--[a-z][a-z-]+/g))]
    expect(flags.length).toBeGreaterThan(15)
    for (const flag of flags) expect(synopsis, flag).toMatch(new RegExp(`${flag}\\b`))
  })

  it('a bare mesh exits non-zero with the usage on stderr (issue 13)', async () => {
    const run = await runCli([])
    expect(run.code).toBe(2)
    expect(run.stdout).toBe('')
    expect(run.stderr).toMatch(/^mesh: no command given\n/)
    expect(run.stderr).toContain('Usage: mesh <command>')
    expect(run.stderr).toContain('--join URL')
  })

  it('a negative number for a numeric flag is a range error, not "argument is ambiguous" (issue 13)', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['serve', '--port', '-1'], /^mesh: --port must be a port number from 0 to 65535; got "-1"/],
      [['serve', '--max-peers', '-3'], /^mesh: --max-peers must be a whole number from 0 up; got "-3"/],
      [['serve', '--heartbeat-ms', '-5'], /^mesh: --heartbeat-ms must be a whole number from 1 up; got "-5"/],
      [['serve', '--dead-after-ms', '-1.5'], /^mesh: --dead-after-ms must be a whole number from 1 up; got "-1.5"/],
      // Not a number: says how to pass a value that starts with a dash.
      [['serve', '--name', '-x'], /^mesh: --name needs a value; for one that starts with "-", write --name=VALUE/],
    ]
    const runs = await Promise.all(cases.map(([args]) => runCli(args)))
    runs.forEach((run, i) => {
      const [args, message] = cases[i] as [string[], RegExp]
      expect(run.code, args.join(' ')).toBe(2)
      expect(run.stderr, args.join(' ')).toMatch(message)
      expect(run.stderr, args.join(' ')).not.toContain('ambiguous')
    })
  })

  it('MESH_SECRET=short is refused with an error that names the variable (issue 13)', async () => {
    const fromEnv = await runCli(['serve', '--port', '0'], { env: { MESH_SECRET: 'short' } })
    expect(fromEnv.code).toBe(2)
    expect(fromEnv.stderr).toMatch(/^mesh: MESH_SECRET must be at least 8 characters[^\n]*\n$/)
    const fromFlag = await runCli(['serve', '--port', '0', '--secret', 'short'])
    expect(fromFlag.code).toBe(2)
    expect(fromFlag.stderr).toMatch(/^mesh: --secret must be at least 8 characters/)
  })

  it('--join and MESH_JOIN without the /mesh path are refused with the URL to use (issue 13)', async () => {
    const runs = await Promise.all([
      runCli(['serve', '--port', '0', '--join', 'ws://127.0.0.1:4000']),
      runCli(['serve', '--port', '0', '--join', 'ws://127.0.0.1:4000/']),
      runCli(['serve', '--port', '0'], { env: { MESH_JOIN: 'ws://127.0.0.1:4000' } }),
    ])
    for (const run of runs) {
      expect(run.code).toBe(2)
      expect(run.stderr).toMatch(
        /has no path; a node's peer endpoint is its base path, e.g\. ws:\/\/127\.0\.0\.1:4000\/mesh/,
      )
    }
    expect(runs[0].stderr).toMatch(/^mesh: --join: /)
    expect(runs[2].stderr).toMatch(/^mesh: MESH_JOIN: /)
  })

  it('a SIGTERM stop is logged as graceful on every peer, as in the demo chain (issue 13)', async () => {
    const a = await startNode({ name: 'a' })
    const b = await startNode({ name: 'b', join: [a.peerUrl] })
    const c = await startNode({ name: 'c', join: [b.peerUrl] })
    const linked = async (from: MeshProcess, to: string) =>
      (await from.api<{ peers: Array<{ name: string | null; link: string }> }>('/status')).body.peers.some(
        (p) => p.name === to && p.link === 'open',
      )
    await waitUntil('a and b never both linked to c', async () => (await linked(a, 'c')) && (await linked(b, 'c')), {
      timeoutMs: E2E_WAIT_MS,
    })
    expect(await c.stop('SIGTERM')).toEqual({ code: 0, signal: null })
    for (const peer of [a, b]) {
      await waitUntil(
        `${peer.name} never logged c's graceful disconnect`,
        () => /peer disconnected [^\n]*graceful=true/.test(peer.stderr),
        { timeoutMs: E2E_WAIT_MS },
      )
      expect(peer.stderr, peer.name).not.toMatch(/graceful=false/)
    }
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
    await waitUntil(
      'the node configured from the environment never joined a',
      async () =>
        (await a.api<Array<{ name: string; state: string }>>('/members')).body.some(
          (m) => m.name === 'from-env' && m.state === 'alive',
        ),
      { timeoutMs: E2E_WAIT_MS },
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
