/**
 * A mixed cluster of the three example apps as real processes: Hono, then Express joined to
 * it, then NestJS joined to Express. Writes on any app reach all of them; a SIGTERM'd app
 * exits 0, the others see it as `left` and lose its ephemeral keys, and the two left keep
 * converging. The recipe routes (`/limited`, `/work/:item`, `/flags`) act cluster-wide.
 * Needs `npx tsc -b` first (the examples run from dist/).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { restCall, waitUntil } from '@mesh/core/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const FRAMEWORKS = ['hono', 'express', 'nestjs'] as const
type Framework = (typeof FRAMEWORKS)[number]
const READY = /^mesh: (.+) listening on (http:\/\/\S+)$/m
const WAIT_MS = 15_000
/** The demo apps' cluster-wide `GET /limited` limit, per second. */
const DEMO_LIMIT = 20

interface App {
  framework: Framework
  name: string
  url: string
  peerUrl: string
  child: ChildProcess
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  output(): string
}

interface Member {
  id: string
  name: string
  state: string
  capabilities: string[]
}

const children = new Set<ChildProcess>()

const startExample = async (framework: Framework, join: readonly string[] = []): Promise<App> => {
  const main = fileURLToPath(new URL(`../examples/${framework}/dist/main.js`, import.meta.url))
  if (!existsSync(main)) throw new Error(`${main} is missing: run "npx tsc -b" before the e2e tests`)
  const name = `mixed-${framework}`
  const child = spawn(process.execPath, [main], {
    env: {
      ...process.env,
      PORT: '0',
      HOST: '127.0.0.1',
      MESH_NAME: name,
      MESH_JOIN: join.join(','),
      MESH_DEMO_LIMIT: String(DEMO_LIMIT),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  children.add(child)
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      children.delete(child)
      resolve({ code, signal })
    }),
  )
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk))
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
  const output = () => `--- stdout\n${stdout}--- stderr\n${stderr}`
  let gone = false
  void exited.then(() => (gone = true))
  const url = await waitUntil(
    `${framework} example to print its ready line`,
    () => {
      if (gone) throw new Error(`${framework} example exited before serving\n${output()}`)
      return READY.exec(stdout)?.[2]
    },
    { timeoutMs: WAIT_MS },
  ).catch((error: unknown) => {
    throw new Error(`${(error as Error).message}\n${output()}`)
  })
  expect(READY.exec(stdout)?.[1]).toBe(name)
  return { framework, name, url, peerUrl: `${url.replace(/^http/, 'ws')}/mesh`, child, exited, output }
}

const members = async (app: App): Promise<Member[]> => {
  const reply = await restCall(`${app.url}/mesh/api/members`)
  if (reply.status !== 200) throw new Error(`GET members on ${app.name}: ${reply.status}`)
  return reply.body as Member[]
}

const valueOn = async (app: App, key: string): Promise<{ status: number; body: unknown }> =>
  restCall(`${app.url}/mesh/api/kv/${encodeURIComponent(key)}`)

