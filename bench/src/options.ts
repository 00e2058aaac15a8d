import type { NodeKind } from './cluster.js'

/** `full` (default), `quick` (under 2 minutes on 2 cores), `smoke` (seconds; for the smoke test). */
export type Mode = 'full' | 'quick' | 'smoke'

/** Workload sizes of one mode. */
export interface Sizes {
  runs: number
  /** One 3-node cluster for all throughput metrics instead of fresh nodes per run (smoke only: fewer spawns). */
  shareNodes: boolean
  /**
   * Throughput runs (Mesh and the naive baseline): a warm-up of `warmup` keys, then a measured
   * phase sized from the warm-up's rate to last about `measureSeconds`, within
   * `minKeys`..`maxKeys`, so a run takes the same time however fast the code is.
   */
  warmup: number
  measureSeconds: number
  minKeys: number
  maxKeys: number
  wsMessages: number
  /** Offered load and length of the convergence runs. */
  convergenceRate: number
  convergenceWarmupMs: number
  convergenceMs: number
  /** Key counts of the cold-join runs; the largest also gives heap_bytes_per_key. */
  coldJoin: number[]
  /** churn_heap_mb: `writes` overwrites of `keys` hot keys, one put per event-loop turn. */
  churn: { keys: number; writes: number }
  /** put_object_distinct_ops: distinct keys written with put(object). */
  distinct: number
  /**
   * Runs of the heavy figures (churn, distinct keys) and of the bare-layout cold joins: their
   * memory figures vary little between runs.
   */
  heavyRuns: number
  lightSockets: number
  /** Sockets of the `_5k_` fan-out pair (issue 19); 0 leaves it out. */
  lightSocketsLarge: number
  /**
   * Scale figures (issues 18 and 19): the idle window in which CPU is read, keys one writer puts
   * to all nodes, and keys of the paced convergence phase.
   */
  scaleIdleMs: number
  scalePuts: number
  scalePaced: number
  lightWrites: number
  /** `redis-benchmark -n`. */
  redisRequests: number
  /** Issue 15: calls per measured run (also the ws request/response baseline), activations, pub/sub messages. */
  rpcCalls: number
  activations: number
  pubsubMessages: number
  /** Recipes: lease acquires per measured run, rate limiter takes per run. */
  leaseAcquires: number
  rateTakes: number
}

const SIZES: Record<Mode, Sizes> = {
  full: {
    runs: 5,
    shareNodes: false,
    warmup: 20_000,
    measureSeconds: 4,
    minKeys: 20_000,
    maxKeys: 3_000_000,
    wsMessages: 1_000_000,
    convergenceRate: 5_000,
    convergenceWarmupMs: 2_000,
    convergenceMs: 10_000,
    coldJoin: [100_000, 1_000_000],
    churn: { keys: 1_000, writes: 1_000_000 },
    distinct: 1_000_000,
    heavyRuns: 3,
    lightSockets: 1000,
    lightSocketsLarge: 5000,
    lightWrites: 200,
    scaleIdleMs: 30_000,
    scalePuts: 10_000,
    scalePaced: 2_500,
    redisRequests: 200_000,
    rpcCalls: 200_000,
    activations: 100_000,
    pubsubMessages: 200_000,
    leaseAcquires: 5_000,
    rateTakes: 10_000_000,
  },
  quick: {
    runs: 3,
    shareNodes: false,
    warmup: 10_000,
    measureSeconds: 2.5,
    minKeys: 5_000,
    maxKeys: 1_000_000,
    wsMessages: 200_000,
    convergenceRate: 5_000,
    convergenceWarmupMs: 1_000,
    convergenceMs: 2_000,
    coldJoin: [100_000],
    churn: { keys: 1_000, writes: 200_000 },
    distinct: 200_000,
    heavyRuns: 1,
    lightSockets: 500,
    lightSocketsLarge: 5000,
    lightWrites: 50,
    scaleIdleMs: 10_000,
    scalePuts: 2_000,
    scalePaced: 500,
    redisRequests: 200_000,
    rpcCalls: 60_000,
    activations: 40_000,
    pubsubMessages: 60_000,
    leaseAcquires: 2_000,
    rateTakes: 3_000_000,
  },
  smoke: {
    runs: 1,
    shareNodes: true,
    warmup: 200,
    measureSeconds: 0.05,
    minKeys: 500,
    maxKeys: 2_000,
    wsMessages: 2_000,
    convergenceRate: 5_000,
    convergenceWarmupMs: 50,
    convergenceMs: 200,
    coldJoin: [2_000],
    churn: { keys: 100, writes: 2_000 },
    distinct: 2_000,
    heavyRuns: 1,
    lightSockets: 10,
    lightSocketsLarge: 0,
    lightWrites: 5,
    scaleIdleMs: 0,
    scalePuts: 0,
    scalePaced: 0,
    redisRequests: 0,
    rpcCalls: 1_000,
    activations: 1_000,
    pubsubMessages: 1_000,
    leaseAcquires: 200,
    rateTakes: 100_000,
  },
}

