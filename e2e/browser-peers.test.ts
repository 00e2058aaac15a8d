/**
 * Browser tabs as light peers, in Debian's chromium driven by playwright-core: the feature-flag
 * board (examples/board) against real nodes served with core's attachToServer on 127.0.0.1.
 * Needs `npx tsc -b` first (the page loads client/dist and examples/board/dist) and
 * /usr/bin/chromium (`.ci/run` installs it). Screenshots go to e2e/artifacts/.
 */
import { existsSync, mkdirSync } from 'node:fs'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import type { MeshClient } from '@mesh/client'
import { attachToServer, MeshNode, type Logger } from '@mesh/core'
import { serveBoard, type BoardServer } from '@mesh/example-board'
import type { Browser, Page } from 'playwright-core'
import { nodeEvents, waitUntil } from '@mesh/core/testing'
import { launchChromium } from './chromium.js'
import { E2E_WAIT_MS } from './harness.js'
import { openStockPage } from './stock-client.js'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'

declare global {
  interface Window {
    /** Set by the board page (examples/board/src/board.ts). */
    board?: { client: MeshClient }
  }
}

const ARTIFACTS = fileURLToPath(new URL('./artifacts/', import.meta.url))
const BOARD_JS = fileURLToPath(new URL('../examples/board/dist/board.js', import.meta.url))
const CLIENT_JS = fileURLToPath(new URL('../client/dist/index.js', import.meta.url))

interface ServedNode {
  node: MeshNode
  port: number
  url: string
  close(): Promise<void>
}

const nodes = new Set<ServedNode>()

/** A node on 127.0.0.1; `port` brings a node back at an address a page already knows. */
const serveNode = async (options: {
  name: string
  port?: number
  readOnly?: boolean
  logger?: Logger
}): Promise<ServedNode> => {
  const node = new MeshNode({
    name: options.name,
    lightPeers: { readOnly: options.readOnly ?? false },
    logger: options.logger,
  })
  const server = http.createServer((_req, res) => res.writeHead(404).end())
  const detach = attachToServer(server, { node })
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  node.url = `ws://127.0.0.1:${port}/mesh`
  const served: ServedNode = {
    node,
    port,
    url: node.url,
    close: async () => {
      if (!nodes.delete(served)) return
      await node.close()
      detach()
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
    },
  }
  nodes.add(served)
  return served
}

let browser: Browser
let board: BoardServer
const pageErrors: string[] = []

beforeAll(async () => {
  for (const file of [BOARD_JS, CLIENT_JS]) {
    if (!existsSync(file)) throw new Error(`${file} is missing: run "npx tsc -b" before the browser tests`)
  }
  mkdirSync(ARTIFACTS, { recursive: true })
  board = await serveBoard()
  browser = await launchChromium()
})

afterAll(async () => {
  // Unset when beforeAll failed.
  await (browser as Browser | undefined)?.close()
  await (board as BoardServer | undefined)?.close()
})

afterEach(async () => {
  for (const context of browser.contexts()) await context.close()
  for (const served of [...nodes]) await served.close()
  expect(pageErrors.splice(0)).toEqual([])
})

/** Opens the board in a fresh context (its own tab, no shared storage) against `urls`. */
const openBoard = async (options: { urls: string[]; name: string; persist?: boolean }): Promise<Page> => {
  const context = await browser.newContext()
  const page = await context.newPage()
  page.on('pageerror', (error) => pageErrors.push(`${options.name}: ${error.message}`))
  page.on('console', (message) => {
    // Chromium logs every refused WebSocket attempt itself; those are expected while a node is down.
    if (message.type() === 'error' && !/WebSocket connection to .* failed/.test(message.text())) {
      pageErrors.push(`${options.name}: ${message.text()}`)
    }
  })
  const query = new URLSearchParams([
    ...options.urls.map((u) => ['node', u]),
    ['name', options.name],
    ...(options.persist ? [['persist', '1']] : []),
  ])
  await page.goto(`${board.url}/?${query}`)
  return page
}

/** A node's key/value content as JSON, keys sorted. */
const sortedJson = (node: MeshNode): string =>
  JSON.stringify(Object.entries(node.data.toJSON()).sort(([x], [y]) => (x < y ? -1 : 1)))

