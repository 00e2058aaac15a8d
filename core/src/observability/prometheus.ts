/** One metric for {@link renderPrometheus}. */
export interface Metric {
  name: string
  help: string
  type: 'counter' | 'gauge' | 'histogram'
  /** A histogram's values name their series with `suffix`: `_bucket` (with an `le` label), `_sum`, `_count`. */
  values: Array<{ labels?: Record<string, string>; value: number; suffix?: string }>
}

const escapeLabel = (value: string): string => value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')

/** Renders metrics in the Prometheus text exposition format (version 0.0.4). */
export const renderPrometheus = (metrics: readonly Metric[]): string => {
  const lines: string[] = []
  for (const m of metrics) {
    lines.push(`# HELP ${m.name} ${m.help}`, `# TYPE ${m.name} ${m.type}`)
    for (const v of m.values) {
      const labels = v.labels
        ? `{${Object.entries(v.labels)
            .map(([k, val]) => `${k}="${escapeLabel(val)}"`)
            .join(',')}}`
        : ''
      lines.push(`${m.name}${v.suffix ?? ''}${labels} ${Number.isFinite(v.value) ? v.value : 0}`)
    }
  }
  return `${lines.join('\n')}\n`
}
