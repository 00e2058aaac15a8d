/**
 * Persistence with real `mesh serve --data-dir` processes: SIGKILL during heavy writes, a
 * whole cluster stopped and started again, a restarted node that syncs only what it missed,
 * and data directories the CLI must refuse.
 */
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { waitUntil } from '@mesh/core/testing'
import { afterEach, describe, expect, it } from 'vitest'
import { metric, readMetrics } from './fault/metrics.js'
import { E2E_WAIT_MS, put, runCli, startNode, stopAll, waitForValue, type MeshProcess } from './harness.js'

const dirs: string[] = []
const dataDir = async (): Promise<string> => {
  const dir = await mkdtemp(join(tmpdir(), 'mesh-e2e-data-'))
  dirs.push(dir)
  return join(dir, 'data')
}

afterEach(async () => {
  await stopAll()
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true })
})

const persistent = (name: string, dir: string, fsync: string, join: string[] = []): Promise<MeshProcess> =>
  startNode({ name, join, args: ['--data-dir', dir, '--fsync', fsync, '--log-level', 'warn'] })

const kv = async (node: MeshProcess): Promise<Record<string, unknown>> =>
  (await node.api<Record<string, unknown>>('/kv')).body

/**
 * Writers that PUT distinct keys as fast as the node answers, `concurrency` at a time, and
 * record each key whose PUT answered 200, until `stop` is called or the node dies.
 */
const hammer = (node: MeshProcess, concurrency: number) => {
  const acked = new Map<string, number>()
  let running = true
  let n = 0
  const writer = async (): Promise<void> => {
    while (running) {
      const i = n++
      const key = `w-${i}`
      try {
        const res = await node.api(`/kv/${key}`, {
          method: 'PUT',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(i),
        })
        if (res.status === 200) acked.set(key, i)
      } catch {
        // The node died mid-request: this write was never acknowledged.
        return
      }
    }
  }
  const done = Promise.all(Array.from({ length: concurrency }, writer))
  return {
    acked,
    done,
    stop: () => {
      running = false
    },
  }
}

describe('mesh serve --data-dir', () => {
  for (const fsync of ['always', 'batch:50']) {
    it(`SIGKILL during heavy writes (--fsync ${fsync}): every acknowledged write is back after a restart with no peer`, async () => {
      const dir = await dataDir()
      const node = await persistent('a', dir, fsync)
      const load = hammer(node, 16)
      await waitUntil('300 acknowledged writes', () => load.acked.size >= 300, { timeoutMs: 30_000 })
      await node.stop('SIGKILL')
      load.stop()
      await load.done
      const restarted = await persistent('a', dir, fsync)
      const state = await kv(restarted)
      const lost = [...load.acked].filter(([key, value]) => state[key] !== value)
      expect(lost, `lost ${lost.length} of ${load.acked.size} acknowledged writes`).toEqual([])
    })
  }

  it('a whole cluster stopped and started again has its whole state back, and converges', async () => {
    const dirs3 = [await dataDir(), await dataDir(), await dataDir()]
    const start = async (): Promise<MeshProcess[]> => {
      const a = await persistent('a', dirs3[0] as string, 'batch:50')
      const b = await persistent('b', dirs3[1] as string, 'batch:50', [a.peerUrl])
      const c = await persistent('c', dirs3[2] as string, 'batch:50', [a.peerUrl])
      return [a, b, c]
    }
    const nodes = await start()
    for (const [i, node] of nodes.entries()) {
      for (let k = 0; k < 20; k++) await put(node, `${node.name}-${k}`, { from: node.name, k, i })
    }
    await put(nodes[0] as MeshProcess, 'a-0', 'overwritten')
    await waitForValue(nodes[2] as MeshProcess, 'a-0', 'overwritten')
    await waitUntil(
      'all three hold 60 keys',
      async () => {
        const states = await Promise.all(nodes.map(kv))
        return states.every((s) => Object.keys(s).length === 60)
      },
      { timeoutMs: E2E_WAIT_MS },
    )
    const before = await kv(nodes[0] as MeshProcess)
    for (const node of nodes) await node.stop('SIGTERM')

    const again = await start()
    for (const node of again) expect(await kv(node)).toEqual(before)
    await put(again[2] as MeshProcess, 'after-restart', true)
    await waitForValue(again[0] as MeshProcess, 'after-restart', true)
    await waitForValue(again[1] as MeshProcess, 'after-restart', true)
  })

  it('a restarted node syncs only what it missed, not the whole state', async () => {
    const [dirA, dirB] = [await dataDir(), await dataDir()]
    const a = await persistent('a', dirA, 'batch:50')
    let b = await persistent('b', dirB, 'batch:50', [a.peerUrl])
    const value = 'v'.repeat(1000)
    for (let k = 0; k < 300; k++) await put(a, `big-${k}`, `${k}:${value}`)
    await waitForValue(b, 'big-299', `299:${value}`)
    await b.stop('SIGTERM')
    await put(a, 'missed', 'while b was down')
    b = await persistent('b', dirB, 'batch:50', [a.peerUrl])
    await waitForValue(b, 'missed', 'while b was down')
    expect(Object.keys(await kv(b))).toHaveLength(301)
    const received = metric(await readMetrics(b), 'mesh_peer_bytes_in_total') ?? NaN
    // The state is over 300 KB; what b lacked is one key.
    expect(received).toBeLessThan(30_000)
    const metrics = await readMetrics(b)
    expect(metric(metrics, 'mesh_storage_load_seconds')).toBeDefined()
    expect(
      metric(metrics, 'mesh_storage_snapshot_bytes')! + metric(metrics, 'mesh_storage_log_bytes')!,
    ).toBeGreaterThan(300_000)
  })

  it('refuses a foreign or corrupt data directory with one line naming the file, exit code 2, nothing written', async () => {
    const foreign = await dataDir()
    await mkdir(foreign)
    await writeFile(join(foreign, 'postgres.conf'), 'not mesh')
    const refused = await runCli(['serve', '--port', '0', '--data-dir', foreign])
    expect(refused.code).toBe(2)
    expect(refused.stderr.trim().split('\n')).toHaveLength(1)
    expect(refused.stderr).toContain(join(foreign, 'mesh-storage.json'))
    expect(await readdir(foreign)).toEqual(['postgres.conf'])

    const corrupt = await dataDir()
    const node = await persistent('a', corrupt, 'always')
    await put(node, 'k', 1)
    await node.stop('SIGTERM')
    await writeFile(join(corrupt, 'level', 'CURRENT'), 'MANIFEST-999999\n')
    const broken = await runCli(['serve', '--port', '0', '--data-dir', corrupt])
    expect(broken.code).toBe(2)
    expect(broken.stderr.trim().split('\n')).toHaveLength(1)
    expect(broken.stderr).toContain(join(corrupt, 'level'))

    const badFlag = await runCli(['serve', '--port', '0', '--fsync', 'always'])
    expect(badFlag.code).toBe(2)
    expect(badFlag.stderr).toContain('--fsync needs --data-dir')
  })
})