const synced = (page: Page) => page.waitForSelector('#status[data-status="synced"]', { timeout: 15_000 })
const flag = (page: Page, name: string) => page.locator(`#flags li[data-key="flag:${name}"]`)
const toggle = (page: Page, name: string) => flag(page, name).locator('input[type="checkbox"]')
const addFlag = async (page: Page, name: string) => {
  await page.fill('#flag-name', name)
  await page.click('#add button')
}
/** The page's whole store, read through its client. */
const storeOf = (page: Page) => page.evaluate(() => window.board?.client.toJSON() ?? null)
const shot = (page: Page, name: string) => page.screenshot({ path: `${ARTIFACTS}${name}.png`, fullPage: true })

describe('browser tabs as light peers', { timeout: 60_000 }, () => {
  it('two pages on two different nodes edit the same keys and converge', async () => {
    const a = await serveNode({ name: 'a' })
    const b = await serveNode({ name: 'b' })
    await b.node.join([a.url])
    const [ada, bob] = await Promise.all([
      openBoard({ urls: [a.url], name: 'Ada' }),
      openBoard({ urls: [b.url], name: 'Bob' }),
    ])
    await Promise.all([synced(ada), synced(bob)])

    await addFlag(ada, 'dark-mode')
    await flag(bob, 'dark-mode').waitFor()
    await toggle(bob, 'dark-mode').check()
    await expect.poll(() => toggle(ada, 'dark-mode').isChecked()).toBe(true)
    expect(await flag(ada, 'dark-mode').locator('.by').textContent()).toBe('by Bob')

    // Both write the same keys at once; every replica must settle on one value per key.
    await Promise.all([
      ada.evaluate(() => window.board?.client.put({ 'flag:race': { enabled: true, by: 'Ada' }, shared: 'ada' })),
      bob.evaluate(() => window.board?.client.put({ 'flag:race': { enabled: false, by: 'Bob' }, shared: 'bob' })),
    ])
    await waitUntil(
      'nodes agree',
      // Key order is each replica's own (the order its index saw the keys), not part of the state.
      () => a.node.has('shared') && sortedJson(a.node) === sortedJson(b.node),
      { subscribe: nodeEvents(a.node, b.node), timeoutMs: E2E_WAIT_MS },
    )
    // A tab applies what its node sends after the node settles: wait as long as for the nodes.
    await expect.poll(() => storeOf(ada), { timeout: E2E_WAIT_MS }).toEqual(a.node.data.toJSON())
    await expect.poll(() => storeOf(bob), { timeout: E2E_WAIT_MS }).toEqual(a.node.data.toJSON())
    expect(['ada', 'bob']).toContain(a.node.get('shared'))
    await flag(ada, 'race').waitFor()
    await expect.poll(() => toggle(ada, 'race').isChecked()).toBe(await toggle(bob, 'race').isChecked())
    await Promise.all([shot(ada, 'converge-ada'), shot(bob, 'converge-bob')])
  })

  it('a page whose node stops keeps editing offline and loses nothing when the node comes back', async () => {
    const b = await serveNode({ name: 'b' })
    let a = await serveNode({ name: 'a' })
    await a.node.join([b.url])
    const [ada, bob] = await Promise.all([
      openBoard({ urls: [a.url], name: 'Ada' }),
      openBoard({ urls: [b.url], name: 'Bob' }),
    ])
    await Promise.all([synced(ada), synced(bob)])
    await addFlag(ada, 'checkout')
    await flag(bob, 'checkout').waitFor()

    const port = a.port
    await a.close()
    await ada.waitForSelector('#status[data-status="offline"]')
    await addFlag(ada, 'made-offline')
    await toggle(ada, 'checkout').check()
    await addFlag(bob, 'made-meanwhile')
    await shot(ada, 'offline-ada')
    expect(b.node.has('flag:made-offline')).toBe(false)

    a = await serveNode({ name: 'a-again', port })
    await a.node.join([b.url])
    await synced(ada)
    await waitUntil(
      'offline edits reached b through the restarted node',
      () => b.node.has('flag:made-offline') && b.node.get<{ enabled?: boolean }>('flag:checkout')?.enabled === true,
      { subscribe: nodeEvents(b.node), timeoutMs: E2E_WAIT_MS },
    )
    await flag(ada, 'made-meanwhile').waitFor()
    await expect.poll(() => toggle(bob, 'checkout').isChecked()).toBe(true)
    await flag(bob, 'made-offline').waitFor()
    await expect.poll(() => storeOf(ada)).toEqual(b.node.data.toJSON())
    await expect.poll(() => storeOf(bob)).toEqual(b.node.data.toJSON())
    await shot(ada, 'back-online-ada')
  })

  it('a page that closes its socket edits offline and merges on reconnect', async () => {
    const a = await serveNode({ name: 'a' })
    const b = await serveNode({ name: 'b' })
    await b.node.join([a.url])
    const [ada, bob] = await Promise.all([
      openBoard({ urls: [a.url], name: 'Ada' }),
      openBoard({ urls: [b.url], name: 'Bob' }),
    ])
    await Promise.all([synced(ada), synced(bob)])

    await ada.evaluate(() => window.board?.client.disconnect())
    await ada.waitForSelector('#status[data-status="offline"]')
    await addFlag(ada, 'offline-one')
    await addFlag(ada, 'offline-two')
    await ada.evaluate(() => window.board?.client.put('note', 'written offline'))
    await addFlag(bob, 'online-one')
    await ada.evaluate(() => window.board?.client.connect())
    await synced(ada)
    await waitUntil(
      'offline edits on both nodes',
      () => ['flag:offline-one', 'flag:offline-two', 'note'].every((k) => a.node.has(k) && b.node.has(k)),
      { subscribe: nodeEvents(a.node, b.node), timeoutMs: E2E_WAIT_MS },
    )
    await flag(ada, 'online-one').waitFor()
    await flag(bob, 'offline-two').waitFor()
    await expect.poll(() => storeOf(ada)).toEqual(b.node.data.toJSON())
    await expect.poll(() => storeOf(bob), { timeout: E2E_WAIT_MS }).toEqual(a.node.data.toJSON())
  })

  it('with persist, an edit made offline survives a reload in IndexedDB and reaches a node on reconnect', async () => {
    const a = await serveNode({ name: 'a' })
    const ada = await openBoard({ urls: [a.url], name: 'Ada', persist: true })
    await synced(ada)
    await addFlag(ada, 'before')
    await waitUntil('the online edit on the node', () => a.node.has('flag:before'), {
      subscribe: nodeEvents(a.node),
      timeoutMs: E2E_WAIT_MS,
    })
    // The node goes away: the tab edits offline, then reloads with no node to sync from.
    const port = a.port
    await a.close()
    await ada.waitForSelector('#status:not([data-status="synced"])')
    const stored = () =>
      ada.evaluate(
        () =>
          new Promise<number>((resolve, reject) => {
            const open = indexedDB.open('mesh:default')
            open.onerror = () => reject(new Error('cannot open IndexedDB'))
            open.onsuccess = () => {
              const count = open.result.transaction('updates').objectStore('updates').count()
              count.onsuccess = () => {
                open.result.close()
                resolve(count.result)
              }
            }
          }),
      )
    const before = await stored()
    await ada.evaluate(() => window.board?.client.put('note', 'written offline'))
    await expect.poll(stored).toBeGreaterThan(before)
    await ada.reload()
    await ada.evaluate(() => window.board?.client.persisted)
    expect(await ada.evaluate(() => window.board?.client.get('note'))).toBe('written offline')
    await flag(ada, 'before').waitFor()
    await shot(ada, 'persisted-offline-reload')

    // A node comes back at the address the page knows; the edit reaches it.
    const back = await serveNode({ name: 'a2', port })
    await synced(ada)
    await waitUntil('the offline edit on the node', () => back.node.get('note') === 'written offline', {
      subscribe: nodeEvents(back.node),
      timeoutMs: E2E_WAIT_MS,
    })
    expect(back.node.has('flag:before')).toBe(true)
  })

  it("the other page sees a page's presence appear and disappear, and every node lists it", async () => {
    const a = await serveNode({ name: 'a' })
    const b = await serveNode({ name: 'b' })
    await b.node.join([a.url])
    const bob = await openBoard({ urls: [b.url], name: 'Bob' })
    await synced(bob)
    await expect.poll(() => bob.locator('#presence li').count()).toBe(1)

    const ada = await openBoard({ urls: [a.url], name: 'Ada' })
    await synced(ada)
    const adaId = await ada.evaluate(() => window.board?.client.presence.id ?? '')
    const adaInBob = bob.locator(`#presence li[data-id="${adaId}"]`)
    await adaInBob.waitFor()
    expect(await adaInBob.textContent()).toBe('Ada')
    for (const served of [a, b]) {
      await waitUntil(
        `Ada in members() of ${served.node.name}`,
        () => served.node.members().some((m) => m.role === 'light' && m.id === adaId && m.name === 'Ada'),
        { timeoutMs: E2E_WAIT_MS },
      )
    }
    await shot(bob, 'presence-both')

    await ada.locator('#my-name').fill('Ada L.')
    await ada.locator('#my-name').press('Enter')
    await expect.poll(() => adaInBob.textContent()).toBe('Ada L.')

    await ada.context().close()
    await adaInBob.waitFor({ state: 'detached' })
    for (const served of [a, b]) {
      await waitUntil(`Ada gone from ${served.node.name}`, () => !served.node.members().some((m) => m.id === adaId), {
        timeoutMs: E2E_WAIT_MS,
      })
    }
    await shot(bob, 'presence-after-close')
  })

  it('a stock y-websocket page that drops and reconnects is seen again by a page on another node', async () => {
    // Stock clients echo every awareness change they receive, other users' removals included;
    // such an echo once left the returning page invisible everywhere until a reload.
    const warnings: string[] = []
    const logger: Logger = {
      debug: () => {},
      info: () => {},
      warn: (message) => void warnings.push(message),
      error: (message) => void warnings.push(message),
    }
    const a = await serveNode({ name: 'a', logger })
    const b = await serveNode({ name: 'b', logger })
    await b.node.join([a.url])
    const [ada, bob] = await Promise.all([
      openStockPage(browser, { url: a.url, room: 'cursors', name: 'Ada', errors: pageErrors }),
      openStockPage(browser, { url: b.url, room: 'cursors', name: 'Bob', errors: pageErrors }),
    ])
    await Promise.all([ada.synced(), bob.synced()])
    await expect.poll(() => bob.stateOf(ada.clientId)).toMatchObject({ user: { name: 'Ada' } })
    await expect.poll(() => ada.stateOf(bob.clientId)).toMatchObject({ user: { name: 'Bob' } })

    await ada.disconnect()
    await expect.poll(() => bob.stateOf(ada.clientId)).toBeNull()
    // Bob's page echoes Ada's removal to b; his next change arrives after it, on the same socket.
    await bob.set('cursor', { x: 1 })
    await waitUntil(
      "bob's change (and the echo before it) on b",
      () =>
        (b.node.room('cursors').awareness.getStates().get(bob.clientId) as { cursor?: { x: number } } | undefined)
          ?.cursor?.x === 1,
      { timeoutMs: E2E_WAIT_MS },
    )

    await ada.connect()
    await ada.synced()
    await ada.set('cursor', { x: 7 })
    await expect.poll(() => bob.stateOf(ada.clientId)).toMatchObject({ user: { name: 'Ada' }, cursor: { x: 7 } })
    await bob.set('cursor', { x: 2 })
    await expect.poll(() => ada.stateOf(bob.clientId)).toMatchObject({ cursor: { x: 2 } })
    expect(warnings).toEqual([])
    await shot(bob.page, 'stock-presence-after-reconnect')
  })

  it("a read-only page's write reaches no node", async () => {
    const a = await serveNode({ name: 'a' })
    const r = await serveNode({ name: 'read-only', readOnly: true })
    await r.node.join([a.url])
    await a.node.put('flag:existing', { enabled: true, by: 'ops' })
    const viewer = await openBoard({ urls: [r.url], name: 'Viewer' })
    await synced(viewer)
    await flag(viewer, 'existing').waitFor()
    // A page that goes around the API writes to the Y.Doc directly: the node refuses it, says
    // so, and the page rolls the write back.
    await viewer.evaluate(() =>
      window.board?.client.doc.getArray('kv').push([{ key: 'flag:forced', val: { enabled: true, by: 'x' } }]),
    )
    await viewer.locator('#read-only').waitFor({ state: 'visible' })
    await expect.poll(() => viewer.evaluate(() => window.board?.client.has('flag:forced'))).toBe(false)
    await flag(viewer, 'forced').waitFor({ state: 'detached' })
    expect(await toggle(viewer, 'existing').isDisabled()).toBe(true)
    expect(await viewer.locator('#add button').isDisabled()).toBe(true)
    const refused = await viewer.evaluate(() =>
      window.board?.client.put('flag:hack', { enabled: true, by: 'Viewer' }).then(
        () => 'accepted',
        (error: unknown) => (error as { code?: string }).code,
      ),
    )
    expect(refused).toBe('read_only')
    // Links are ordered: once this later write is everywhere, a relayed refused write would be too.
    await r.node.put('sentinel', 1)
    await waitUntil('sentinel on a', () => a.node.get('sentinel') === 1, {
      subscribe: nodeEvents(a.node),
      timeoutMs: E2E_WAIT_MS,
    })
    for (const served of [a, r]) {
      expect(served.node.has('flag:hack')).toBe(false)
      expect(served.node.has('flag:forced')).toBe(false)
    }
    await shot(viewer, 'read-only')
  })
})
