/**
 * A process's live memory: its V8 heap and external memory after a full garbage collection,
 * read from a process started with {@link LIVE_MEMORY_OPTIONS} (e2e/live-heap-probe.cjs).
 */
import type { ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const PROBE = fileURLToPath(new URL('./live-heap-probe.cjs', import.meta.url))

/** NODE_OPTIONS for a process whose live memory tests read. */
export const LIVE_MEMORY_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --require ${JSON.stringify(PROBE)}`

/**
 * Collects the process's garbage and resolves with the heap and external memory that survived;
 * undefined when the process does not answer within `timeoutMs` (or has no probe).
 */
export const liveMemory = (child: ChildProcess, timeoutMs = 5000): Promise<number | undefined> =>
  new Promise((resolve) => {
    const stdout = child.stdout
    if (!stdout || child.exitCode !== null || child.signalCode !== null) return resolve(undefined)
    let text = ''
    const done = (value: number | undefined): void => {
      clearTimeout(timer)
      stdout.off('data', onData)
      resolve(value)
    }
    const onData = (chunk: Buffer | string): void => {
      text += chunk.toString()
      const match = /mesh-test: live (\{.*\})\n/.exec(text)
      if (!match?.[1]) return
      const figures = JSON.parse(match[1]) as { heapUsed: number; external: number }
      done(figures.heapUsed + figures.external)
    }
    const timer = setTimeout(() => done(undefined), timeoutMs)
    stdout.on('data', onData)
    child.kill('SIGUSR2')
  })
