/**
 * What stalls a worker's event loop while the bench watches (issue 19, the convergence tail):
 * garbage collections (`perf_hooks` GC entries) and the event-loop delay
 * (`monitorEventLoopDelay`), from `start` to `stop`.
 */
import { monitorEventLoopDelay, PerformanceObserver, type IntervalHistogram } from 'node:perf_hooks'

/** GC and event-loop figures of one watched phase of one worker. */
export interface PauseStats {
  /** Garbage collections, and how many of them took over 2 ms. */
  gcCount: number
  gcOver2ms: number
  /** Time spent in them, in total and the longest, ms. */
  gcTotalMs: number
  gcMaxMs: number
  /** Event-loop delay percentiles and maximum, ms (10 ms resolution of the monitor's timer aside). */
  loopDelayP99Ms: number
  loopDelayMaxMs: number
}

let gcs: number[] = []
let observer: PerformanceObserver | undefined
let delay: IntervalHistogram | undefined

/** Starts watching (again, from nothing). */
export const startWatch = (): void => {
  stopWatch()
  gcs = []
  observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) gcs.push(entry.duration)
  })
  observer.observe({ entryTypes: ['gc'] })
  delay = monitorEventLoopDelay({ resolution: 1 })
  delay.enable()
}

/** Stops watching and returns what it saw. */
export const stopWatch = (): PauseStats => {
  observer?.disconnect()
  observer = undefined
  delay?.disable()
  const ms = (ns: number): number => ns / 1e6
  const stats: PauseStats = {
    gcCount: gcs.length,
    gcOver2ms: gcs.filter((d) => d > 2).length,
    gcTotalMs: gcs.reduce((a, b) => a + b, 0),
    gcMaxMs: Math.max(0, ...gcs),
    loopDelayP99Ms: delay ? ms(delay.percentile(99)) : 0,
    loopDelayMaxMs: delay ? ms(delay.max) : 0,
  }
  delay = undefined
  return stats
}
