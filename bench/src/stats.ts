/** Median, min and max of one figure over several runs. */
export interface Summary {
  value: number
  min: number
  max: number
  runs: number[]
}

/** The value at quantile `q` (0..1) of `values`, by nearest rank. */
export const quantile = (values: readonly number[], q: number): number => {
  if (values.length === 0) throw new Error('quantile of nothing')
  const sorted = [...values].sort((a, b) => a - b)
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))
  return sorted[rank] as number
}

/** Median (lower middle for an even count, so it is always a measured value), min and max. */
export const summarize = (runs: readonly number[]): Summary => {
  if (runs.length === 0) throw new Error('no runs to summarize')
  const sorted = [...runs].sort((a, b) => a - b)
  return {
    value: sorted[Math.floor((sorted.length - 1) / 2)] as number,
    min: sorted[0] as number,
    max: sorted[sorted.length - 1] as number,
    runs: [...runs],
  }
}
