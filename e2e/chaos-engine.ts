/**
 * The chaos convergence run: N `mesh serve` processes wired through fault proxies, a seeded
 * random schedule of REST writes against random nodes, interleaved with partitions, one-way
 * cuts, blackholes, delays, SIGKILLs, restarts, SIGSTOPs and SIGCONTs. The writes go to unique
 * keys, a few hot keys, TTL keys (long ones that must last, short ones that must expire) and
 * ephemeral keys owned by the writing node (`eph:<node>.<incarnation>:<n>`, written, rewritten
 * and popped only by their owner). Nodes run with a short failure bound (`--dead-after-ms`),
 * and every round has at least one SIGSTOP (of a node that has just written an ephemeral key,
 * when at least three nodes run) that lasts until every running node has declared the paused
 * node dead and swept its ephemeral keys. Each round ends with a heal; then every
 * node must converge to the same snapshot within the deadline, and the snapshot must keep
 * every acknowledged write.
 *
 * What "must survive" means (docs/guarantees.md): a write answered 200 lives on the node that
 * answered. It is excused only when every node known to hold it was killed: before each
 * SIGKILL the run reads every other node's store (a paused node counts with what it held
 * when it was paused), and each unexcused write that no other node holds becomes excused.
 * Hot keys must end with one of the values written to them, never with a value its writer
 * overwrote itself later (a later write by the same process always wins in Yjs). Long TTL
 * keys follow the same rules; short TTL keys must be invisible everywhere.
 *
 * Ephemeral keys: a key whose owner process is still running must hold what its owner last
 * wrote (absent if it last popped it), however often others swept it while the owner was
 * paused or cut off: the owner writes it back. A key whose owner process was SIGKILLed must be
 * gone from every node (the restarted node is a new member with a new id). The owner itself
 * must always read its own keys: a DELETE answers with the value it last wrote, or 404 only
 * when it already popped the key.
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
  /** `--heartbeat-ms` of every node. Default 100. */
  heartbeatMs?: number
  /** `--dead-after-ms` of every node: the failure bound that long pauses exceed. Default 600. */
  deadAfterMs?: number
  /** Where progress lines go. Default: nowhere. */
  log?: (line: string) => void
}

/** What a write is about: which rules its key follows at the end. */
export type WriteKind = 'unique' | 'hot' | 'ttl' | 'short-ttl' | 'ephemeral'

/** A value the run writes: the write's id and the process that wrote it. */
export interface ChaosValue {
  w: number
  by: string
}

/** One REST write (a PUT, or a DELETE of an ephemeral key by its owner) the run made. */
export interface WriteRecord {
  id: number
  key: string
  kind: WriteKind
  op: 'put' | 'pop'
  /** What a `put` wrote; undefined for a `pop`. */
  value: ChaosValue | undefined
  node: number
  incarnation: number
  round: number
  /**
   * `acked`: HTTP 200 (a `pop` also counts 404: the key is absent after it); `unknown`: no
   * answer (the node died or stalled); `rejected`: another status.
   */
  outcome: 'acked' | 'unknown' | 'rejected'
  status?: number
  /** What a `pop` answered with (the removed value). */
  removed?: unknown
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
  /** `--heartbeat-ms` and `--dead-after-ms` of the nodes. */
  heartbeatMs: number
  deadAfterMs: number
  writes: { total: number; acked: number; unknown: number; rejected: number; excused: number; hot: number }
  ttl: { long: number; short: number }
  /** Ephemeral puts and pops, distinct keys, and where those keys stood after the last heal. */
  ephemeral: {
    puts: number
    pops: number
    keys: number
    held: number
    popped: number
    goneWithKilledOwner: number
    /** "writing back ephemeral keys" log lines of every process. */
    writeBacks: number
  }
  faults: Record<string, number>
  /** Per pause past the failure bound: ms until every running node had declared the node dead and swept its keys (-1: not within the deadline). */
  longPausesMs: number[]
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
  id: string
  stateVector: Record<string, number>
}

