/**
 * A real `redis-server` (the Debian package) for one test file: on a free port of 127.0.0.1,
 * without persistence, stopped and restarted on the same port on demand. A missing
 * redis-server fails the test with what to install; it is never skipped.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { createServer } from 'node:net'
import { Redis } from 'ioredis'

/** A redis-server this test started. */
export interface RedisServer {
  /** `redis://127.0.0.1:PORT`. */
  readonly url: string
  readonly port: number
  /** True while the process runs. */
  readonly running: boolean
  /** A fresh client for the test's own checks (closed by `stop`). */
  client(): Redis
  /** Stops the process (SIGTERM, or SIGKILL with `{ kill: true }`): every key is gone with it. */
  stop(options?: { kill?: boolean }): Promise<void>
  /** Starts it again on the same port, empty. */
  start(): Promise<void>
}

const binary = (): string => {
  const found = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' }).stdout.trim()
  if (found === '') {
    throw new Error(
      'redis-server is not installed: the @mesh/redis tests start a real one. Install the Debian package ' +
        '(as root: apt-get update && apt-get install -y redis-server); .ci/run does it on CI.',
    )
  }
  return found
}

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => {
        if (address && typeof address === 'object') resolve(address.port)
        else reject(new Error('no port'))
      })
    })
  })

/** Spawns redis-server on `port` and resolves once it accepts connections. */
const launch = (path: string, port: number): Promise<ChildProcess> =>
  new Promise((resolve, reject) => {
    const child = spawn(
      path,
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--loglevel', 'notice'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    )
    let output = ''
    const onData = (chunk: Buffer): void => {
      output += chunk.toString()
      if (output.includes('Ready to accept connections')) {
        child.stdout.off('data', onData)
        child.stdout.resume()
        child.off('exit', onExit)
        resolve(child)
      }
    }
    const onExit = (code: number | null): void =>
      reject(new Error(`redis-server exited (${String(code)}) before it was ready:\n${output.slice(-2000)}`))
    child.stdout.on('data', onData)
    child.stderr.resume()
    child.once('exit', onExit)
    child.once('error', reject)
  })

const exited = (child: ChildProcess): Promise<void> =>
  child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise((resolve) => child.once('exit', () => resolve()))

/** Starts a redis-server on a free port; call `stop()` when done (an `afterAll`). */
export const startRedis = async (): Promise<RedisServer> => {
  const path = binary()
  let child: ChildProcess | undefined
  let port = 0
  for (let attempt = 0; child === undefined; attempt++) {
    port = await freePort()
    try {
      child = await launch(path, port)
    } catch (error) {
      // Someone took the port between the probe and the launch: take another.
      if (attempt >= 4) throw error
    }
  }
  const clients = new Set<Redis>()
  const url = `redis://127.0.0.1:${port}`
  let current: ChildProcess | undefined = child
  return {
    url,
    port,
    get running() {
      return current !== undefined && current.exitCode === null && current.signalCode === null
    },
    client() {
      const client = new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 1 })
      client.on('error', () => undefined)
      clients.add(client)
      return client
    },
    async stop(options = {}) {
      for (const client of clients) client.disconnect()
      clients.clear()
      const process = current
      current = undefined
      if (!process) return
      process.kill(options.kill ? 'SIGKILL' : 'SIGTERM')
      await exited(process)
    },
    async start() {
      if (current) throw new Error('redis-server is already running')
      current = await launch(path, port)
    },
  }
}
