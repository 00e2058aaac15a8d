/**
 * The web inspector in Debian's chromium (playwright-core), against the demo's three real
 * `mesh serve` processes (a ← b ← c, each with a control token) on 127.0.0.1, port 0. It
 * drives the demo controls like a user: write, cut, diverge, heal, and checks what the graph,
 * the keys table and the merge timeline show. Needs `npm run build` first (cli/dist and
 * web-inspector/dist) and /usr/bin/chromium. Screenshots of every step go to e2e/artifacts/.
 */
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { Browser, Page } from 'playwright-core'
import { launchChromium } from './chromium.js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startNode, stopAll, type MeshProcess } from './harness.js'

const ARTIFACTS = fileURLToPath(new URL('./artifacts/', import.meta.url))
const INSPECTOR_INDEX = fileURLToPath(new URL('../web-inspector/dist/index.html', import.meta.url))
const TOKEN = randomBytes(16).toString('hex')
/** Page conditions get this long; a node's feed coalesces status for 200 ms, so it is ample. */
const WAIT_MS = 15_000

let a: MeshProcess
let b: MeshProcess
let c: MeshProcess
let browser: Browser | undefined
let page: Page
const pageErrors: string[] = []

const shot = (name: string) => page.screenshot({ path: `${ARTIFACTS}inspector-${name}.png` })

/** Waits for a condition in the page (re-checked every frame); fails naming what never happened. */
const until = async <A>(what: string, check: (arg: A) => boolean, arg: A): Promise<void> => {
  try {
    // The function is serialised into the page: it may use only its argument and the DOM.
    await page.waitForFunction(check as (arg: unknown) => boolean, arg as unknown, { timeout: WAIT_MS })
  } catch (error) {
    await shot(`failed-${what.replace(/[^a-z0-9]+/gi, '-').slice(0, 60)}`).catch(() => {})
    throw new Error(`inspector never showed: ${what} (${(error as Error).message.split('\n')[0] ?? ''})`)
  }
}

/** The values the keys table shows for `key`, by node name, and whether the row is marked divergent. */
const row = (key: string) =>
  page.evaluate((k) => {
    const el = document.querySelector(`.key-row[data-key="${CSS.escape(k)}"]`)
    if (!el) return undefined
    const cells: Record<string, string | null> = {}
    for (const cell of el.querySelectorAll<HTMLElement>('.kt-cell')) cells[cell.dataset.node ?? '?'] = cell.title
    return { divergent: el.getAttribute('data-divergent') === 'true', cells }
  }, key)

/** True once the table shows `key` with exactly these JSON texts per node and divergence flag. */
const tableShows = ({ key, cells, divergent }: { key: string; cells: Record<string, string>; divergent: boolean }) => {
  const el = document.querySelector(`.key-row[data-key="${CSS.escape(key)}"]`)
  if (!el || el.getAttribute('data-divergent') !== String(divergent)) return false
  return Object.entries(cells).every(
    ([node, text]) => el.querySelector<HTMLElement>(`.kt-cell[data-node="${node}"]`)?.title === text,
  )
}

/** True once the graph draws the link between nodes `x` and `y` in `state` (runs in the page). */
const linkIs = ({ x, y, state }: { x: string; y: string; state: string }) => {
  const [first, second] = [x, y].sort()
  return (
    document
      .querySelector(`.graph .link[data-a="${String(first)}"][data-b="${String(second)}"]`)
      ?.getAttribute('data-state') === state
  )
}

const pickLink = async (x: string, y: string) => {
  await page.locator('.controls select.link-a').selectOption({ label: x })
  await page.locator('.controls select.link-b').selectOption({ label: y })
}

const cut = async (x: string, y: string) => {
  await pickLink(x, y)
  await page.locator('.controls button.cut').click()
  await until(`link ${x}–${y} cut`, linkIs, { x, y, state: 'cut' })
}

const heal = async (x: string, y: string) => {
  await pickLink(x, y)
  await page.locator('.controls button.heal').click()
  await until(`link ${x}–${y} connected again`, linkIs, { x, y, state: 'connected' })
}

const write = async (node: string, key: string, value: string) => {
  await page.locator('.controls select.write-node').selectOption({ label: node })
  await page.locator('.controls input.write-key').fill(key)
  await page.locator('.controls input.write-value').fill(value)
  await page.locator('.controls button.write').click()
  await until(
    `the write of ${key} on ${node} confirmed`,
    () => document.querySelector('.control-message')?.classList.contains('ok') === true,
    null,
  )
}

beforeAll(async () => {
  if (!existsSync(INSPECTOR_INDEX)) {
    throw new Error(`${INSPECTOR_INDEX} is missing: run "npm run build" (it builds web-inspector/dist)`)
  }
  mkdirSync(ARTIFACTS, { recursive: true })
  const args = ['--control-token', TOKEN]
  a = await startNode({ name: 'a', args })
  b = await startNode({ name: 'b', join: [a.peerUrl], args })
  c = await startNode({ name: 'c', join: [b.peerUrl], args })
  browser = await launchChromium()
  page = await browser.newPage({ viewport: { width: 1280, height: 800 } })
  page.on('pageerror', (error) => pageErrors.push(`pageerror: ${error.message}`))
  page.on('console', (message) => {
    if (message.type() === 'error') pageErrors.push(`console: ${message.text()}`)
  })
}, 60_000)

afterAll(async () => {
  await browser?.close()
  await stopAll()
})