/** Keys for a measured throughput phase, from the warm-up's rate, rounded to a multiple of `multiple`. */
export const measuredKeys = (sizes: Sizes, warmRate: number, multiple: number): number => {
  const want = Math.min(sizes.maxKeys, Math.max(sizes.minKeys, warmRate * sizes.measureSeconds))
  return Math.max(multiple, Math.round(want / multiple) * multiple)
}

/** Parsed command line of `npm run bench`. */
export interface BenchOptions {
  mode: Mode
  sizes: Sizes
  json: string | undefined
  /** Also write a self-contained HTML report (charts and tables) to this file. */
  html: string | undefined
  nodes: NodeKind
  /** Run only these metrics and baselines (by name); everything when undefined. */
  only: Set<string> | undefined
  redis: boolean
}

/** `npm run bench -- --help` */
export const USAGE = `usage: npm run bench -- [--quick | --full | --smoke] [--json FILE] [--html FILE] [--runs N]
                        [--only NAME,NAME...] [--nodes worker|cli] [--no-redis]

  --quick        smaller workloads, 3 runs each: about 2 minutes on 2 cores
  --full         the default: full workloads, 5 runs each (3 for the 1M churn and
                 distinct-key runs), cold join of 1M keys
  --smoke        tiny workloads, 1 run, no redis: checks that everything still runs
  --json FILE    also write the results as JSON
  --html FILE    also write a self-contained HTML report: a bar chart per figure with
                 its baselines and target, and the tables
  --runs N       runs per figure (the median is reported, with min and max)
  --only LIST    only these metrics / baselines, e.g. --only replicated_puts_1w,redis_set
  --nodes KIND   worker (default): bench workers on @mesh/core over IPC;
                 cli: \`mesh serve\` processes driven over REST (fewer metrics)
  --no-redis     skip the redis_set baseline

Set MESH_BENCH_CPU_PROF=DIR to write a CPU profile of every child process into DIR, and
MESH_BENCH_IDLE_PROF=DIR for a profile of one node's idle window in the scale figures.`

/** Parses the bench's arguments; throws a one-line error on anything it does not know. */
export const parseOptions = (argv: readonly string[]): BenchOptions | 'help' => {
  let mode: Mode = 'full'
  let json: string | undefined
  let html: string | undefined
  let runs: number | undefined
  let only: Set<string> | undefined
  let nodes: NodeKind = 'worker'
  let redis = true
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i] ?? ''
    const value = () => {
      const v = argv[++i]
      if (v === undefined || v.startsWith('--')) throw new Error(`${flag} needs a value`)
      return v
    }
    switch (flag) {
      case '--quick':
      case '--full':
      case '--smoke':
        mode = flag.slice(2) as Mode
        break
      case '--json':
        json = value()
        break
      case '--html':
        html = value()
        break
      case '--runs':
        runs = Number(value())
        if (!Number.isInteger(runs) || runs < 1 || runs > 50) throw new Error('--runs must be 1..50')
        break
      case '--only':
        only = new Set(
          value()
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean),
        )
        break
      case '--nodes': {
        const kind = value()
        if (kind !== 'worker' && kind !== 'cli') throw new Error('--nodes must be worker or cli')
        nodes = kind
        break
      }
      case '--no-redis':
        redis = false
        break
      case '--help':
      case '-h':
        return 'help'
      default:
        throw new Error(`unknown option ${flag} (see --help)`)
    }
  }
  const sizes = { ...SIZES[mode], ...(runs === undefined ? {} : { runs }) }
  return { mode, sizes, json, html, nodes, only, redis: redis && mode !== 'smoke' }
}
