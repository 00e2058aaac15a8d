/**
 * `--html FILE`: the bench's result as one self-contained HTML page, readable offline: inline
 * CSS and SVG, no scripts, no fonts or images to fetch. One bar chart per metric, with the
 * baselines measured beside it in the same run and the issue's target drawn as a line, then
 * the tables of the text report.
 */
import {
  comparisonsOf,
  formatNumber,
  reportedMetrics,
  reportHeading,
  reportTables,
  type BenchResult,
  type Figure,
  type ReportOrder,
  type TargetResult,
} from './report.js'

const escape = (text: string): string =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c)

/** A target line on a chart: where it is in the chart's unit, and its label. */
interface Marker {
  at: number
  label: string
  met: boolean | null
}

/**
 * The targets that concern `metric`, in its unit: a bound on the metric itself, or on a ratio
 * `metric / other` (drawn at bound × the other's median, when it was measured).
 */
const markersOf = (result: BenchResult, metric: string): Marker[] =>
  result.targets.flatMap((t: TargetResult): Marker[] => {
    const [numerator, denominator] = t.name.split(' / ')
    if (numerator !== metric) return []
    const sign = t.op === '>=' ? '≥' : '≤'
    if (denominator === undefined)
      return [{ at: t.bound, label: `target ${sign} ${formatNumber(t.bound)}`, met: t.met }]
    const other = result.baselines[denominator] ?? result.metrics[denominator]
    if (!other) return []
    return [
      {
        at: t.bound * other.value,
        label: `target ${sign} ${formatNumber(t.bound)} × ${denominator}`,
        met: t.met,
      },
    ]
  })

const WIDTH = 760
const LABEL = 270
const VALUE = 110
const ROW = 26

/** A horizontal bar chart: the metric's median (with its min–max), its baselines below it, and target lines. */
const chart = (result: BenchResult, metric: string, figure: Figure): string => {
  const bars = [
    { name: metric, figure, mesh: true },
    ...comparisonsOf(result, metric).map((name) => ({
      name,
      figure: (result.baselines[name] ?? result.metrics[name]) as Figure,
      mesh: false,
    })),
  ]
  const markers = markersOf(result, metric)
  const values = [0, ...bars.flatMap((b) => [b.figure.min, b.figure.max, b.figure.value]), ...markers.map((m) => m.at)]
  const lo = Math.min(...values)
  const hi = Math.max(...values)
  const span = hi - lo || 1
  // Room above the bars for one label per target line.
  const top = 6 + markers.length * 14
  const plot = WIDTH - LABEL - VALUE
  const x = (v: number) => LABEL + ((v - lo) / span) * plot
  const height = top + bars.length * ROW + 8
  const parts: string[] = []
  bars.forEach((bar, i) => {
    const y = top + i * ROW
    const { value, min, max } = bar.figure
    const left = Math.min(x(0), x(value))
    parts.push(
      `<text x="${LABEL - 8}" y="${y + 15}" text-anchor="end" class="label">${escape(bar.name)}</text>`,
      `<rect x="${left.toFixed(1)}" y="${y + 4}" width="${Math.max(1, Math.abs(x(value) - x(0))).toFixed(1)}" height="${ROW - 10}" class="${bar.mesh ? 'mesh' : 'base'}"><title>${escape(`${bar.name}: ${formatNumber(value)} ${bar.figure.unit} (min ${formatNumber(min)}, max ${formatNumber(max)}, ${bar.figure.runs.length} runs)`)}</title></rect>`,
      `<line x1="${x(min).toFixed(1)}" x2="${x(max).toFixed(1)}" y1="${y + 11}" y2="${y + 11}" class="range"/>`,
      `<text x="${(WIDTH - VALUE + 6).toFixed(1)}" y="${y + 15}" class="value">${escape(`${formatNumber(value)} ${bar.figure.unit}`)}</text>`,
    )
  })
  markers.forEach((m, i) => {
    const px = x(m.at)
    const at = px.toFixed(1)
    const anchor = px < LABEL + 90 ? 'start' : px > WIDTH - VALUE - 90 ? 'end' : 'middle'
    const cls = m.met === null ? 'target' : m.met ? 'target met' : 'target missed'
    parts.push(
      `<line x1="${at}" x2="${at}" y1="${top - 4}" y2="${height - 4}" class="${cls}"/>`,
      `<text x="${at}" y="${12 + i * 14}" text-anchor="${anchor}" class="${cls}">${escape(m.label)}</text>`,
    )
  })
  const status = markers.some((m) => m.met === false) ? 'missed' : markers.some((m) => m.met) ? 'met' : ''
  const caption = [
    figure.note,
    figure.detail &&
      Object.entries(figure.detail)
        .map(([k, v]) => `${k} ${formatNumber(v)}`)
        .join(', '),
  ]
    .filter(Boolean)
    .join(' — ')
  return [
    `<figure class="chart" id="${escape(metric)}">`,
    `<figcaption><b>${escape(metric)}</b> <span class="unit">${escape(figure.unit)}</span>${status ? ` <span class="${status}">target ${status}</span>` : ''}${caption ? `<br><small>${escape(caption)}</small>` : ''}</figcaption>`,
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${WIDTH} ${height}" width="${WIDTH}" height="${height}" role="img" aria-label="${escape(metric)}">`,
    ...parts,
    '</svg>',
    '</figure>',
  ].join('\n')
}

