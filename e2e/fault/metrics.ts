/**
 * Reads a node's `GET /mesh/api/metrics` (Prometheus text format). Tolerates its absence:
 * a node without the endpoint yields `undefined`.
 */
import type { MeshProcess } from '../harness.js'

/** One sample: metric name, labels, value. */
export interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}

/** Parses the Prometheus text exposition format (comments skipped). */
export const parsePrometheus = (text: string): Sample[] => {
  const samples: Sample[] = []
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const match = /^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line)
    if (!match?.[1] || match[3] === undefined) continue
    const labels: Record<string, string> = {}
    for (const pair of (match[2] ?? '').matchAll(/([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      if (pair[1] !== undefined) labels[pair[1]] = (pair[2] ?? '').replace(/\\(.)/g, '$1')
    }
    samples.push({ name: match[1], labels, value: Number(match[3]) })
  }
  return samples
}

/** Fetches and parses a node's metrics; `undefined` when the endpoint is missing or fails. */
export const readMetrics = async (node: Pick<MeshProcess, 'url'>, timeoutMs = 5000): Promise<Sample[] | undefined> => {
  try {
    const res = await fetch(`${node.url}/mesh/api/metrics`, { signal: AbortSignal.timeout(timeoutMs) })
    if (res.status !== 200) return undefined
    return parsePrometheus(await res.text())
  } catch {
    return undefined
  }
}

/** The value of an unlabelled metric, or the sum over its labelled samples. */
export const metric = (samples: readonly Sample[] | undefined, name: string): number | undefined => {
  const found = samples?.filter((s) => s.name === name) ?? []
  return found.length === 0 ? undefined : found.reduce((sum, s) => sum + s.value, 0)
}
