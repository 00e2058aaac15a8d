import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Context } from '../context.js'
import type { PersistJob, PersistResult } from '../persist-worker.js'
import { benchScript, spawnChild } from '../processes.js'
import { summarize } from '../stats.js'

const POLICIES = ['memory', 'always', 'batch:50', 'never'] as const
const PER_TURN = 100

/** `persist_puts_per_s_<policy>`: the figure's name for a policy (`memory`: no persistence, the baseline). */
const putsName = (policy: (typeof POLICIES)[number]): string =>
  `persist_puts_per_s_${policy === 'batch:50' ? 'batch50' : policy}`

/** `restart_1m_ms`, or `restart_2k_ms` for the smoke size. */
export const restartName = (keys: number): string =>
  keys >= 1_000_000 && keys % 1_000_000 === 0 ? `restart_${keys / 1_000_000}m_ms` : `restart_${keys / 1000}k_ms`

/** Runs one job in a fresh process and returns what it printed. */
const runJob = async (job: PersistJob, label: string): Promise<PersistResult> => {
  const child = spawnChild({ script: benchScript('persist-worker.js'), args: [JSON.stringify(job)], label })
  let out = ''
  child.process.stdout?.setEncoding('utf8').on('data', (chunk: string) => (out += chunk))
  await child.exited
  if (child.process.exitCode !== 0) throw new Error(`${label} failed: ${child.stderrTail()}`)
  return JSON.parse(out.trim()) as PersistResult
}

const withDir = async <T>(body: (dir: string) => Promise<T>): Promise<T> => {
  const root = mkdtempSync(join(tmpdir(), 'mesh-bench-persist-'))
  try {
    return await body(join(root, 'data'))
  } finally {
    rmSync(root, { recursive: true, force: true })
  }
}

/**
 * `persist_puts_per_s_{always,batch50,never}` beside `persist_puts_per_s_memory` (no
 * persistence), measured the same way in the same run: a fresh node process on a fresh data
 * directory (`@mesh/storage`) writes distinct keys with `node.put`, 100 puts in flight per
 * event-loop turn, each resolving once stored as its policy promises. Then `restart_1m_ms`:
 * 1M keys written to a data directory, and a fresh process times `new MeshNode` with that
 * directory to `await node.ready()`; its baseline is applying the same state, already in
 * memory, to a fresh doc.
 */
export const measurePersistence = async (ctx: Context): Promise<void> => {
  const { sizes } = ctx.options
  const count = ctx.options.mode === 'smoke' ? 500 : ctx.options.mode === 'quick' ? 20_000 : 50_000
  for (const policy of POLICIES) {
    const name = putsName(policy)
    await ctx.guard([name], async () => {
      const cpu: number[] = []
      const runs = await ctx.repeat(name, 'puts/s', (i) =>
        withDir(async (dir) => {
          const r = await runJob({ kind: 'puts', policy, dir, count, perTurn: PER_TURN }, `persist-${policy}-${i}`)
          cpu.push(r.cpuUs / r.keys)
          return r.keys / (r.ms / 1000)
        }),
      )
      const note =
        policy === 'memory'
          ? `no persistence (the baseline): ${count.toLocaleString('en-US')} puts, ${PER_TURN} in flight per turn`
          : `LevelStorage, fsync ${policy}: each put resolves once stored as the policy promises`
      const section = policy === 'memory' ? 'baselines' : 'metrics'
      ctx.record(section, name, 'puts/s', runs, note, { cpu_us_per_key: summarize(cpu).value })
    })
  }

  const keys = ctx.options.mode === 'smoke' ? 2_000 : 1_000_000
  const name = restartName(keys)
  await ctx.guard([name], async () => {
    const baseline: number[] = []
    const cpu: number[] = []
    const runs = await ctx.repeat(
      name,
      'ms',
      (i) =>
        withDir(async (dir) => {
          await runJob({ kind: 'fill', dir, keys }, `persist-fill-${i}`)
          const r = await runJob({ kind: 'restart', dir, keys }, `persist-restart-${i}`)
          if (r.baselineMs !== undefined) baseline.push(r.baselineMs)
          cpu.push(r.cpuUs / 1000)
          return r.ms
        }),
      sizes.heavyRuns,
    )
    ctx.record(
      'metrics',
      name,
      'ms',
      runs,
      `${keys.toLocaleString('en-US')} keys in a data directory: new MeshNode to ready()`,
      { in_memory_apply_ms: summarize(baseline).value, cpu_ms: Math.round(summarize(cpu).value) },
    )
  })
}