describe('web inspector', () => {
  it('shows the three demo nodes in the graph, all linked', async () => {
    await page.goto(`${a.url}/mesh/inspector#token=${TOKEN}`)
    await until(
      'nodes a, b and c in the graph',
      () => ['a', 'b', 'c'].every((n) => document.querySelector(`.graph .node[data-name="${n}"]`)),
      null,
    )
    for (const [x, y] of [
      ['a', 'b'],
      ['b', 'c'],
      ['a', 'c'],
    ] as const) {
      await until(`link ${x}–${y} connected`, linkIs, { x, y, state: 'connected' })
    }
    expect(await page.locator('.graph .node').count()).toBe(3)
    await until(
      'demo controls listing the nodes',
      () => document.querySelectorAll('select.link-a option').length === 3,
      null,
    )
    await shot('1-three-nodes')
  })

  it('shows a write on node a on every node in the keys table', async () => {
    await write('a', 'color', '"blue"')
    await until('color = "blue" on a, b and c', tableShows, {
      key: 'color',
      cells: { a: '"blue"', b: '"blue"', c: '"blue"' },
      divergent: false,
    })
    // A few more keys through REST, so the table (and the README screenshot) has some body.
    await a.api('/kv/theme', { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{"dark":true}' })
    await b.api('/kv/feature:search', { method: 'PUT', headers: { 'content-type': 'application/json' }, body: 'true' })
    await c.api('/kv/limit', { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '100' })
    await until('limit = 100 on a, b and c', tableShows, {
      key: 'limit',
      cells: { a: '100', b: '100', c: '100' },
      divergent: false,
    })
    await shot('2-write-replicated')
  })

  it('marks a key divergent and the links cut while the cluster is partitioned', async () => {
    // Gossip links every pair of nodes (a and c too), so partitioning a from c takes all three cuts.
    await cut('a', 'b')
    await cut('b', 'c')
    await cut('a', 'c')
    await write('a', 'color', '"red"')
    await write('c', 'color', '"green"')
    await until('color divergent: red on a, blue on b, green on c', tableShows, {
      key: 'color',
      cells: { a: '"red"', b: '"blue"', c: '"green"' },
      divergent: true,
    })
    expect(await page.locator('.graph .link[data-state="cut"]').count()).toBe(3)
    await until(
      'the header counting the divergent key',
      () => /divergent key/.test(document.querySelector('.agreement')?.textContent ?? ''),
      null,
    )
    await until(
      'node cards showing a and c diverged',
      () =>
        document.querySelector('.node-card[data-name="a"] .peer[data-peer="c"]')?.getAttribute('data-relation') ===
        'diverged',
      null,
    )
    await shot('3-divergent')
  })

  it('shows the merge, its conflict and winner on heal, and one value on every node', async () => {
    // a and c first: the two writers meet directly, so the conflict is theirs; b then catches up.
    await heal('a', 'c')
    await heal('a', 'b')
    await heal('b', 'c')
    await until(
      'a merge episode with a conflict on color',
      () => document.querySelector('.episode .conflict[data-key="color"] .winner') !== null,
      null,
    )
    const conflict = page.locator('.episode .conflict[data-key="color"]').first()
    const winner = await conflict.locator('.winner').getAttribute('title')
    expect(['"red"', '"green"']).toContain(winner)
    const values = await conflict
      .locator('.conflict-values .value')
      .evaluateAll(
        (els) =>
          Object.fromEntries(els.map((el) => [(el as HTMLElement).dataset.node, el.getAttribute('title')])) as Record<
            string,
            string | null
          >,
      )
    expect(values).toMatchObject({ a: '"red"', c: '"green"' })
    await until('color = winner on a, b and c', tableShows, {
      key: 'color',
      cells: { a: winner ?? '', b: winner ?? '', c: winner ?? '' },
      divergent: false,
    })
    await until(
      'the merge episode marked as agreed',
      () => document.querySelector('.episode[data-agreed="true"] .conflict[data-key="color"]') !== null,
      null,
    )
    await until(
      'the header saying all nodes agree',
      () => document.querySelector('.agreement')?.getAttribute('data-agreed') === 'true',
      null,
    )
    for (const node of [a, b, c]) expect((await node.api('/kv/color')).body).toBe(JSON.parse(winner ?? 'null'))
    expect(await row('color')).toMatchObject({ divergent: false })
    await shot('4-healed-merged')
  })

  it('hides the demo controls without a token, and the control API refuses calls without it', async () => {
    const plain = await browser!.newPage({ viewport: { width: 1280, height: 800 } })
    try {
      await plain.goto(`${c.url}/mesh/inspector`)
      await plain.waitForFunction(() => document.querySelectorAll('.graph .node').length === 3, null, {
        timeout: WAIT_MS,
      })
      expect(await plain.locator('.controls').count()).toBe(0)
      await plain.screenshot({ path: `${ARTIFACTS}inspector-5-read-only.png` })
    } finally {
      await plain.close()
    }
    const refused = await a.api('/control/cut', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ peer: 'anything' }),
    })
    expect(refused.status).toBe(401)
  })

  it('shows a node that leaves gracefully as left, with its links and column gone', async () => {
    await c.stop('SIGTERM')
    await until(
      'c marked as left',
      () => document.querySelector('.graph .node[data-name="c"]')?.getAttribute('data-health') === 'left',
      null,
    )
    await until(
      'no link to c',
      () => document.querySelector('.graph .link[data-b="c"], .graph .link[data-a="c"]') === null,
      null,
    )
    await until('no column for c', () => document.querySelector('.kt-head .kt-node:nth-child(4)') === null, null)
    await until('link a–b still connected', linkIs, { x: 'a', y: 'b', state: 'connected' })
    await shot('6-node-left')
    expect(pageErrors).toEqual([])
  })
})
