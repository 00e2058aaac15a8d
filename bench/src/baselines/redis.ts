import { accessSync, constants } from 'node:fs'
import { delimiter, join } from 'node:path'
import type { Context } from '../context.js'
import { freePort, spawnChild, stopChild, type Child } from '../processes.js'

/** Finds a program on PATH, like `command -v`. */
export const which = (program: string): string | undefined => {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue
    const candidate = join(dir, program)
    try {
      accessSync(candidate, constants.X_OK)
      return candidate
    } catch {
      // not here
    }
  }
  return undefined
}

/** Starts a throwaway redis-server on a free loopback port: no persistence, no config file. */
export const startRedis = async (server: string): Promise<{ child: Child; port: number }> => {
  let lastError: Error | undefined
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort()
    const child = spawnChild({
      command: server,
      args: ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no'],
      label: 'redis-server',
    })
    try {
      await new Promise<void>((resolve, reject) => {
        let out = ''
        const timer = setTimeout(() => reject(new Error('redis-server did not start within 10 s')), 10_000)
        child.process.stdout?.setEncoding('utf8')
        child.process.stdout?.on('data', (chunk: string) => {
          out += chunk
          if (out.includes('Ready to accept connections')) {
            clearTimeout(timer)
            child.process.stdout?.resume()
            resolve()
          }
        })
        void child.exited.then(() => {
          clearTimeout(timer)
          reject(new Error(`redis-server exited: ${(out + child.stderrTail()).split('\n').slice(-3).join(' ')}`))
        })
      })
      return { child, port }
    } catch (error) {
      lastError = error as Error
      await stopChild(child)
    }
  }
  throw lastError ?? new Error('redis-server did not start')
}

const runBenchmark = async (tool: string, port: number, requests: number): Promise<number> => {
  // Started like every other child, so Ctrl-C kills it too.
  const child = spawnChild({
    command: tool,
    args: ['-h', '127.0.0.1', '-p', String(port), '-t', 'set', '-n', String(requests), '-q'],
    label: 'redis-benchmark',
  })
  let stdout = ''
  child.process.stdout?.setEncoding('utf8')
  child.process.stdout?.on('data', (chunk: string) => (stdout += chunk))
  const timer = setTimeout(() => child.process.kill('SIGKILL'), 120_000)
  await child.exited
  clearTimeout(timer)
  // `exit` can come before the last of stdout has been read.
  const out = child.process.stdout
  if (out && !out.readableEnded) await new Promise((resolve) => out.once('end', resolve))
  // -q prints progress with \r and ends with e.g. "SET: 71633.25 requests per second, p50=0.351 msec"
  const match = /SET: ([\d.]+) requests per second/.exec(stdout)
  if (!match?.[1]) {
    throw new Error(`unexpected redis-benchmark output: ${(stdout + child.stderrTail()).slice(-200)}`)
  }
  return Number(match[1])
}

/**
 * `redis_set`: `redis-benchmark -t set -n 200000 -q` against a redis-server the bench starts
 * on a free loopback port and stops afterwards. Skipped, saying so, when redis is not installed.
 */
export const measureRedis = async (ctx: Context): Promise<void> => {
  const name = 'redis_set'
  await ctx.guard([name], async () => {
    if (!ctx.options.redis) {
      ctx.skip(name, ctx.options.mode === 'smoke' ? 'not run in --smoke' : '--no-redis')
      return
    }
    const server = which('redis-server')
    const tool = which('redis-benchmark')
    if (!server || !tool) {
      ctx.skip(
        name,
        server
          ? 'redis-benchmark not installed (Debian: apt-get install redis-tools)'
          : 'redis-server not installed (Debian: apt-get install redis-server)',
      )
      return
    }
    const { child, port } = await startRedis(server)
    try {
      const requests = ctx.options.sizes.redisRequests
      const runs = await ctx.repeat(name, 'ops/s', () => runBenchmark(tool, port, requests))
      ctx.record('baselines', name, 'ops/s', runs, `redis-benchmark -t set -n ${requests} -q (50 clients)`)
    } finally {
      await stopChild(child)
    }
  })
}