interface MemberJson {
  id: string
  state: string
}

type Snapshot = Record<string, unknown>

/** One ephemeral key and every operation its owner made on it, in the order they were sent. */
interface EphemeralKey {
  key: string
  node: number
  incarnation: number
  ops: WriteRecord[]
  /** An operation on it is in flight: the next one waits, so the order of operations is known. */
  busy: boolean
}

const PUT_TIMEOUT_MS = 4000
const READ_TIMEOUT_MS = 4000
const LONG_TTL_MS = 10 * 60_000
const SHORT_TTL_MS = 200
const FAULTS: readonly LinkFault[] = ['cut', 'cut-forward', 'cut-backward', 'blackhole']

const readJson = async <T>(process: MeshProcess, path: string): Promise<T | undefined> => {
  try {
    const res = await process.api<T>(path, { signal: AbortSignal.timeout(READ_TIMEOUT_MS) })
    return res.status === 200 ? res.body : undefined
  } catch {
    return undefined
  }
}

const readKv = (process: MeshProcess): Promise<Snapshot | undefined> => readJson<Snapshot>(process, '/kv')

/** Equal key sets with equal values, whatever order the keys came in. */
const sameSnapshot = (a: Snapshot, b: Snapshot): boolean => {
  const keys = Object.keys(a)
  if (keys.length !== Object.keys(b).length) return false
  return keys.every((k) => Object.hasOwn(b, k) && isDeepStrictEqual(a[k], b[k]))
}

/** The keys on which snapshots differ, with who holds what, for a failure message. */
const describeDifferences = (kvs: ReadonlyArray<Snapshot | undefined>, name: (i: number) => string): string => {
  const keys = new Set<string>()
  for (const kv of kvs) for (const k of Object.keys(kv ?? {})) keys.add(k)
  const lines: string[] = []
  for (const key of [...keys].sort()) {
    const values = kvs.map((kv) => (kv === undefined ? '?' : Object.hasOwn(kv, key) ? JSON.stringify(kv[key]) : '-'))
    if (values.every((v) => v === values[0])) continue
    lines.push(`${key}: ${values.map((v, i) => `${name(i)}=${v}`).join(' ')}`)
  }
  if (lines.length === 0) return 'same data (state vectors differ)'
  return `${lines.length} keys differ: ${lines.slice(0, 8).join('; ')}${lines.length > 8 ? '; ...' : ''}`
}

/**
 * The states an ephemeral key may be in after `ops` (undefined: absent). An acknowledged
 * operation fixes the state; one without an answer may or may not have been applied.
 */
const possibleStates = (ops: readonly WriteRecord[]): Array<ChaosValue | undefined> => {
  let states: Array<ChaosValue | undefined> = [undefined]
  for (const op of ops) {
    const after = op.op === 'put' ? op.value : undefined
    if (op.outcome === 'acked') states = [after]
    else if (op.outcome === 'unknown') states = [...states, after]
  }
  return states
}

const describeOps = (ops: readonly WriteRecord[]): string =>
  ops
    .slice(-4)
    .map(
      (op) =>
        `#${op.id} ${op.op}${op.value ? ` ${JSON.stringify(op.value)}` : ''} r${op.round} ${op.outcome}${op.status !== undefined && op.status !== 200 ? ` ${op.status}` : ''}`,
    )
    .join(', ')

