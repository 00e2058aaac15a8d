import { execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'

const root = join(import.meta.dirname, '..', '..')
const dir = mkdtempSync(join(tmpdir(), 'mesh-bench-smoke-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

interface FigureJson {
  value: number
  unit: string
  min: number
  max: number
  runs: number[]
}

const VOID_ELEMENTS = new Set(['meta', 'br', 'hr', 'img', 'link', 'input'])

/** Tags left open or closed out of order in `html` (empty when every element is balanced). */
const unbalancedTags = (html: string): string[] => {
  const open: string[] = []
  const wrong: string[] = []
  for (const [tag, closing, name, selfClosing] of html.matchAll(/<(\/?)([a-zA-Z][\w-]*)[^>]*?(\/?)>/g)) {
    const element = (name ?? '').toLowerCase()
    if (selfClosing || VOID_ELEMENTS.has(element)) continue
    if (!closing) open.push(element)
    else if (open.pop() !== element) wrong.push(tag)
  }
  return [...wrong, ...open]
}

const runBench = (args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(root, 'bench', 'dist', 'run.js'), ...args], { cwd: root })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()))
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()))
    // About 30 s on 2 busy cores; the margin is for a machine running the whole test suite at once.
    const timer = setTimeout(() => child.kill('SIGINT'), 85_000)
    child.on('error', reject)
    child.on('exit', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })

describe('npm run bench', () => {
  it('runs one tiny iteration of every metric and baseline (--smoke) and writes the JSON shape', async () => {
    // Incremental: a no-op when `npm test` already built everything.
    execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-b', 'bench'], {
      cwd: root,
    })
    const file = join(dir, 'out.json')
    const htmlFile = join(dir, 'out.html')
    const { code, stdout, stderr } = await runBench(['--smoke', '--json', file, '--html', htmlFile])
    expect(code, `bench failed:\n${stderr}`).toBe(0)
    expect(stdout).toContain('replicated_puts_1w')

    const result = JSON.parse(readFileSync(file, 'utf8')) as {
      metrics: Record<string, FigureJson>
      baselines: Record<string, FigureJson>
      ratios: Record<string, { value: number }>
      skipped: Record<string, string>
      machine: { nproc: number; cpu: string; node: string }
    }
    for (const name of [
      'put_local_ops',
      'replicated_puts_1w',
      'replicated_puts_batched',
      'replicated_puts_3w',
      'convergence_p50_ms',
      'convergence_p99_ms',
      'heap_bytes_per_key',
      'churn_put_ops',
      'put_object_distinct_ops',
      'light_peers_fanout_p99_ms',
      'rpc_calls_per_s',
      'rpc_p99_ms',
      'actor_activations_per_s',
      'pubsub_msgs_per_s',
      'rate_limit_take_per_s',
      'lease_acquire_p99_ms',
    ]) {
      const figure = result.metrics[name]
      expect(figure, `metric ${name}`).toBeDefined()
      expect(figure?.value).toBeGreaterThan(0)
      expect(typeof figure?.unit).toBe('string')
      expect(figure?.min).toBeLessThanOrEqual(figure?.value ?? 0)
      expect(figure?.max).toBeGreaterThanOrEqual(figure?.value ?? 0)
    }
    expect(Object.keys(result.metrics).some((n) => /^cold_join_\d+[km]_ms$/.test(n))).toBe(true)
    // Heap growth of a tiny churn can be about zero, or even negative: only its presence is checked.
    expect(typeof result.metrics.churn_heap_mb?.value, 'metric churn_heap_mb').toBe('number')
    for (const name of [
      'ws_loopback_msgs',
      'ws_rpc_calls_per_s',
      'naive_yjs_mesh_1w',
      'ywebsocket_server_fanout_p99_ms',
      'heap_bytes_per_key_ymap',
      'heap_bytes_per_key_yarray',
      'put_object_distinct_ops_ymap',
      'put_object_distinct_ops_yarray',
    ]) {
      expect(result.baselines[name]?.value, `baseline ${name}`).toBeGreaterThan(0)
    }
    for (const name of ['churn_heap_mb_ymap', 'churn_heap_mb_yarray']) {
      expect(typeof result.baselines[name]?.value, `baseline ${name}`).toBe('number')
    }
    expect(Object.keys(result.baselines).some((n) => /^cold_join_\d+[km]_ms_ymap$/.test(n))).toBe(true)
    expect(result.skipped.redis_set).toBeDefined()
    expect(result.ratios['replicated_puts_1w / naive_yjs_mesh_1w']?.value).toBeGreaterThan(0)
    expect(result.machine.nproc).toBeGreaterThan(0)
    expect(result.machine.node).toBe(process.version)

    // The HTML report: self-contained, well nested, one chart per measured metric.
    const html = readFileSync(htmlFile, 'utf8')
    expect(html.startsWith('<!doctype html>')).toBe(true)
    expect(unbalancedTags(html.replace(/<!doctype[^>]*>/i, ''))).toEqual([])
    expect(html).not.toMatch(/<script|<link|<img|\bsrc=|\bhref=|url\(|@import/i)
    const charts = [...html.matchAll(/<figure class="chart" id="([^"]+)">[\s\S]*?<svg[\s\S]*?<\/svg>/g)].map(
      (m) => m[1],
    )
    expect(charts.sort()).toEqual(Object.keys(result.metrics).sort())
    expect(html).toContain('<rect') // bars
    expect(html).toMatch(/class="target/) // at least one target line (e.g. convergence_p99_ms)
    expect(html).toContain('<table>')
  }, 100_000)
})
