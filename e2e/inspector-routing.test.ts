/**
 * The web inspector in Debian's chromium (playwright-core) shows capability routing per node:
 * its capabilities, and how many shards and live actors it owns, the same figures its
 * `/mesh/api/status` reports. Three `mesh serve` processes: a and b run counter actors
 * (`--actors`), c declares only `cache`. Needs `npm run build` first and /usr/bin/chromium.
 */
import { existsSync, mkdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { waitUntil } from '@mesh/core/testing'
import type { Browser } from 'playwright-core'
import { afterAll, describe, expect, it } from 'vitest'
import { launchChromium } from './chromium.js'
import { E2E_WAIT_MS, startNode, stopAll } from './harness.js'

const ARTIFACTS = fileURLToPath(new URL('./artifacts/', import.meta.url))
const INSPECTOR_INDEX = fileURLToPath(new URL('../web-inspector/dist/index.html', import.meta.url))
const ACTORS = fileURLToPath(new URL('./fixtures/actors.mjs', import.meta.url))

interface Routing {
  capability: string
  shards: number
  actors: number
}

let browser: Browser | undefined
afterAll(async () => {
  await browser?.close()
  await stopAll()
})

/** What each node card's routing line says, as `capability: shards/actors`, by node name (runs in the page). */
const cardsSay = () => {
  const out: Record<string, string[]> = {}
  for (const card of document.querySelectorAll<HTMLElement>('.node-card')) {
    out[card.dataset.name ?? '?'] = [...card.querySelectorAll('.facts.routing span')].map((span) => {
      const [capability, rest = ''] = span.textContent.split(': ')
      const [shards, actors] = rest.replace(/,/g, '').match(/\d+/g) ?? []
      return `${String(capability)}: ${String(shards)}/${String(actors)}`
    })
  }
  return out
}

describe('web inspector: capability routing', () => {
  it('shows per node its capabilities, the shards and the live actors it owns', async () => {
    if (!existsSync(INSPECTOR_INDEX)) throw new Error(`${INSPECTOR_INDEX} is missing: run "npm run build"`)
    mkdirSync(ARTIFACTS, { recursive: true })
    const a = await startNode({ name: 'a', args: ['--actors', ACTORS] })
    const b = await startNode({ name: 'b', join: [a.peerUrl], args: ['--actors', ACTORS] })
    const c = await startNode({ name: 'c', join: [a.peerUrl], args: ['--capabilities', 'cache'] })
    const nodes = [a, b, c]
    await waitUntil(
      'every node sees a and b with counter',
      async () =>
        (
          await Promise.all(
            nodes.map(async (n) => {
              const members = (await n.api<Array<{ state: string; capabilities: string[] }>>('/members')).body
              return members.filter((m) => m.state === 'alive' && m.capabilities.includes('counter')).length === 2
            }),
          )
        ).every(Boolean),
      { timeoutMs: E2E_WAIT_MS },
    )
    // Ten actors, spread over a and b by placement.
    for (let i = 0; i < 10; i++) {
      const res = await c.api(`/call/counter/user-${i}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"add":1}',
      })
      expect(res.status).toBe(200)
    }
    const expected: Record<string, string[]> = {}
    for (const node of nodes) {
      const routing = (await node.api<{ routing: Routing[] }>('/status')).body.routing
      expected[node.name] = routing.map((r) => `${r.capability}: ${r.shards}/${r.actors}`)
    }
    expect(expected.c).toEqual(['cache: 4096/0'])
    const counter = [expected.a, expected.b].map((lines) => lines?.[0]?.match(/(\d+)\/(\d+)/) ?? [])
    expect(counter.reduce((sum, m) => sum + Number(m[1]), 0)).toBe(4096)
    expect(counter.reduce((sum, m) => sum + Number(m[2]), 0)).toBe(10)

    browser = await launchChromium()
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } })
    const errors: string[] = []
    page.on('pageerror', (error) => errors.push(error.message))
    await page.goto(`${b.url}/mesh/inspector`)
    try {
      // The cards follow each node's feed (status coalesced every 200 ms): read them until they agree.
      await waitUntil(
        'the node cards show what /mesh/api/status says',
        async () => JSON.stringify(await page.evaluate(cardsSay)) === JSON.stringify(expected),
        { timeoutMs: 15_000, intervalMs: 100 },
      )
    } finally {
      await page.screenshot({ path: `${ARTIFACTS}inspector-routing.png` })
    }
    expect(await page.evaluate(cardsSay)).toEqual(expected)
    expect(errors).toEqual([])
  })
})