/** Runs the chaos schedule of `options.seed`; resolves with a report (violations listed, never thrown). */
export const runChaos = async (options: ChaosOptions): Promise<ChaosReport> => {
  const size = options.nodes ?? 5
  const rounds = options.rounds ?? 2
  const steps = options.steps ?? 40
  const hotKeys = options.hotKeys ?? 3
  const convergeMs = options.convergeMs ?? 10_000
  const heartbeatMs = options.heartbeatMs ?? 100
  const deadAfterMs = options.deadAfterMs ?? 600
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
  const ephemeral = new Map<string, EphemeralKey>()
  const faults: Record<string, number> = {}
  const count = (what: string): void => void (faults[what] = (faults[what] ?? 0) + 1)
  const violations: string[] = []
  const convergeTimes: number[] = []
  const longPauses: number[] = []
  const logs: Record<string, number> = {}
  /** What a paused node held when it was paused. */
  const pausedSnapshots = new Map<number, Snapshot>()
  /** Member id of each process, by `c<node>.<incarnation>`. */
  const memberIds = new Map<string, string>()
  /** When each killed process was killed, by `c<node>.<incarnation>`. */
  const killedAt = new Map<string, number>()
  const tally = { held: 0, popped: 0, goneWithKilledOwner: 0 }
  let writeBacks = 0
  let finalKeys = 0

  note(
    `seed ${options.seed}: ${size} nodes, ${rounds} rounds of ${steps} steps, ${hotKeys} hot keys, heartbeat ${heartbeatMs} ms, dead after ${deadAfterMs} ms`,
  )
  const cluster: MeshCluster = await startCluster({
    size,
    prefix: 'c',
    args: ['--log-level', 'info', '--heartbeat-ms', String(heartbeatMs), '--dead-after-ms', String(deadAfterMs)],
  })
  const name = (i: number): string => `c${i}`
  const proc = (i: number): MeshProcess => {
    const node = cluster.nodes[i]
    if (!node) throw new Error(`no node ${i}`)
    return node.current
  }
  const stateOf = (i: number) => cluster.nodes[i]?.state
  const incarnationOf = (i: number): number => (cluster.nodes[i]?.incarnations.length ?? 1) - 1
  const processName = (node: number, incarnation: number): string => `${name(node)}.${incarnation}`
  /** Whether that process ended (killed, or crashed): its ephemeral keys must go. */
  const ended = (node: number, incarnation: number): boolean => {
    const inc = cluster.nodes[node]?.incarnations[incarnation]
    return inc === undefined || inc.endedBy !== undefined || inc.exit !== undefined
  }
  const indexes = Array.from({ length: size }, (_, i) => i)
  const pick = <T>(items: readonly T[]): T | undefined =>
    items.length === 0 ? undefined : items[prng.int31(gen, 0, items.length - 1)]
  const mustSurvive = (w: WriteRecord): boolean =>
    w.op === 'put' && (w.kind === 'unique' || w.kind === 'hot' || w.kind === 'ttl')

  const memberId = async (node: number): Promise<string | undefined> => {
    const label = processName(node, incarnationOf(node))
    const known = memberIds.get(label)
    if (known) return known
    const status = await readJson<MemberStatus>(proc(node), '/status')
    if (status) memberIds.set(label, status.id)
    return status?.id
  }

  /** Chooses what to write where; synchronous, so a batch of concurrent writes draws from the seed in order. */
  const plan = (round: number): WriteRecord | undefined => {
    const node = pick(cluster.running())
    if (node === undefined) return undefined
    const roll = prng.int31(gen, 0, 99)
    if (roll >= 73) return planEphemeral(round, node, true)
    const incarnation = incarnationOf(node)
    const id = writes.length
    const record = (kind: WriteKind, key: string): WriteRecord => ({
      id,
      key,
      kind,
      op: 'put',
      value: { w: id, by: processName(node, incarnation) },
      node,
      incarnation,
      round,
      outcome: 'unknown',
    })
    if (roll < 25) return record('hot', `hot:${prng.int31(gen, 0, hotKeys - 1)}`)
    if (roll < 58) return record('unique', `u:${id}`)
    if (roll < 66) return record('ttl', `ttl:${id}`)
    return record('short-ttl', `sttl:${id}`)
  }

  /** An ephemeral write on `node`: a new key, or a rewrite or (with `mayPop`) a pop of one of its process's own idle keys. */
  const planEphemeral = (round: number, node: number, mayPop: boolean): WriteRecord => {
    const incarnation = incarnationOf(node)
    const id = writes.length
    const own = [...ephemeral.values()].filter((e) => e.node === node && e.incarnation === incarnation && !e.busy)
    const what = prng.int31(gen, 0, 99)
    const target = what < 55 ? pick(own) : undefined
    let entry = target
    if (!entry) {
      entry = { key: `eph:${processName(node, incarnation)}:${id}`, node, incarnation, ops: [], busy: false }
      ephemeral.set(entry.key, entry)
    }
    const op = target && mayPop && what < 25 ? 'pop' : 'put'
    const w: WriteRecord = {
      id,
      key: entry.key,
      kind: 'ephemeral',
      op,
      value: op === 'put' ? { w: id, by: processName(node, incarnation) } : undefined,
      node,
      incarnation,
      round,
      outcome: 'unknown',
    }
    entry.busy = true
    entry.ops.push(w)
    return w
  }
  const planWrite = (round: number): WriteRecord | undefined => {
    const w = plan(round)
    if (w) writes.push(w)
    return w
  }

  const send = async (w: WriteRecord): Promise<void> => {
    const entry = w.kind === 'ephemeral' ? ephemeral.get(w.key) : undefined
    // What the owner must read back before this operation (its own earlier operations).
    const before = entry ? possibleStates(entry.ops.slice(0, -1)) : []
    const query =
      w.kind === 'ephemeral' && w.op === 'put'
        ? '?ephemeral=true'
        : w.kind === 'ttl'
          ? `?ttl=${LONG_TTL_MS}`
          : w.kind === 'short-ttl'
            ? `?ttl=${SHORT_TTL_MS}`
            : ''
    w.sentAt = Date.now()
    try {
      const path = `/kv/${encodeURIComponent(w.key)}${query}`
      const res = await proc(w.node).api(
        path,
        w.op === 'pop'
          ? { method: 'DELETE', signal: AbortSignal.timeout(PUT_TIMEOUT_MS) }
          : {
              method: 'PUT',
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify(w.value),
              signal: AbortSignal.timeout(PUT_TIMEOUT_MS),
            },
      )
      w.status = res.status
      w.ackedAt = Date.now()
      const ok = res.status === 200 || (w.op === 'pop' && res.status === 404)
      w.outcome = ok ? 'acked' : 'rejected'
      if (!ok) {
        violations.push(
          `${w.op === 'pop' ? 'DELETE' : 'PUT'} #${w.id} ${w.key}${query} on ${processName(w.node, w.incarnation)} answered ${res.status} ${JSON.stringify(res.body)}`,
        )
      }
      if (w.op === 'pop' && ok) {
        w.removed = res.status === 200 ? res.body : undefined
        const fits = before.some((s) =>
          s === undefined ? res.status === 404 : res.status === 200 && isDeepStrictEqual(res.body, s),
        )
        if (!fits) {
          violations.push(
            `round ${w.round}: owner ${processName(w.node, w.incarnation)} answered DELETE #${w.id} of its own ephemeral key ${w.key} with ${res.status} ${JSON.stringify(res.body)}, expected ${before.map((s) => (s ? `200 ${JSON.stringify(s)}` : '404')).join(' or ')} (its operations: ${describeOps(entry?.ops ?? [])})`,
          )
        }
      }
    } catch {
      w.outcome = 'unknown'
    } finally {
      // A request without an answer may still be applied later, out of order with a next
      // operation: such a key gets no more operations.
      if (entry && w.outcome !== 'unknown') entry.busy = false
    }
  }

  /**
   * Before node `victim` dies: an unexcused write that no other node holds is excused if the
   * victim holds it (it dies with it). A unique write that nobody holds is not excused: it was
   * lost while its holders lived, and the final check reports it. A hot-key write that nobody
   * holds was overwritten (or dies with the victim): excused. The victim's ephemeral keys go
   * with it by design.
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
    let ownerGone = 0
    const incarnation = incarnationOf(victim)
    for (const w of writes) {
      if (w.kind === 'ephemeral' && w.node === victim && w.incarnation === incarnation && !w.excused) {
        w.excused = 'owner killed'
        ownerGone++
        continue
      }
      if (w.outcome !== 'acked' || w.excused || !mustSurvive(w)) continue
      if (others.some((kv) => holds(kv, w))) continue
      if (w.kind === 'hot' && !holds(own, w)) {
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
    if (ownerGone > 0) note(`  ${ownerGone} ephemeral operations of ${processName(victim, incarnation)} go with it`)
  }

  /** SIGSTOP a running node; with `pastBound`, wait until the others declared it dead and swept its keys. False when no node could be paused. */
  const pause = async (round: number, pastBound: boolean): Promise<boolean> => {
    const running = cluster.running()
    const node = pick(running)
    if (node === undefined || running.length <= 2) return false
    if (pastBound) {
      // Give it at least one ephemeral key to lose to the sweep and write back.
      const w = planEphemeral(round, node, false)
      writes.push(w)
      await send(w)
    }
    const [kv, id] = await Promise.all([readKv(proc(node)), memberId(node)])
    if (!kv || !id) return false
    pausedSnapshots.set(node, kv)
    cluster.nodes[node]?.pause()
    if (!pastBound) {
      count('pause')
      note(`SIGSTOP ${name(node)}`)
      return true
    }
    count('pause past the failure bound')
    const prefix = `eph:${processName(node, incarnationOf(node))}:`
    const owned = Object.keys(kv).filter((k) => k.startsWith(prefix)).length
    note(`SIGSTOP ${name(node)} (${id}, ${owned} ephemeral keys) until every running node declared it dead and swept`)
    // Wait for the event, not a fixed time: every other running node lists it dead (or never
    // heard of it) and holds none of its ephemeral keys.
    const pausedAt = Date.now()
    const deadline = pausedAt + 4 * deadAfterMs + 2000
    let pending = ''
    for (;;) {
      const views = await Promise.all(
        cluster.running().map(async (i) => {
          const [members, held] = await Promise.all([readJson<MemberJson[]>(proc(i), '/members'), readKv(proc(i))])
          const state = members?.find((m) => m.id === id)?.state ?? 'unknown'
          const keys = held ? Object.keys(held).filter((k) => k.startsWith(prefix)).length : -1
          return {
            i,
            ok: members !== undefined && (state === 'dead' || state === 'unknown') && keys === 0,
            state,
            keys,
          }
        }),
      )
      if (views.every((v) => v.ok)) {
        const took = Date.now() - pausedAt
        longPauses.push(took)
        note(`  ${name(node)} declared dead and its ephemeral keys swept on every running node after ${took} ms`)
        return true
      }
      pending = views
        .filter((v) => !v.ok)
        .map((v) => `${name(v.i)} sees it ${v.state} with ${v.keys} of its keys`)
        .join(', ')
      if (Date.now() >= deadline) {
        longPauses.push(-1)
        note(`  ${name(node)} not declared dead and swept everywhere within ${deadline - pausedAt} ms: ${pending}`)
        return true
      }
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }

  const actions: Array<{ weight: number; run: (round: number) => Promise<void> | void }> = [
    {
      weight: 55,
      run: async (round) => {
        const n = prng.int31(gen, 1, 6)
        const batch = Array.from({ length: n }, () => planWrite(round)).filter((w) => w !== undefined)
        await Promise.all(batch.map(send))
      },
    },
    {
      weight: 6,
      run: () => {
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
      run: () => {
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
      run: () => {
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
      run: () => {
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
        killedAt.set(processName(victim, incarnationOf(victim)), Date.now())
        await cluster.kill(victim)
        pausedSnapshots.delete(victim)
        count('kill')
        note(`SIGKILL ${processName(victim, incarnationOf(victim))}`)
      },
    },
    {
      weight: 5,
      run: async () => {
        const dead = indexes.filter((i) => stateOf(i) === 'killed' || stateOf(i) === 'crashed')
        const node = pick(dead)
        if (node === undefined) return
        await cluster.restart(node)
        const id = await memberId(node)
        count('restart')
        note(
          `restart ${name(node)} as ${processName(node, incarnationOf(node))} (${String(id)}) on port ${String(proc(node).port)}`,
        )
      },
    },
    {
      weight: 3,
      // One pause in four lasts until the others declared the node dead; the rest end whenever
      // a SIGCONT or the heal comes, which may also be past the bound.
      run: async (round) => {
        await pause(round, prng.int31(gen, 0, 3) === 0)
      },
    },
    {
      weight: 4,
      run: () => {
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

  /**
   * What the converged snapshot still breaks of the ephemeral and short TTL rules (see the
   * file header). Those settle a little after the data converges (a sweep waits for the
   * failure bound, a write-back for the removal), so the heal waits for them too.
   */
  const settleProblems = (round: number, snapshot: Snapshot): string[] => {
    const problems: string[] = []
    for (const e of ephemeral.values()) {
      const owner = processName(e.node, e.incarnation)
      const held = Object.hasOwn(snapshot, e.key)
      if (ended(e.node, e.incarnation)) {
        if (held) {
          const at = killedAt.get(owner)
          problems.push(
            `round ${round}: ${e.key} = ${JSON.stringify(snapshot[e.key])} is still held, although its owner ${owner} (${memberIds.get(owner) ?? 'id unknown'}) was killed ${at === undefined ? '' : `${((Date.now() - at) / 1000).toFixed(1)} s ago `}(its operations: ${describeOps(e.ops)})`,
          )
        }
        continue
      }
      const states = possibleStates(e.ops)
      const fits = states.some((s) => (s === undefined ? !held : held && isDeepStrictEqual(snapshot[e.key], s)))
      if (fits) continue
      const expected = states.map((s) => (s === undefined ? 'absent' : JSON.stringify(s))).join(' or ')
      problems.push(
        held
          ? `round ${round}: ephemeral ${e.key} = ${JSON.stringify(snapshot[e.key])}, but its owner ${owner} (${memberIds.get(owner) ?? 'id unknown'}, running) left it ${expected} (its operations: ${describeOps(e.ops)})`
          : `round ${round}: ephemeral ${e.key} of running owner ${owner} (${memberIds.get(owner) ?? 'id unknown'}) is lost; expected ${expected} (its operations: ${describeOps(e.ops)})`,
      )
    }
    for (const w of writes) {
      if (w.kind === 'short-ttl' && Object.hasOwn(snapshot, w.key)) {
        problems.push(
          `round ${round}: ${w.key} (ttl ${SHORT_TTL_MS} ms, written on ${processName(w.node, w.incarnation)} ${((Date.now() - (w.sentAt ?? 0)) / 1000).toFixed(1)} s ago) is still visible: ${JSON.stringify(snapshot[w.key])}`,
        )
      }
    }
    return problems
  }

  /** Heals everything, then waits until every node holds the same data and state vector, and the ephemeral and TTL keys settled. */
  const healAndConverge = async (round: number): Promise<Snapshot | undefined> => {
    const reset = prng.bool(gen)
    cluster.healLinks({ reset })
    for (const i of indexes) {
      if (stateOf(i) === 'paused') {
        cluster.nodes[i]?.resume()
        pausedSnapshots.delete(i)
      }
    }
    await Promise.all(
      indexes.filter((i) => stateOf(i) !== 'running').map((i) => cluster.restart(i).then(() => memberId(i))),
    )
    const healedAt = Date.now()
    note(`round ${round}: healed${reset ? ' (reset held connections)' : ''}, every node running; converging`)
    const deadline = healedAt + convergeMs
    let convergedAt: number | undefined
    for (;;) {
      const [kvs, svs] = await Promise.all([
        Promise.all(indexes.map((i) => readKv(proc(i)))),
        Promise.all(indexes.map((i) => readJson<MemberStatus>(proc(i), '/status').then((s) => s?.stateVector))),
      ])
      const first = kvs[0]
      const same =
        first !== undefined &&
        kvs.every((kv) => kv !== undefined && sameSnapshot(kv, first)) &&
        svs.every((sv) => sv !== undefined && isDeepStrictEqual(sv, svs[0]))
      if (same) {
        convergedAt ??= Date.now()
        const unsettled = settleProblems(round, first).length
        if (unsettled === 0 || Date.now() >= deadline) {
          const took = Date.now() - healedAt
          convergeTimes.push(took)
          note(
            `round ${round}: converged in ${convergedAt - healedAt} ms${unsettled === 0 ? `, settled in ${took} ms` : `, ${unsettled} ephemeral or TTL keys still wrong after ${took} ms`} on ${Object.keys(first).length} keys`,
          )
          return first
        }
      } else {
        convergedAt = undefined
        if (Date.now() >= deadline) {
          violations.push(
            `round ${round}: nodes did not converge within ${convergeMs} ms after heal (${kvs.map((kv, i) => `${name(i)}=${kv ? Object.keys(kv).length : '?'} keys`).join(', ')}; ${describeDifferences(kvs, name)})`,
          )
          return undefined
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }

  const check = (round: number, snapshot: Snapshot): void => {
    const attempted = new Map<string, WriteRecord[]>()
    for (const w of writes) if (w.op === 'put') attempted.set(w.key, [...(attempted.get(w.key) ?? []), w])
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
      // Ephemeral and short TTL keys have their own rules (settleProblems).
      if (source.kind === 'ephemeral' || source.kind === 'short-ttl') continue
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
      if (w.outcome !== 'acked' || w.excused || !mustSurvive(w)) continue
      if (!Object.hasOwn(snapshot, w.key)) {
        violations.push(
          `round ${round}: acknowledged ${w.kind} write #${w.id} ${w.key} (on ${processName(w.node, w.incarnation)}) is lost`,
        )
      } else if (w.kind !== 'hot' && !isDeepStrictEqual(snapshot[w.key], w.value)) {
        violations.push(
          `round ${round}: ${w.key} = ${JSON.stringify(snapshot[w.key])}, expected ${JSON.stringify(w.value)}`,
        )
      }
    }
    violations.push(...settleProblems(round, snapshot))
    tally.held = 0
    tally.popped = 0
    tally.goneWithKilledOwner = 0
    for (const e of ephemeral.values()) {
      if (Object.hasOwn(snapshot, e.key)) tally.held++
      else if (ended(e.node, e.incarnation)) tally.goneWithKilledOwner++
      else if (possibleStates(e.ops).includes(undefined)) tally.popped++
    }
  }

  /** Short TTL keys of this round must also be invisible to a read of the single key, on every node. */
  const checkShortTtlReads = async (round: number): Promise<void> => {
    const keys = writes.filter((w) => w.kind === 'short-ttl' && w.round === round && w.outcome !== 'rejected')
    await Promise.all(
      indexes.map(async (i) => {
        for (const w of keys) {
          const res = await proc(i)
            .api(`/kv/${encodeURIComponent(w.key)}`, { signal: AbortSignal.timeout(READ_TIMEOUT_MS) })
            .catch(() => undefined)
          if (res && res.status !== 404) {
            violations.push(
              `round ${round}: GET ${w.key} (ttl ${SHORT_TTL_MS} ms) on ${name(i)} answered ${res.status} ${JSON.stringify(res.body)}`,
            )
          }
        }
      }),
    )
  }

  try {
    await cluster.waitLinked()
    await Promise.all(indexes.map(memberId))
    note(
      `cluster linked: ${indexes.map((i) => `${processName(i, 0)}=${String(memberIds.get(processName(i, 0)))}`).join(' ')}`,
    )
    for (let round = 1; round <= rounds; round++) {
      // Every round pauses a node past the failure bound at least once: at a seeded step in
      // its first half, or at the first step after it when at least three nodes are running.
      const longPauseStep = prng.int31(gen, 0, Math.floor((steps - 1) / 2))
      let longPauseDue = true
      for (let step = 0; step < steps; step++) {
        if (longPauseDue && step >= longPauseStep && (await pause(round, true))) longPauseDue = false
        else await nextAction().run(round)
      }
      const snapshot = await healAndConverge(round)
      if (snapshot) {
        finalKeys = Object.keys(snapshot).length
        check(round, snapshot)
        await checkShortTtlReads(round)
      }
      for (const crash of cluster.crashes()) {
        const line = `${crash.node}.${crash.incarnation} crashed (${String(crash.exit.code ?? crash.exit.signal)}): ${crash.stderrTail}`
        if (!violations.includes(line)) violations.push(line)
      }
      if (violations.length > 0) break
    }
    for (const node of cluster.nodes) {
      for (const inc of node.incarnations) {
        for (const line of inc.process.stderr.split('\n')) {
          if (line.includes(' INFO  writing back ephemeral keys')) writeBacks++
          const match = / (WARN|ERROR) +(.*?)(?: \w+=|$)/.exec(line)
          if (!match) continue
          const code = / code=(\d+)/.exec(line)?.[1]
          // Reasons name the cause; numbers and ids in them would split one cause into many.
          const reason = / reason="([^"]*)"/.exec(line)?.[1]?.replace(/[0-9a-f-]{8,}|\d+/g, '#')
          const label = `${String(match[1])} ${String(match[2])}${code ? ` code=${code}` : ''}${reason ? ` (${reason})` : ''}`
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
  const ephemeralWrites = writes.filter((w) => w.kind === 'ephemeral')
  return {
    seed: options.seed,
    nodes: size,
    rounds,
    steps,
    durationMs: Date.now() - started,
    heartbeatMs,
    deadAfterMs,
    writes: {
      total: writes.length,
      acked: acked.length,
      unknown: writes.filter((w) => w.outcome === 'unknown').length,
      rejected: writes.filter((w) => w.outcome === 'rejected').length,
      excused: acked.filter((w) => mustSurvive(w) && w.excused && w.excused !== 'overwritten').length,
      hot: writes.filter((w) => w.kind === 'hot').length,
    },
    ttl: {
      long: writes.filter((w) => w.kind === 'ttl').length,
      short: writes.filter((w) => w.kind === 'short-ttl').length,
    },
    ephemeral: {
      puts: ephemeralWrites.filter((w) => w.op === 'put').length,
      pops: ephemeralWrites.filter((w) => w.op === 'pop').length,
      keys: ephemeral.size,
      ...tally,
      writeBacks,
    },
    faults,
    longPausesMs: longPauses,
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
  const pauses = r.longPausesMs.map((ms) => (ms < 0 ? 'not within the deadline' : `${ms}`)).join(', ')
  const e = r.ephemeral
  return [
    `chaos seed=${r.seed} (replay: MESH_SEED=${r.seed}): ${r.nodes} nodes, ${r.rounds} rounds x ${r.steps} steps in ${(r.durationMs / 1000).toFixed(1)} s (heartbeat ${r.heartbeatMs} ms, dead after ${r.deadAfterMs} ms)`,
    `  writes: ${r.writes.total} (${r.writes.hot} to hot keys): ${r.writes.acked} acknowledged, ${r.writes.unknown} unanswered, ${r.writes.rejected} rejected; ${r.writes.excused} acknowledged but lost with a killed node (excused)`,
    `  TTL keys: ${r.ttl.long} of ${LONG_TTL_MS / 60_000} min (must last), ${r.ttl.short} of ${SHORT_TTL_MS} ms (must expire)`,
    `  ephemeral: ${e.puts} puts and ${e.pops} pops on ${e.keys} keys; after the last heal ${e.held} held, ${e.popped} popped (or never applied), ${e.goneWithKilledOwner} gone with their killed owner; ${e.writeBacks} write-backs logged`,
    `  pauses past the failure bound: ${r.longPausesMs.length} (dead and swept everywhere after ms: ${pauses || '-'})`,
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
