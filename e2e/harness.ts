/**
 * Multi-process test harness: runs real `mesh serve` processes (cli/dist/bin.js) on
 * 127.0.0.1 with port 0, reads the URL from their ready line, and talks to them over REST.
 * Call `stopAll()` in `afterEach`/`afterAll` so no process outlives its test.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { isDeepStrictEqual } from 'node:util'
import { waitUntil } from '@mesh/core/testing'

/** The built CLI entry point; the tests need `npx tsc -b` first. */
export const CLI = fileURLToPath(new URL('../cli/dist/bin.js', import.meta.url))

const READY = /^mesh: (.+) listening on (http:\/\/\S+)$/m

/** How a process ended. */
export interface Exit {
  code: number | null
  signal: NodeJS.Signals | null
}

/** The answer of a REST call: status and parsed JSON body (the raw text when not JSON). */
export interface ApiResponse<T = unknown> {
  status: number
  body: T
  contentType: string | null
}

/** A running `mesh serve` process. */
export interface MeshProcess {
  name: string
  /** `http://127.0.0.1:PORT` from the ready line. */
  url: string
  /** `ws://127.0.0.1:PORT/mesh`, what other nodes join. */
  peerUrl: string
  port: number
  child: ChildProcess
  /** Everything the process wrote so far. */
  readonly stdout: string
  readonly stderr: string
  /** Resolves when the process exits. */
  exited: Promise<Exit>
  /** Calls `/mesh/api<path>`. */
  api<T = unknown>(path: string, init?: RequestInit): Promise<ApiResponse<T>>
  /** Sends a signal and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<Exit>
}

const running = new Set<ChildProcess>()

const exitOf = (child: ChildProcess): Promise<Exit> =>
  child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve({ code: child.exitCode, signal: child.signalCode })
    : new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))

const assertBuilt = (): void => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run "npx tsc -b" before the e2e tests`)
}

/** Fetches a URL and parses the JSON answer. */
export const request = async <T = unknown>(url: string, init?: RequestInit): Promise<ApiResponse<T>> => {
  const res = await fetch(url, init)
  const text = await res.text()
  const contentType = res.headers.get('content-type')
  let body: unknown = text
  if (contentType?.includes('application/json')) body = JSON.parse(text)
  return { status: res.status, body: body as T, contentType }
}

/** Options of {@link startNode}. */
export interface StartOptions {
  name: string
  /** Pass only `serve` and `args`: no --port, --host, --name or --join (to test the environment). */
  bare?: boolean
  /** Peer URLs passed as `--join`. */
  join?: readonly string[]
  /** More CLI flags. */
  args?: readonly string[]
  env?: NodeJS.ProcessEnv
  /** How long to wait for the ready line. Default 10 s. */
  timeoutMs?: number
  /**
   * Runs this script (an example app) with `args` instead of `mesh serve`; it is configured by
   * `env` and must print the same ready line.
   */
  script?: string
}

/** Starts `mesh serve --port 0 --host 127.0.0.1` and resolves once it printed its ready line. */
export const startNode = async (options: StartOptions): Promise<MeshProcess> => {
  if (!options.script) assertBuilt()
  const args = options.script ? [options.script] : [CLI, 'serve']
  if (!options.bare && !options.script)
    args.push('--port', '0', '--host', '127.0.0.1', '--name', options.name, '--log-level', 'debug')
  for (const url of options.bare || options.script ? [] : (options.join ?? [])) args.push('--join', url)
  args.push(...(options.args ?? []))
  const child = spawn(process.execPath, args, {
    env: { ...process.env, PORT: '', MESH_JOIN: '', MESH_NAME: '', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  running.add(child)
  const exited = exitOf(child)
  void exited.then(() => running.delete(child))
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk))
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))

  const timeoutMs = options.timeoutMs ?? 10_000
  const url = await new Promise<string>((resolve, reject) => {
    const onData = () => {
      const match = READY.exec(stdout)
      if (match?.[2]) finish(() => resolve(match[2] as string))
    }
    const timer = setTimeout(
      () => finish(() => reject(new Error(`${options.name}: no ready line within ${timeoutMs} ms\n${stderr}`))),
      timeoutMs,
    )
    const onExit = ({ code, signal }: Exit) =>
      finish(() => reject(new Error(`${options.name} exited (${String(code ?? signal)}) before serving:\n${stderr}`)))
    const finish = (settle: () => void) => {
      clearTimeout(timer)
      child.stdout.off('data', onData)
      settle()
    }
    child.stdout.on('data', onData)
    void exited.then(onExit)
  })
  const port = Number(new URL(url).port)
  return {
    name: options.name,
    url,
    peerUrl: `ws://127.0.0.1:${port}/mesh`,
    port,
    child,
    get stdout() {
      return stdout
    },
    get stderr() {
      return stderr
    },
    exited,
    api: (path, init) => request(`${url}/mesh/api${path}`, init),
    stop: (signal = 'SIGTERM') => {
      child.kill(signal)
      return exited
    },
  }
}

/** Runs the CLI to completion (for `--help`, bad flags…) and returns its exit and output. */
export const runCli = async (
  args: readonly string[],
  options: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<Exit & { stdout: string; stderr: string }> => {
  assertBuilt()
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { ...process.env, PORT: '', MESH_JOIN: '', MESH_NAME: '', MESH_SECRET: '', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  running.add(child)
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk))
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
  const timeoutMs = options.timeoutMs ?? 10_000
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
  const exit = await exitOf(child)
  clearTimeout(timer)
  running.delete(child)
  if (exit.signal === 'SIGKILL') throw new Error(`mesh ${args.join(' ')} did not exit within ${timeoutMs} ms`)
  return { ...exit, stdout, stderr }
}

/** Kills every process the harness started that is still running. */
export const stopAll = async (): Promise<void> => {
  const children = [...running]
  for (const child of children) child.kill('SIGKILL')
  await Promise.all(children.map(exitOf))
}

/**
 * How long e2e tests wait for a condition by default (`waitUntil`'s own default is 5 s):
 * real processes on a busy machine are slower than nodes in one process.
 */
export const E2E_WAIT_MS = 10_000

/** Waits until `GET /kv/:key` on `node` answers `expected` (or 404 when `expected` is undefined). */
export const waitForValue = async (node: MeshProcess, key: string, expected: unknown, timeout?: number) => {
  await waitUntil(
    `${node.name} never saw ${key} = ${expected === undefined ? '(absent)' : JSON.stringify(expected)}`,
    async () => {
      const res = await node.api(`/kv/${encodeURIComponent(key)}`)
      const matches =
        expected === undefined ? res.status === 404 : res.status === 200 && isDeepStrictEqual(res.body, expected)
      if (!matches) throw new Error(`${res.status} ${JSON.stringify(res.body)}`)
      return true
    },
    { timeoutMs: timeout ?? E2E_WAIT_MS },
  )
}

/** `PUT /kv/:key` with a JSON body; fails the test unless it answers 200. */
export const put = async (node: MeshProcess, key: string, value: unknown): Promise<void> => {
  const res = await node.api(`/kv/${encodeURIComponent(key)}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(value),
  })
  if (res.status !== 200) throw new Error(`PUT ${key} on ${node.name}: ${res.status} ${JSON.stringify(res.body)}`)
}
