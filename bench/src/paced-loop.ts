/**
 * A request loop at a fixed rate, shared by the routed calls' `rpc_p99_ms` and its plain `ws`
 * baseline `ws_rpc_p99_ms`, so both tails are measured the same way.
 */
import { now } from './clock.js'
import { quantile } from './stats.js'

/**
 * Calls offered at a fixed `rate` (calls/s), at most `inflight` at a time, until `count` ended;
 * the latency of each from when it was due, not from when it went out, so a stall of the caller
 * counts against it (`sendLateP99`: how late calls went out, the pacer's share). What is due goes
 * out whenever a call ends and on a 1 ms timer: the pacer does not spin. One that awaited
 * `setImmediate` turn after turn allocated 80-100 MB/s by itself (a promise and an `Immediate` a
 * turn), half of the caller's scavenges at half rate, and kept one of the machine's cores busy.
 * `call(i)` must resolve with `i` (the echo actor answers its payload): one handler serves every
 * call, and times go into arrays sized up front, so the pacer adds no garbage of its own per call
 * beyond the `then` (two closures and a growing array per call were a tenth of the caller's).
 */
export const pacedLoop = (
  count: number,
  rate: number,
  inflight: number,
  call: (i: number) => Promise<number>,
): Promise<{ latencies: number[]; sendLateP99: number; startAt: number; endAt: number }> =>
  new Promise((resolve, reject) => {
    const latencies = new Float64Array(count).fill(-1)
    // How late each call went out: the pacer's own share of its latency.
    const late = new Float64Array(count)
    const startAt = now()
    const dueAt = (i: number) => startAt + (i * 1000) / rate
    let issued = 0
    let running = 0
    let ended = 0
    let failed = false
    const fail = (error: unknown): void => {
      if (failed) return
      failed = true
      clearInterval(timer)
      reject(error instanceof Error ? error : new Error(String(error)))
    }
    const answered = (i: number): void => {
      if (failed) return
      if (!Number.isInteger(i) || i < 0 || i >= issued || latencies[i] !== -1) return fail(new Error(`answer ${i}`))
      latencies[i] = now() - dueAt(i)
      running--
      if (++ended < count) return issue()
      clearInterval(timer)
      resolve({
        latencies: Array.from(latencies),
        sendLateP99: quantile(Array.from(late), 0.99),
        startAt,
        endAt: now(),
      })
    }
    const issue = (): void => {
      const due = Math.min(count, Math.floor(((now() - startAt) * rate) / 1000) + 1)
      while (issued < due && running < inflight) {
        late[issued] = now() - dueAt(issued)
        running++
        call(issued++).then(answered, fail)
      }
    }
    const timer = setInterval(issue, 1)
    issue()
  })