const putOn = async (app: App, key: string, value: unknown, query = ''): Promise<void> => {
  const reply = await restCall(`${app.url}/mesh/api/kv/${encodeURIComponent(key)}${query}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(value),
  })
  expect(reply.status, `PUT ${key} on ${app.name}: ${JSON.stringify(reply.body)}`).toBe(200)
}

/** Waits until every app serves `key` with `value` over REST. */
const everyoneSees = (apps: readonly App[], key: string, value: unknown) =>
  Promise.all(
    apps.map((app) =>
      waitUntil(
        `${app.name} to serve ${key}=${JSON.stringify(value)}`,
        async () => {
          const reply = await valueOn(app, key)
          expect(reply.status).toBe(200)
          expect(reply.body).toEqual(value)
          return true
        },
        { timeoutMs: WAIT_MS },
      ),
    ),
  )

describe('mixed cluster of the Hono, Express and NestJS example apps', () => {
  const apps: App[] = []

  beforeAll(async () => {
    for (const framework of FRAMEWORKS) {
      const previous = apps.at(-1)
      apps.push(await startExample(framework, previous ? [previous.peerUrl] : []))
    }
  }, 60_000)

  afterAll(async () => {
    const left = [...children]
    for (const child of left) child.kill('SIGKILL')
    await Promise.all(apps.filter((app) => left.includes(app.child)).map((app) => app.exited))
  })

  it('every app lists all three as alive members', async () => {
    for (const app of apps) {
      await waitUntil(
        `${app.name} to list ${apps.map((a) => a.name).join(', ')} as alive`,
        async () => {
          const alive = new Set((await members(app)).filter((m) => m.state === 'alive').map((m) => m.name))
          return apps.every((a) => alive.has(a.name))
        },
        { timeoutMs: WAIT_MS },
      )
    }
  })

  it('a write on any app is visible on all', async () => {
    for (const app of apps) {
      await putOn(app, `written-on-${app.framework}`, { by: app.name, at: [1, 2, 3] })
    }
    for (const app of apps) await everyoneSees(apps, `written-on-${app.framework}`, { by: app.name, at: [1, 2, 3] })

    // The demo route: one put(object) commit merged into every replica.
    const pushed = await restCall(`${apps[1]!.url}/push-data`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ pushedA: 'a', pushedB: 2 }),
    })
    expect(pushed.status, JSON.stringify(pushed.body)).toBe(200)
    await everyoneSees(apps, 'pushedB', 2)
    for (const app of apps) {
      const root = await restCall(`${app.url}/`)
      expect(root.body).toMatchObject({ name: app.name, data: { pushedA: 'a', pushedB: 2 } })
    }
  })

  it('the recipe routes: a cluster-wide limiter, one claimer per work item, shared typed flags', async () => {
    // Claims are leases: every app declares the capability at startup; wait until all see it.
    for (const app of apps) {
      await waitUntil(
        `${app.name} to see every app with mesh.lease`,
        async () =>
          (await members(app)).filter((m) => m.state === 'alive' && m.capabilities.includes('mesh.lease')).length === 3,
        { timeoutMs: WAIT_MS },
      )
    }

    const claims = await Promise.all(apps.map((app) => restCall(`${app.url}/work/item-1`, { method: 'POST' })))
    expect(claims.map((c) => c.status).sort()).toEqual([200, 409, 409])
    const winner = claims.find((c) => c.status === 200)!.body as { claimed: boolean; token: number }
    expect(winner).toEqual({ claimed: true, token: expect.any(Number) })
    for (const c of claims.filter((c) => c.status === 409)) expect(c.body).toMatchObject({ claimed: false })

    const flag = await restCall(`${apps[0]!.url}/flags/dark-mode`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: 'true',
    })
    expect(flag.status, JSON.stringify(flag.body)).toBe(200)
    const limitFlag = await restCall(`${apps[2]!.url}/flags/max-items`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: '25',
    })
    expect(limitFlag.status, JSON.stringify(limitFlag.body)).toBe(200)
    for (const app of apps) {
      await waitUntil(
        `${app.name} to serve both flags`,
        async () => {
          const reply = await restCall(`${app.url}/flags`)
          expect(reply.body).toEqual({ 'dark-mode': true, 'max-items': 25 })
          return true
        },
        { timeoutMs: WAIT_MS },
      )
    }

    // 90 requests over the three apps, one after the other: some pass, the rest get a JSON 429.
    const statuses: number[] = []
    for (let i = 0; i < 90; i++) {
      const reply = await restCall(`${apps[i % 3]!.url}/limited`)
      statuses.push(reply.status)
      if (reply.status === 429) expect(reply.body).toMatchObject({ error: 'rate limited', limit: DEMO_LIMIT })
      else expect(reply.status).toBe(200)
    }
    const allowed = statuses.filter((s) => s === 200).length
    // The requests span one or a few 1 s windows: at least the limit passes, and far from all.
    expect(allowed).toBeGreaterThanOrEqual(DEMO_LIMIT)
    expect(statuses).toContain(429)
  })

  it('SIGTERM on one app: it exits 0, the others see it leave and drop its ephemeral keys, and keep converging', async () => {
    const [hono, express, nest] = apps as [App, App, App]
    await putOn(express, 'owned-by-express', 'temporary', '?ephemeral=true')
    await putOn(express, 'kept-after-express', 'durable')
    await everyoneSees(apps, 'owned-by-express', 'temporary')
    await everyoneSees(apps, 'kept-after-express', 'durable')

    // Express is in the middle of the chain: the other two must not depend on it.
    express.child.kill('SIGTERM')
    const exit = await Promise.race([
      express.exited,
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error(`express did not exit\n${express.output()}`)), WAIT_MS).unref(),
      ),
    ])
    expect(exit, express.output()).toEqual({ code: 0, signal: null })

    const remaining = [hono, nest]
    for (const app of remaining) {
      await waitUntil(
        `${app.name} to list ${express.name} as left`,
        async () => (await members(app)).find((m) => m.name === express.name)?.state === 'left',
        { timeoutMs: WAIT_MS },
      )
      await waitUntil(
        `${app.name} to drop the ephemeral key of ${express.name}`,
        async () => (await valueOn(app, 'owned-by-express')).status === 404,
        { timeoutMs: WAIT_MS },
      )
      expect((await valueOn(app, 'kept-after-express')).body).toBe('durable')
    }

    await putOn(hono, 'after-leave-from-hono', 1)
    await putOn(nest, 'after-leave-from-nestjs', 2)
    await everyoneSees(remaining, 'after-leave-from-hono', 1)
    await everyoneSees(remaining, 'after-leave-from-nestjs', 2)
  })
})
