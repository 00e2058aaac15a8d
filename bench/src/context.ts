import type { Figure } from './report.js'
import type { BenchOptions } from './options.js'
import { formatNumber } from './report.js'
import { summarize } from './stats.js'

/** What every metric and baseline gets: the options, and where its figures go. */
export class Context {
  readonly options: BenchOptions
  readonly metrics: Record<string, Figure> = {}
  readonly baselines: Record<string, Figure> = {}
  readonly skipped: Record<string, string> = {}
  /** Figures whose measurement threw. */
  readonly failed: string[] = []

  constructor(options: BenchOptions) {
    this.options = options
  }

  /**
   * True when the figure should be measured (`--only`). A layout baseline (`<metric>_ymap`,
   * `<metric>_yarray`) comes with its metric.
   */
  wants(...names: string[]): boolean {
    const only = this.options.only
    return only === undefined || names.some((n) => only.has(n) || only.has(n.replace(/_y(map|array)$/, '')))
  }

  /** Progress on stderr, so stdout holds only the report. */
  log(message: string): void {
    process.stderr.write(`bench: ${message}\n`)
  }

  /** Records a figure from its runs (median, min, max). */
  record(
    section: 'metrics' | 'baselines',
    name: string,
    unit: string,
    runs: number[],
    note?: string,
    detail?: Record<string, number>,
  ): void {
    const figure: Figure = { ...summarize(runs), unit, ...(note ? { note } : {}), ...(detail ? { detail } : {}) }
    this[section][name] = figure
    const extra = detail ? Object.entries(detail).map(([k, v]) => `, ${k} ${formatNumber(v)}`) : []
    this.log(
      `${name} = ${formatNumber(figure.value)} ${unit} (min ${formatNumber(figure.min)}, max ${formatNumber(figure.max)}${extra.join('')})`,
    )
  }

  /** Marks a figure as not measured, with the reason. */
  skip(name: string, reason: string): void {
    this.skipped[name] = reason
    this.log(`${name} skipped: ${reason}`)
  }

  /**
   * Runs `body`; if it throws, the named figures are marked failed (the bench goes on with
   * the others and exits non-zero at the end).
   */
  async guard(names: string[], body: () => Promise<void>): Promise<void> {
    const wanted = names.filter((n) => this.wants(n))
    if (wanted.length === 0) return
    const started = performance.now()
    try {
      await body()
      this.log(`  (${wanted.join(', ')}: ${((performance.now() - started) / 1000).toFixed(1)} s)`)
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error)
      for (const n of wanted) {
        if (this.metrics[n] || this.baselines[n] || this.skipped[n]) continue
        this.failed.push(n)
        this.skip(n, `failed: ${message.split('\n')[0] ?? ''}`)
      }
    }
  }

  /** Runs `run` once per configured run (or `runs` times), logging each value, and returns them. */
  async repeat(
    name: string,
    unit: string,
    run: (index: number) => Promise<number>,
    runs = this.options.sizes.runs,
  ): Promise<number[]> {
    const values: number[] = []
    for (let i = 0; i < runs; i++) {
      const value = await run(i)
      values.push(value)
      this.log(`  ${name} run ${i + 1}/${runs}: ${formatNumber(value)} ${unit}`)
    }
    return values
  }
}