const htmlTable = (header: string[], rows: string[][]): string =>
  [
    '<table>',
    `<thead><tr>${header.map((h) => `<th>${escape(h)}</th>`).join('')}</tr></thead>`,
    '<tbody>',
    ...rows.map(
      (row) =>
        `<tr>${row.map((cell, i) => `<td class="${/NOT MET/.test(cell) ? 'missed' : i === 0 ? '' : 'num'}">${escape(cell)}</td>`).join('')}</tr>`,
    ),
    '</tbody>',
    '</table>',
  ].join('\n')

const STYLE = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em auto; max-width: 800px; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 2em; }
.heading { white-space: pre-wrap; font: 12px/1.5 ui-monospace, monospace; background: #f6f6f6; padding: .6em; }
figure.chart { margin: 1.4em 0; } figcaption { margin-bottom: .3em; } .unit { color: #666; }
svg text { font: 12px system-ui, sans-serif; fill: #222; } svg text.value { fill: #444; }
rect.mesh { fill: #3b6fb6; } rect.base { fill: #aab3bf; }
line.range { stroke: #111; stroke-width: 1.5; }
line.target { stroke: #888; stroke-width: 2; stroke-dasharray: 5 3; } text.target { font-size: 11px; fill: #555; }
line.met { stroke: #2a8a3a; } text.met { fill: #2a8a3a; } line.missed { stroke: #c0392b; } text.missed { fill: #c0392b; }
span.met { color: #2a8a3a; } span.missed, td.missed { color: #c0392b; font-weight: bold; }
table { border-collapse: collapse; margin: 1em 0; font-size: 12px; }
th, td { padding: 2px 8px; border-bottom: 1px solid #ddd; text-align: left; } td.num { text-align: right; }
`

/** The whole page: heading, one chart per measured metric, then the text report's tables. */
export const renderHtml = (result: BenchResult, order: ReportOrder): string => {
  const charts = reportedMetrics(result, order).flatMap((name) => {
    const figure = result.metrics[name]
    return figure ? [chart(result, name, figure)] : []
  })
  return [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    `<title>Mesh bench, ${escape(result.config.mode)}, ${escape(result.config.startedAt)}</title>`,
    `<style>${STYLE}</style>`,
    '</head>',
    '<body>',
    '<h1>Mesh bench</h1>',
    `<div class="heading">${escape(reportHeading(result).join('\n'))}</div>`,
    '<p>Blue: Mesh (median of the runs; the black line spans min to max). Grey: baselines measured in the same run. ' +
      'Dashed line: the target an issue names (green met, red not met).</p>',
    '<h2>Figures</h2>',
    ...charts,
    '<h2>Tables</h2>',
    ...reportTables(result, order).map((t) => htmlTable(t.header, t.rows)),
    '</body>',
    '</html>',
    '',
  ].join('\n')
}
