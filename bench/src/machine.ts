import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { availableParallelism, cpus, freemem, loadavg, release, totalmem } from 'node:os'
import { dirname, join } from 'node:path'

/** The machine and software a result was measured on. */
export interface Machine {
  nproc: number
  cpu: string
  node: string
  platform: string
  memoryGiB: number
  freeMemoryGiB: number
  versions: Record<string, string>
  /** 1-minute load average when the bench started and when it ended: other work on the machine skews results. */
  loadAverage: { start: number; end: number }
  /** The commit measured, and whether `core/` had uncommitted changes (the bench builds the working tree). */
  source: { commit: string; coreDirty: boolean } | null
}

const repoRoot = join(import.meta.dirname, '..', '..')

const describeSource = (): Machine['source'] => {
  try {
    const git = (...args: string[]) =>
      execFileSync('git', args, { cwd: repoRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
    return {
      commit: git('rev-parse', '--short', 'HEAD'),
      coreDirty: git('status', '--porcelain', '--', 'core').length > 0,
    }
  } catch {
    return null
  }
}

const require = createRequire(import.meta.url)

const packageVersion = (name: string): string => {
  try {
    let dir = dirname(require.resolve(name))
    for (let i = 0; i < 5; i++) {
      try {
        const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string }
        if (pkg.name === name && pkg.version) return pkg.version
      } catch {
        // no package.json at this level; keep walking up
      }
      dir = dirname(dir)
    }
  } catch {
    // not resolvable from here
  }
  return 'unknown'
}

/** Describes this machine: core count, CPU model, Node and library versions. */
export const describeMachine = (): Machine => ({
  nproc: availableParallelism(),
  cpu: cpus()[0]?.model.trim() ?? 'unknown',
  node: process.version,
  platform: `${process.platform} ${release()} ${process.arch}`,
  memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
  freeMemoryGiB: Math.round((freemem() / 2 ** 30) * 10) / 10,
  versions: { yjs: packageVersion('yjs'), ws: packageVersion('ws') },
  loadAverage: { start: loadAverage(), end: loadAverage() },
  source: describeSource(),
})

/** The current 1-minute load average. */
export const loadAverage = (): number => Math.round((loadavg()[0] ?? 0) * 100) / 100
