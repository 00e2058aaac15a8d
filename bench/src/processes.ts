import { spawn, type ChildProcess } from 'node:child_process'
import { createServer } from 'node:net'
import { join } from 'node:path'

const LISTENING = /^mesh: (.+) listening on (http:\/\/\S+)\s*$/m

const children = new Set<ChildProcess>()
let cleanupInstalled = false
let profileSeq = 0

/** Kills every child still running, at once (SIGKILL): used on exit and on Ctrl-C. */
export const killAll = (): void => {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  }
  children.clear()
}

/**
 * Makes sure no child outlives the bench: on normal exit, on an uncaught error and on
 * SIGINT/SIGTERM every child is killed before this process goes.
 */
export const installCleanup = (): void => {
  if (cleanupInstalled) return
  cleanupInstalled = true
  process.on('exit', killAll)
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      process.stderr.write(`\nbench: ${signal}, stopping ${children.size} child process(es)\n`)
      killAll()
      process.exit(signal === 'SIGINT' ? 130 : 143)
    })
  }
}

/** Options of {@link spawnChild}. */
export interface SpawnOptions {
  /** Script run with this Node binary (bench workers, `mesh serve`). */
  script?: string
  /** Or any other program, e.g. `redis-server`. */
  command?: string
  args?: string[]
  /** Shown in errors and used to name CPU profiles. */
  label: string
  /** Open an IPC channel (bench workers); CLI nodes have none. */
  ipc?: boolean
  /** Extra Node flags. */
  execArgv?: string[]
  env?: NodeJS.ProcessEnv
}

/** A child process started by the bench, with the tail of its stderr for error messages. */
export interface Child {
  readonly process: ChildProcess
  readonly label: string
  /** Last lines the child wrote to stderr. */
  stderrTail(): string
  /** Resolves when the child has exited. */
  readonly exited: Promise<void>
}

/**
 * Node flags every bench child gets: room for 1M-key replicas, `gc()` for heap figures, and
 * a CPU profile per child when `MESH_BENCH_CPU_PROF=<dir>` is set.
 */
const childFlags = (label: string): string[] => {
  const flags = ['--expose-gc', '--max-old-space-size=4096']
  const dir = process.env.MESH_BENCH_CPU_PROF
  if (dir) flags.push('--cpu-prof', `--cpu-prof-dir=${dir}`, `--cpu-prof-name=${label}.${++profileSeq}.cpuprofile`)
  return flags
}

/** Starts a child process; it is killed when the bench exits, whatever happens. */
export const spawnChild = (options: SpawnOptions): Child => {
  installCleanup()
  const [command, args] = options.script
    ? [
        process.execPath,
        [...childFlags(options.label), ...(options.execArgv ?? []), options.script, ...(options.args ?? [])],
      ]
    : [options.command ?? 'false', options.args ?? []]
  const child = spawn(command, args, {
    stdio: options.ipc ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'],
    env: options.env ?? process.env,
  })
  children.add(child)
  const tail: string[] = []
  child.stderr?.setEncoding('utf8')
  child.stderr?.on('data', (chunk: string) => {
    if (process.env.MESH_BENCH_VERBOSE) process.stderr.write(`[${options.label}] ${chunk}`)
    tail.push(...chunk.split('\n').filter((l) => l.length > 0))
    if (tail.length > 20) tail.splice(0, tail.length - 20)
  })
  const exited = new Promise<void>((resolve) => {
    const gone = () => {
      children.delete(child)
      resolve()
    }
    child.once('exit', gone)
    // A program that cannot start emits `error` and maybe never `exit`.
    child.once('error', (error) => {
      tail.push(error.message)
      gone()
    })
  })
  return { process: child, label: options.label, stderrTail: () => tail.join('\n'), exited }
}

/**
 * Waits for the `mesh: NAME listening on http://HOST:PORT` line (DESIGN.md §4), which both
 * `mesh serve` and the bench worker print once they serve; resolves with the HTTP URL.
 */
export const waitListening = (child: Child, timeoutMs = 20_000): Promise<string> =>
  new Promise((resolve, reject) => {
    let out = ''
    const stdout = child.process.stdout
    if (!stdout) return reject(new Error(`${child.label} has no stdout`))
    stdout.setEncoding('utf8')
    let settled = false
    const finish = (error?: Error, url?: string) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      stdout.off('data', onData)
      // Keep draining stdout so a chatty child never blocks on a full pipe.
      stdout.resume()
      if (error) reject(error)
      else resolve(url as string)
    }
    const onData = (chunk: string) => {
      out += chunk
      const match = LISTENING.exec(out)
      if (match?.[2]) finish(undefined, match[2])
    }
    const onExit = () => finish(new Error(`${child.label} exited before listening:\n${child.stderrTail()}`))
    child.exited.then(onExit, onExit)
    const timer = setTimeout(
      () => finish(new Error(`${child.label} printed no "listening on" line within ${timeoutMs} ms`)),
      timeoutMs,
    )
    stdout.on('data', onData)
  })

/** Stops a child: SIGTERM (or the given request), then SIGKILL if it has not exited in time. */
export const stopChild = async (
  child: Child,
  options: { graceMs?: number; request?: () => void } = {},
): Promise<void> => {
  const proc = child.process
  if (proc.exitCode !== null || proc.signalCode !== null) return
  try {
    if (options.request) options.request()
    else proc.kill('SIGTERM')
  } catch {
    proc.kill('SIGTERM')
  }
  const timer = setTimeout(() => proc.kill('SIGKILL'), options.graceMs ?? 5_000)
  await child.exited
  clearTimeout(timer)
}

/** A free TCP port on 127.0.0.1 (for tools like redis-server that cannot take port 0). */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address ? address.port : 0
      server.close(() => resolve(port))
    })
  })

/** Absolute path of a compiled bench script next to this file. */
export const benchScript = (name: string): string => join(import.meta.dirname, name)
