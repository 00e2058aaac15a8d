/**
 * One persistence measurement in its own process (bench/src/metrics/persistence.ts starts it):
 * `puts` writes keys through `node.put` with a storage policy, `fill` writes keys to a data
 * directory and stops, `restart` times a node loading that directory. Prints one JSON line.
 */
import { MeshNode } from '@mesh/core'
import { LevelStorage } from '@mesh/storage'
import * as Y from 'yjs'

/** What the parent asks for (argv[2], JSON). */
export type PersistJob =
  | { kind: 'puts'; policy: 'memory' | 'always' | 'batch:50' | 'never'; dir: string; count: number; perTurn: number }
  | { kind: 'fill'; dir: string; keys: number }
  | { kind: 'restart'; dir: string; keys: number }

/** What it prints. */
export type PersistResult = { ms: number; cpuUs: number; keys: number; baselineMs?: number; storedBytes?: number }

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

const cpuUs = (since: NodeJS.CpuUsage): number => {
  const used = process.cpuUsage(since)
  return used.user + used.system
}

const puts = async (job: Extract<PersistJob, { kind: 'puts' }>): Promise<PersistResult> => {
  const persistence = job.policy === 'memory' ? undefined : await LevelStorage.open({ dir: job.dir, fsync: job.policy })
  const node = new MeshNode({ persistence })
  await node.ready()
  // Warm-up (JIT), then the measured phase: `perTurn` puts in flight per event-loop turn.
  const write = async (prefix: string, count: number): Promise<void> => {
    for (let i = 0; i < count;) {
      const turn: Array<Promise<void>> = []
      for (const end = Math.min(count, i + job.perTurn); i < end; i++) turn.push(node.put(prefix + i, i))
      await Promise.all(turn)
      await nextTurn()
    }
  }
  await write('warm', Math.min(5000, job.count))
  const cpu = process.cpuUsage()
  const started = performance.now()
  await write('k', job.count)
  const ms = performance.now() - started
  const result = { ms, cpuUs: cpuUs(cpu), keys: job.count }
  await node.close()
  return result
}

const fill = async (job: Extract<PersistJob, { kind: 'fill' }>): Promise<PersistResult> => {
  const storage = await LevelStorage.open({ dir: job.dir, fsync: 'never' })
  const node = new MeshNode({ persistence: storage })
  await node.ready()
  const started = performance.now()
  for (let i = 0; i < job.keys;) {
    const entries: Record<string, number> = {}
    for (const end = Math.min(job.keys, i + 10_000); i < end; i++) entries[`key-${i}`] = i
    await node.put(entries)
  }
  const ms = performance.now() - started
  await node.close()
  return { ms, cpuUs: 0, keys: job.keys, storedBytes: storage.stats().bytes }
}

const restart = async (job: Extract<PersistJob, { kind: 'restart' }>): Promise<PersistResult> => {
  const cpu = process.cpuUsage()
  const started = performance.now()
  const node = new MeshNode({ persistence: await LevelStorage.open({ dir: job.dir }) })
  await node.ready()
  const ms = performance.now() - started
  const used = cpuUs(cpu)
  const keys = node.data.size
  if (keys !== job.keys) throw new Error(`restarted with ${keys} keys, expected ${job.keys}`)
  // Baseline: applying the same state, already in memory, to a fresh doc (no disk, no node).
  const state = Y.encodeStateAsUpdateV2(node.room('default').doc)
  await node.close()
  const t = performance.now()
  Y.applyUpdateV2(new Y.Doc(), state)
  return { ms, cpuUs: used, keys, baselineMs: performance.now() - t }
}

const main = async (): Promise<void> => {
  const job = JSON.parse(process.argv[2] ?? '{}') as PersistJob
  const result = job.kind === 'puts' ? await puts(job) : job.kind === 'fill' ? await fill(job) : await restart(job)
  process.stdout.write(`${JSON.stringify(result)}\n`)
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`)
    process.exit(1)
  },
)
