/**
 * Time that can be compared across processes on one machine: milliseconds since the epoch,
 * with sub-millisecond resolution (`performance.timeOrigin + performance.now()`).
 */
export const now = (): number => performance.timeOrigin + performance.now()

/** Resolves on the next turn of the event loop, after pending I/O callbacks ran. */
export const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

/**
 * Estimates how far another process's {@link now} is ahead of this one's, NTP-style: the
 * sample with the shortest round trip wins, so the error is at most half of that round trip.
 */
export const clockOffset = async (remoteNow: () => Promise<number>, samples = 15): Promise<number> => {
  let best = { rtt: Number.POSITIVE_INFINITY, offset: 0 }
  for (let i = 0; i < samples; i++) {
    const sent = now()
    const remote = await remoteNow()
    const received = now()
    const rtt = received - sent
    if (rtt < best.rtt) best = { rtt, offset: remote - (sent + received) / 2 }
  }
  return best.offset
}

/** CPU time this process used so far (user + system), in microseconds. */
export const cpuMicros = (): number => {
  const { user, system } = process.cpuUsage()
  return user + system
}
