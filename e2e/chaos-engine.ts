/**
 * The chaos convergence run: N `mesh serve` processes wired through fault proxies, a seeded
 * random schedule of REST writes (unique keys and a few hot keys) against random nodes,
 * interleaved with partitions, one-way cuts, blackholes, delays, SIGKILLs, restarts, SIGSTOPs
 * and SIGCONTs. Each round ends with a heal; then every node must converge to the same
 * snapshot within the deadline, and the snapshot must keep every acknowledged write.
 *
 * What "must survive" means (docs/guarantees.md): a write answered 200 lives on the node that
 * answered. It is excused only when every node known to hold it was killed: before each
 * SIGKILL the run reads every other node's store (a paused node counts with what it held
 * when it was paused), and each unexcused write that no other node holds becomes excused.
 * Hot keys must end with one of the values written to them, never with a value its writer
 * overwrote itself later (a later write by the same process always wins in Yjs).
 *
 * The schedule depends only on the seed, so `MESH_SEED` replays it; timing still varies.
 */
import * as prng from 'lib0/prng'
import { isDeepStrictEqual } from 'node:util'
import type { MeshProcess } from './harness.js'
import { startCluster, type LinkFault, type MeshCluster } from './fault/cluster.js'

/** Options of {@link runChaos}. */
export interface ChaosOptions {
  seed: number
  /** Number of `mesh serve` processes. Default 5. */
  nodes?: number
  /** Chaos-then-heal rounds. Default 2. */
  rounds?: number
  /** Scheduled actions per round. Default 40. */
  steps?: number
  /** Number of hot keys written concurrently from many nodes. Default 3. */
  hotKeys?: number
  /** Deadline for convergence after each heal. Default 10 s. */
  convergeMs?: number
  /** Where progress lines go. Default: nowhere. */
  log?: (line: string) => void
}

/** One REST write the run made. */
export interface WriteRecord {
  id: number
  key: string
  value: { w: number; by: string }
  hot: boolean
  node: number
  incarnation: number
  round: number
  /** `acked`: HTTP 200; `unknown`: no answer (the node died or stalled); `rejected`: another status. */
  outcome: 'acked' | 'unknown' | 'rejected'
  status?: number
  /** Why it need not survive, when it need not. */
  excused?: string
  /** When the request was sent and answered (ms since the epoch). */
  sentAt?: number
  ackedAt?: number
}

/** Counts and timings of a finished run. */
export interface ChaosReport {
  seed: number
  nodes: number
  rounds: number
  steps: number
  durationMs: number
  writes: { total: number; acked: number; unknown: number; rejected: number; excused: number; hot: number }
  faults: Record<string, number>
  /** Time from the end of each heal to convergence. */
  convergeMs: number[]
  /** Keys in the final snapshot. */
  finalKeys: number
  /** Warning and error log lines of every process, counted by message. */
  logs: Record<string, number>
  /** Failed checks; empty on success. */
  violations: string[]
  /** Recent schedule lines, for a failure message. */
  journal: string[]
}

interface MemberStatus {
  stateVector: Record<string, number>
}

type Snapshot = Record<string, unknown>

const PUT_TIMEOUT_MS = 4000
const READ_TIMEOUT_MS = 4000
const FAULTS: readonly LinkFault[] = ['cut', 'cut-forward', 'cut-backward', 'blackhole']

const readKv = async (process: MeshProcess): Promise<Snapshot | undefined> => {
  try {
    const res = await process.api<Snapshot>('/kv', { signal: AbortSignal.timeout(READ_TIMEOUT_MS) })
    return res.status === 200 ? res.body : undefined
  } catch {
    return undefined
  }
}

const readStateVector = async (process: MeshProcess): Promise<Record<string, number> | undefined> => {
  try {
    const res = await process.api<MemberStatus>('/status', { signal: AbortSignal.timeout(READ_TIMEOUT_MS) })
    return res.status === 200 ? res.body.stateVector : undefined
  } catch {
    return undefined
  }
}

