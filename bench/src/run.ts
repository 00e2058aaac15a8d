/**
 * `npm run bench`: Mesh throughput, latency and memory, with baselines measured in the same
 * run on the same machine. Every node is a separate process on 127.0.0.1; every figure is
 * the median of several runs, with min and max. See bench/README.md.
 */
import { writeFileSync } from 'node:fs'
import { measureNaiveMesh } from './baselines/naive-mesh.js'
import { measureRedis } from './baselines/redis.js'
import { measureWsLoopback } from './baselines/ws-loopback.js'
import { measureWsRpc } from './baselines/ws-rpc.js'
import { Context } from './context.js'
import { renderHtml } from './html-report.js'
import { describeMachine, loadAverage } from './machine.js'
import { measureChurn } from './metrics/churn.js'
import { measureColdJoin } from './metrics/cold-join.js'
import { measureConvergence } from './metrics/convergence.js'
import { measureDistinct } from './metrics/distinct.js'
import { measureFanout } from './metrics/fanout.js'
import { measureRecipes } from './metrics/recipes.js'
import { measureRouting } from './metrics/routing.js'
import { measureScale } from './metrics/scale.js'
import { measurePersistence } from './metrics/persistence.js'
import { measureThroughput } from './metrics/throughput.js'
import { parseOptions, USAGE } from './options.js'
import { installCleanup, killAll } from './processes.js'
import { finish, renderTable } from './report.js'

/** Metric names in report order (issues 3 and 14); figures of other sizes (smoke) follow. */
export const METRIC_ORDER = [
  'put_local_ops',
  'replicated_puts_1w',
  'replicated_puts_batched',
  'replicated_puts_3w',
  'convergence_p50_ms',
  'convergence_p99_ms',
  'cold_join_100k_ms',
  'cold_join_1m_ms',
  'heap_bytes_per_key',
  'churn_heap_mb',
  'churn_put_ops',
  'put_object_distinct_ops',
  'light_peers_fanout_p99_ms',
  'light_peers_fanout_5k_p99_ms',
  'rpc_calls_per_s',
  'rpc_p99_ms',
  'rpc_p99_half_measured_ms',
  'actor_activations_per_s',
  'pubsub_msgs_per_s',
  'persist_puts_per_s_always',
  'persist_puts_per_s_batch50',
  'persist_puts_per_s_never',
  'restart_1m_ms',
  'rate_limit_take_per_s',
  'lease_acquire_p99_ms',
  'membership_idle_cpu_pct_10',
  'membership_idle_cpu_pct_30',
  'membership_idle_cpu_pct_40',
  'backbone_idle_cpu_pct_10',
  'backbone_idle_cpu_pct_30',
  'mesh_replicated_puts_10',
  'backbone_replicated_puts_10',
  'mesh_replicated_puts_30',
  'backbone_replicated_puts_30',
  'mesh_convergence_p99_ms_10',
  'backbone_convergence_p99_ms_10',
  'mesh_convergence_p99_ms_30',
  'backbone_convergence_p99_ms_30',
]

/** Baseline names in report order: issue 3's, then the bare layouts of issue 14. */
export const BASELINE_ORDER = [
  'ws_loopback_msgs',
  'ws_rpc_calls_per_s',
  'ws_rpc_p99_ms',
  'naive_yjs_mesh_1w',
  'redis_set',
  'ywebsocket_server_fanout_p99_ms',
  'ywebsocket_server_fanout_5k_p99_ms',
  'cold_join_100k_ms_ymap',
  'cold_join_100k_ms_yarray',
  'cold_join_1m_ms_ymap',
  'cold_join_1m_ms_yarray',
  'heap_bytes_per_key_ymap',
  'heap_bytes_per_key_yarray',
  'churn_heap_mb_ymap',
  'churn_heap_mb_yarray',
  'put_object_distinct_ops_ymap',
  'put_object_distinct_ops_yarray',
  'persist_puts_per_s_memory',
]

const main = async (): Promise<number> => {
  let parsed: ReturnType<typeof parseOptions>
  try {
    parsed = parseOptions(process.argv.slice(2))
  } catch (error) {
    process.stderr.write(`bench: ${(error as Error).message}\n`)
    return 2
  }
  if (parsed === 'help') {
    process.stdout.write(`${USAGE}\n`)
    return 0
  }
  const options = parsed
  installCleanup()
  const ctx = new Context(options)
  const machine = describeMachine()
  const startedAt = new Date()
  ctx.log(`${options.mode} mode, ${options.sizes.runs} runs per figure, nodes: ${options.nodes}`)

  await measureWsLoopback(ctx)
  await measureNaiveMesh(ctx)
  await measureRedis(ctx)
  await measureThroughput(ctx)
  await measureConvergence(ctx)
  await measureColdJoin(ctx)
  await measureChurn(ctx)
  await measureDistinct(ctx)
  await measureFanout(ctx)
  await measureWsRpc(ctx)
  await measureRouting(ctx)
  await measurePersistence(ctx)
  await measureRecipes(ctx)
  await measureScale(ctx)
  if (options.mode !== 'full' && ctx.wants('cold_join_1m_ms')) ctx.skip('cold_join_1m_ms', 'full mode only')

  machine.loadAverage.end = loadAverage()
  const result = finish({
    metrics: ctx.metrics,
    baselines: ctx.baselines,
    skipped: ctx.skipped,
    machine,
    config: {
      mode: options.mode,
      runs: options.sizes.runs,
      nodes: options.nodes,
      startedAt: startedAt.toISOString(),
      durationMs: Date.now() - startedAt.getTime(),
      sizes: options.sizes,
    },
  })
  const order = { metrics: METRIC_ORDER, baselines: BASELINE_ORDER }
  process.stdout.write(`\n${renderTable(result, order)}\n`)
  if (options.json) {
    writeFileSync(options.json, `${JSON.stringify(result, null, 2)}\n`)
    ctx.log(`wrote ${options.json}`)
  }
  if (options.html) {
    writeFileSync(options.html, renderHtml(result, order))
    ctx.log(`wrote ${options.html}`)
  }
  ctx.log(`done in ${(result.config.durationMs / 1000).toFixed(1)} s`)
  if (ctx.failed.length > 0) {
    ctx.log(`failed: ${ctx.failed.join(', ')}`)
    return 1
  }
  return 0
}

main().then(
  (code) => {
    killAll()
    process.exit(code)
  },
  (error: unknown) => {
    process.stderr.write(`bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`)
    killAll()
    process.exit(1)
  },
)
