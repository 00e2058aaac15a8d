import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { waitUntil } from '@mesh/core/testing'
import { afterEach } from 'vitest'

const FIXTURE = fileURLToPath(new URL('./fixtures/recipe-node.mjs', import.meta.url))
const READY = /^mesh: (.+) listening on (http:\/\/\S+)$/m

/** A recipe node in its own process (fixtures/recipe-node.mjs; needs `npx tsc -b recipes`). */
export interface RecipeProcess {
  name: string
  url: string
  peerUrl: string
  /** GET or POST a path of the fixture; resolves with status and JSON body. */
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- T names the JSON shape the test expects
  http<T>(path: string, init?: RequestInit): Promise<{ status: number; body: T }>
  /** SIGKILL; resolves once the process is gone. */
  kill(): Promise<void>
  /** Sends `signal` (e.g. SIGSTOP, SIGCONT) to the process. */
  signal(signal: NodeJS.Signals): void
}

const running = new Set<ChildProcess>()
afterEach(async () => {
  const children = [...running]
  running.clear()
  for (const child of children) child.kill('SIGKILL')
  await Promise.all(children.map((c) => (c.exitCode !== null || c.signalCode !== null ? Promise.resolve() : exitOf(c))))
})

const exitOf = (child: ChildProcess) => new Promise<void>((resolve) => child.once('exit', () => resolve()))

/** Starts the fixture with `env` and waits for its ready line. */
export const startProcess = async (name: string, env: Record<string, string> = {}): Promise<RecipeProcess> => {
  const child = spawn(process.execPath, [FIXTURE], {
    env: { ...process.env, MESH_NAME: name, MESH_JOIN: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  running.add(child)
  let out = ''
  let err = ''
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk))
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name}: no ready line in 30 s\n${err}`)), 30_000)
    child.once('exit', (code) => reject(new Error(`${name} exited (${String(code)}) before serving:\n${err}`)))
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk
      const match = READY.exec(out)
      if (match?.[2]) {
        clearTimeout(timer)
        resolve(match[2])
      }
    })
  })
  return {
    name,
    url,
    peerUrl: `ws://127.0.0.1:${new URL(url).port}/mesh`,
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- as above
    http: async <T>(path: string, init?: RequestInit) => {
      const res = await fetch(`${url}${path}`, init)
      return { status: res.status, body: (await res.json()) as T }
    },
    kill: async () => {
      const exited = exitOf(child)
      child.kill('SIGKILL')
      await exited
      running.delete(child)
    },
    signal: (signal) => {
      child.kill(signal)
    },
  }
}

/** A member as `GET /mesh/api/members` lists it. */
export interface ProcessMember {
  id: string
  name: string
  state: string
  capabilities: string[]
  startedAt: number
}

/** Waits until `p` sees `count` alive node members (with `capability`, when given). */
export const waitForMembers = (p: RecipeProcess, count: number, capability?: string): Promise<ProcessMember[]> =>
  waitUntil(
    `${p.name} sees ${String(count)} alive members${capability ? ` with ${capability}` : ''}`,
    async () => {
      const members = (await p.http<ProcessMember[]>('/mesh/api/members')).body
      const alive = members.filter((m) => m.state === 'alive' && (!capability || m.capabilities.includes(capability)))
      return alive.length === count ? members : undefined
    },
    { timeoutMs: 15_000 },
  )

/** Starts processes a, b and c (b and c join a) with `env`; resolves once each sees all three alive (with `capability`). */
export const startTrio = async (env: Record<string, string> = {}, capability?: string): Promise<RecipeProcess[]> => {
  const a = await startProcess('a', env)
  const rest = await Promise.all(['b', 'c'].map((n) => startProcess(n, { ...env, MESH_JOIN: a.peerUrl })))
  const all = [a, ...rest]
  for (const p of all) await waitForMembers(p, 3, capability)
  return all
}
