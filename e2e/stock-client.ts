/**
 * The stock `y-websocket` client in a real browser page: Mesh promises wire compatibility with
 * it, and its habits (it echoes every awareness change it receives, other users' removals
 * included) are what a Node test with the same client might not reproduce the way a tab does.
 */
import { fileURLToPath } from 'node:url'
import type { Browser, Page } from 'playwright-core'
import type { WebsocketProvider } from 'y-websocket'
import type * as Y from 'yjs'

declare global {
  interface Window {
    /** The bundle of e2e/stock-client-entry.ts. */
    StockYjs?: { WebsocketProvider: typeof WebsocketProvider; Y: typeof Y }
    /** The page's provider, set by {@link openStockPage}. */
    stock?: { doc: Y.Doc; provider: WebsocketProvider }
  }
}

const ENTRY = fileURLToPath(new URL('./stock-client-entry.ts', import.meta.url))

let bundle: Promise<string> | undefined

/** y-websocket and Yjs as one classic script defining `window.StockYjs` (built once, in memory). */
const stockScript = (): Promise<string> =>
  (bundle ??= (async () => {
    const { build } = await import('vite')
    const result = await build({
      configFile: false,
      logLevel: 'silent',
      root: fileURLToPath(new URL('..', import.meta.url)),
      build: { write: false, minify: false, lib: { entry: ENTRY, formats: ['iife'], name: 'StockYjs' } },
    })
    const outputs = Array.isArray(result) ? result : [result]
    for (const out of outputs) {
      if (!('output' in out)) continue
      const chunk = out.output.find((o) => o.type === 'chunk')
      if (chunk?.type === 'chunk') return chunk.code
    }
    throw new Error('vite produced no bundle of the stock y-websocket client')
  })())

/** One page running the stock client in a room, seen from the test. */
export interface StockPage {
  page: Page
  /** The page's awareness client id. */
  clientId: number
  /** Resolves once the provider reports synced. */
  synced(): Promise<void>
  /** Sets a field of the page's own awareness state (a new awareness clock). */
  set(field: string, value: unknown): Promise<void>
  /** The awareness state the page holds for `clientId`, or null. */
  stateOf(clientId: number): Promise<Record<string, unknown> | null>
  /** `provider.disconnect()`: closes the socket, as a tab losing its network does. */
  disconnect(): Promise<void>
  /** `provider.connect()` */
  connect(): Promise<void>
}

/** Opens a fresh browser context (its own tab) whose page runs `new WebsocketProvider(url, room, doc)`. */
export const openStockPage = async (
  browser: Browser,
  options: { url: string; room: string; name: string; errors: string[] },
): Promise<StockPage> => {
  const context = await browser.newContext()
  const page = await context.newPage()
  page.on('pageerror', (error) => options.errors.push(`${options.name}: ${error.message}`))
  await page.setContent('<!doctype html><title>stock y-websocket</title>')
  await page.addScriptTag({ content: await stockScript() })
  const clientId = await page.evaluate(
    ({ url, room, name }) => {
      const lib = window.StockYjs
      if (!lib) throw new Error('the stock client bundle did not load')
      const doc = new lib.Y.Doc()
      // disableBc: pages of one browser could otherwise reach each other without the node.
      const provider = new lib.WebsocketProvider(url, room, doc, { disableBc: true })
      provider.awareness.setLocalStateField('user', { name })
      window.stock = { doc, provider }
      return doc.clientID
    },
    { url: options.url, room: options.room, name: options.name },
  )
  return {
    page,
    clientId,
    synced: () =>
      page
        .waitForFunction(() => window.stock?.provider.synced === true, undefined, { timeout: 15_000 })
        .then(() => undefined),
    set: (field, value) =>
      page.evaluate(({ field, value }) => window.stock?.provider.awareness.setLocalStateField(field, value), {
        field,
        value,
      }),
    stateOf: (id) => page.evaluate((id) => window.stock?.provider.awareness.getStates().get(id) ?? null, id),
    disconnect: () => page.evaluate(() => window.stock?.provider.disconnect()),
    connect: () => page.evaluate(() => window.stock?.provider.connect()),
  }
}