/** Runs the chaos schedule of `options.seed`; resolves with a report (violations listed, never thrown). */
export const runChaos = async (options: ChaosOptions): Promise<ChaosReport> => {
  const size = options.nodes ?? 5
  const rounds = options.rounds ?? 2
  const steps = options.steps ?? 40
  const hotKeys = options.hotKeys ?? 3
  const convergeMs = options.convergeMs ?? 10_000
  const gen = prng.create(options.seed)
  const started = Date.now()
  const journal: string[] = []
  const note = (line: string): void => {
    const entry = `[${((Date.now() - started) / 1000).toFixed(2)}s] ${line}`
    journal.push(entry)
    if (journal.length > 400) journal.shift()
    options.log?.(entry)
  }
  const writes: WriteRecord[] = []
  const faults: Record<string, number> = {}
  const count = (what: string): void => void (faults[what] = (faults[what] ?? 0) + 1)
  const violations: string[] = []
  const convergeTimes: number[] = []
  const logs: Record<string, number> = {}
  /** What a paused node held when it was paused. */
  const pausedSnapshots = new Map<number, Snapshot>()
  let finalKeys = 0

  note(`seed ${options.seed}: ${size} nodes, ${rounds} rounds of ${steps} steps, ${hotKeys} hot keys`)
  const cluster: MeshCluster = await startCluster({ size, prefix: 'c', args: ['--log-level', 'info'] })
  const name = (i: number): string => `c${i}`
  const proc = (i: number): MeshProcess => {
    const node = cluster.nodes[i]
    if (!node) throw new Error(`no node ${i}`)
    return node.current
  }
  const stateOf = (i: number) => cluster.nodes[i]?.state
  const indexes = Array.from({ length: size }, (_, i) => i)
  const pick = <T>(items: readonly T[]): T | undefined =>
    items.length === 0 ? undefined : items[prng.int31(gen, 0, items.length - 1)]

  const write = async (round: number): Promise<void> => {
    const node = pick(cluster.running())
    if (node === undefined) return
    const hot = prng.int31(gen, 0, 99) < 30
    const id = writes.length
    const key = hot ? `hot:${prng.int31(gen, 0, hotKeys - 1)}` : `u:${id}`
    const incarnation = (cluster.nodes[node]?.incarnations.length ?? 1) - 1
    const record: WriteRecord = {
      id,
      key,
      value: { w: id, by: `${name(node)}.${incarnation}` },
      hot,
      node,
      incarnation,
      round,
      outcome: 'unknown',
    }
    writes.push(record)
    record.sentAt = Date.now()
    try {
      const res = await proc(node).api(`/kv/${encodeURIComponent(key)}`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(record.value),
        signal: AbortSignal.timeout(PUT_TIMEOUT_MS),
      })
      record.status = res.status
      record.ackedAt = Date.now()
      record.outcome = res.status === 200 ? 'acked' : 'rejected'
      if (res.status !== 200) {
        violations.push(`write #${id} ${key} on ${name(node)} answered ${res.status} ${JSON.stringify(res.body)}`)
      }
    } catch {
      record.outcome = 'unknown'
    }
  }

  /**
   * Before node `victim` dies: an unexcused write that no other node holds is excused if the
   * victim holds it (it dies with it). A unique write that nobody holds is not excused: it was
   * lost while its holders lived, and the final check reports it. A hot-key write that nobody
   * holds was overwritten (or dies with the victim): excused.
   */
  const excuseBeforeKill = async (victim: number): Promise<void> => {
    const others: Snapshot[] = []
    for (const i of indexes) {
      if (i === victim) continue
      const state = stateOf(i)
      const kv = state === 'running' ? await readKv(proc(i)) : state === 'paused' ? pausedSnapshots.get(i) : undefined
      if (kv) others.push(kv)
    }
    const own = stateOf(victim) === 'paused' ? pausedSnapshots.get(victim) : await readKv(proc(victim))
    const holds = (kv: Snapshot | undefined, w: WriteRecord) =>
      kv !== undefined && Object.hasOwn(kv, w.key) && isDeepStrictEqual(kv[w.key], w.value)
    let excused = 0
    let superseded = 0
    for (const w of writes) {
      if (w.outcome !== 'acked' || w.excused) continue
      if (others.some((kv) => holds(kv, w))) continue
      if (w.hot && !holds(own, w)) {
        w.excused = 'overwritten'
        superseded++
        continue
      }
      if (!holds(own, w)) continue
      w.excused = `only on ${name(victim)} when it was killed`
      excused++
    }
    if (excused > 0) {
      const links = cluster.links
        .filter((l) => l.acceptor === victim || l.dialer === victim)
        .map((l) => `${l.proxy.name}: ${l.proxy.describe()}`)
      note(`  ${excused} acknowledged writes were only on ${name(victim)}: excused (links ${links.join('; ')})`)
    }
    if (superseded > 0) note(`  ${superseded} hot-key writes are overwritten everywhere`)
  }

  const actions: Array<{ weight: number; run: (round: number) => Promise<void> }> = [
    {
      weight: 55,
      run: async (round) => {
        const n = prng.int31(gen, 1, 6)
        await Promise.all(Array.from({ length: n }, () => write(round)))
      },
    },
    {
      weight: 6,
      run: async () => {
        const side = indexes.map(() => prng.bool(gen))
        if (side.every((s) => s) || side.every((s) => !s)) side[prng.int31(gen, 0, size - 1)] = !side[0]
        const groups = [indexes.filter((i) => side[i]), indexes.filter((i) => !side[i])]
        const mixed = prng.bool(gen)
        const one = pick(FAULTS) ?? 'cut'
        cluster.partition(groups, () => (mixed ? (pick(FAULTS) ?? 'cut') : one))
        count('partition')
        note(`partition ${groups.map((g) => `{${g.map(name).join(',')}}`).join(' | ')} (${mixed ? 'mixed' : one})`)
      },
    },
    {
      weight: 8,
      run: async () => {
        const link = pick(cluster.links)
        const fault = pick(FAULTS)
        if (!link || !fault) return
        cluster.fault(link, fault)
        count(fault)
        note(`${fault} ${link.proxy.name}`)
      },
    },
    {
      weight: 4,
      run: async () => {
        const link = pick(cluster.links)
        if (!link) return
        const ms = prng.int31(gen, 10, 300)
        link.proxy.delay(ms)
        count('delay')
        note(`delay ${ms}ms ${link.proxy.name}`)
      },
    },
    {
      weight: 7,
      run: async () => {
        const reset = prng.bool(gen)
        cluster.healLinks({ reset })
        count('heal')
        note(`heal every link${reset ? ' (reset held connections)' : ''}`)
      },
    },
    {
      weight: 4,
      run: async () => {
        const alive = indexes.filter((i) => stateOf(i) === 'running' || stateOf(i) === 'paused')
        const victim = pick(alive)
        if (victim === undefined || alive.length <= 2) return
        await excuseBeforeKill(victim)
        await cluster.kill(victim)
        pausedSnapshots.delete(victim)
        count('kill')
        note(`SIGKILL ${name(victim)}`)
      },
    },
    {
      weight: 5,
      run: async () => {
        const dead = indexes.filter((i) => stateOf(i) === 'killed' || stateOf(i) === 'crashed')
        const node = pick(dead)
        if (node === undefined) return
        await cluster.restart(node)
        count('restart')
        note(`restart ${name(node)} on port ${proc(node).port}`)
      },
    },
    {
      weight: 3,
      run: async () => {
        const running = cluster.running()
        const node = pick(running)
        if (node === undefined || running.length <= 2) return
        const kv = await readKv(proc(node))
        if (!kv) return
        pausedSnapshots.set(node, kv)
        cluster.nodes[node]?.pause()
        count('pause')
        note(`SIGSTOP ${name(node)}`)
      },
    },
    {
      weight: 4,
      run: async () => {
        const node = pick(indexes.filter((i) => stateOf(i) === 'paused'))
        if (node === undefined) return
        cluster.nodes[node]?.resume()
        pausedSnapshots.delete(node)
        count('resume')
        note(`SIGCONT ${name(node)}`)
      },
    },
  ]
  const totalWeight = actions.reduce((sum, a) => sum + a.weight, 0)
  const nextAction = () => {
    let roll = prng.int31(gen, 0, totalWeight - 1)
    for (const action of actions) {
      if (roll < action.weight) return action
      roll -= action.weight
    }
    throw new Error('unreachable')
  }

  /** Heals everything, then waits until every node holds the same data and state vector. */
  const healAndConverge = async (round: number): Promise<Snapshot | undefined> => {
    const reset = prng.bool(gen)
    cluster.healLinks({ reset })
    for (const i of indexes) {
      if (stateOf(i) === 'paused') {
        cluster.nodes[i]?.resume()
        pausedSnapshots.delete(i)
      }
    }
    await Promise.all(indexes.filter((i) => stateOf(i) !== 'running').map((i) => cluster.restart(i)))
    const healedAt = Date.now()
    note(`round ${round}: healed${reset ? ' (reset held connections)' : ''}, every node running; converging`)
    const deadline = healedAt + convergeMs
    let last = ''
    for (;;) {
      const [kvs, svs] = await Promise.all([
        Promise.all(indexes.map((i) => readKv(proc(i)))),
        Promise.all(indexes.map((i) => readStateVector(proc(i)))),
      ])
      const first = kvs[0]
      const same =
        first !== undefined &&
        kvs.every((kv) => kv !== undefined && isDeepStrictEqual(kv, first)) &&
        svs.every((sv) => sv !== undefined && isDeepStrictEqual(sv, svs[0]))
      if (same) {
        const took = Date.now() - healedAt
        convergeTimes.push(took)
        note(`round ${round}: converged in ${took} ms on ${Object.keys(first).length} keys`)
        return first
      }
      last = kvs.map((kv, i) => `${name(i)}=${kv ? Object.keys(kv).length : '?'} keys`).join(', ')
      if (Date.now() >= deadline) {
        violations.push(`round ${round}: nodes did not converge within ${convergeMs} ms after heal (${last})`)
        return undefined
      }
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }

  const check = (round: number, snapshot: Snapshot): void => {
    const attempted = new Map<string, WriteRecord[]>()
    for (const w of writes) attempted.set(w.key, [...(attempted.get(w.key) ?? []), w])
    for (const [key, value] of Object.entries(snapshot)) {
      const candidates = attempted.get(key)
      if (!candidates) {
        violations.push(`round ${round}: key ${key} was never written`)
        continue
      }
      const source = candidates.find((w) => isDeepStrictEqual(w.value, value))
      if (!source) {
        violations.push(`round ${round}: ${key} = ${JSON.stringify(value)}, a value never written to it`)
        continue
      }
      // A later write by the same process to the same key always wins, if it survived.
      const later = candidates.find(
        (w) =>
          // Sent after the source write was answered: the node applied it later for sure.
          (w.sentAt ?? 0) > (source.ackedAt ?? Infinity) &&
          w.node === source.node &&
          w.incarnation === source.incarnation &&
          w.outcome === 'acked' &&
          !w.excused,
      )
      if (later) {
        violations.push(
          `round ${round}: ${key} = write #${source.id} although #${later.id} by the same process came later and was acknowledged`,
        )
      }
    }
    for (const w of writes) {
      if (w.outcome !== 'acked' || w.excused) continue
      if (!Object.hasOwn(snapshot, w.key)) {
        violations.push(`round ${round}: acknowledged write #${w.id} ${w.key} (on c${w.node}.${w.incarnation}) is lost`)
      } else if (!w.hot && !isDeepStrictEqual(snapshot[w.key], w.value)) {
        violations.push(
          `round ${round}: ${w.key} = ${JSON.stringify(snapshot[w.key])}, expected ${JSON.stringify(w.value)}`,
        )
      }
    }
  }

  try {
    await cluster.waitLinked()
    note('cluster linked')
    for (let round = 1; round <= rounds; round++) {
      for (let step = 0; step < steps; step++) await nextAction().run(round)
      const snapshot = await healAndConverge(round)
      if (snapshot) {
        finalKeys = Object.keys(snapshot).length
        check(round, snapshot)
      }
      for (const crash of cluster.crashes()) {
        const line = `${crash.node}.${crash.incarnation} crashed (${crash.exit.code ?? crash.exit.signal}): ${crash.stderrTail}`
        if (!violations.includes(line)) violations.push(line)
      }
      if (violations.length > 0) break
    }
    for (const node of cluster.nodes) {
      for (const inc of node.incarnations) {
        for (const line of inc.process.stderr.split('\n')) {
          const match = / (WARN|ERROR) +(.*?)(?: \w+=|$)/.exec(line)
          if (!match) continue
          const code = / code=(\d+)/.exec(line)?.[1]
          // Reasons name the cause; numbers and ids in them would split one cause into many.
          const reason = / reason="([^"]*)"/.exec(line)?.[1]?.replace(/[0-9a-f-]{8,}|\d+/g, '#')
          const label = `${match[1]} ${match[2]}${code ? ` code=${code}` : ''}${reason ? ` (${reason})` : ''}`
          logs[label] = (logs[label] ?? 0) + 1
          if (match[1] === 'ERROR' && violations.length < 50)
            violations.push(`${node.name}.${inc.index} logged: ${line}`)
        }
      }
    }
  } finally {
    await cluster.close()
  }

  const acked = writes.filter((w) => w.outcome === 'acked')
  return {
    seed: options.seed,
    nodes: size,
    rounds,
    steps,
    durationMs: Date.now() - started,
    writes: {
      total: writes.length,
      acked: acked.length,
      unknown: writes.filter((w) => w.outcome === 'unknown').length,
      rejected: writes.filter((w) => w.outcome === 'rejected').length,
      excused: acked.filter((w) => w.excused && w.excused !== 'overwritten').length,
      hot: writes.filter((w) => w.hot).length,
    },
    faults,
    convergeMs: convergeTimes,
    finalKeys,
    logs,
    violations,
    journal,
  }
}

/** A few lines summing up a report. */
export const formatChaosReport = (r: ChaosReport): string => {
  const faults = Object.entries(r.faults)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ')
  const times = r.convergeMs.length > 0 ? r.convergeMs.join(', ') : '-'
  return [
    `chaos seed=${r.seed} (replay: MESH_SEED=${r.seed}): ${r.nodes} nodes, ${r.rounds} rounds x ${r.steps} steps in ${(r.durationMs / 1000).toFixed(1)} s`,
    `  writes: ${r.writes.total} (${r.writes.hot} to hot keys): ${r.writes.acked} acknowledged, ${r.writes.unknown} unanswered, ${r.writes.rejected} rejected; ${r.writes.excused} acknowledged but lost with a killed node (excused)`,
    `  faults: ${faults || 'none'}`,
    `  convergence after heal (ms): ${times}; final snapshot ${r.finalKeys} keys`,
    `  node warnings: ${
      Object.entries(r.logs)
        .map(([k, v]) => `${k} x${v}`)
        .join('; ') || 'none'
    }`,
    `  violations: ${r.violations.length === 0 ? 'none' : `\n    ${r.violations.slice(0, 30).join('\n    ')}`}`,
  ].join('\n')
}
