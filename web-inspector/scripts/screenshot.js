// Makes the README's inspector screenshot (docs/inspector.png): three nodes and two browser
// tabs on 127.0.0.1, one healed partition in the merge timeline, and a second partition in
// progress ({a} | {b, c}) with a divergent key. Needs `npm run build` and /usr/bin/chromium.
// Usage: node web-inspector/scripts/screenshot.js [out.png]
import { randomBytes } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { serve } from '@mesh/cli'
import { MeshClient } from '@mesh/client'
import { chromium } from 'playwright-core'
import WebSocket from 'ws'

const out = process.argv[2] ?? fileURLToPath(new URL('../../docs/inspector.png', import.meta.url))
const token = randomBytes(16).toString('hex')
const nodes = []
const tabs = []
let browser

/** Cuts or heals the link between two nodes on both ends, as the inspector does. */
const link = async (action, x, y) => {
  for (const [from, to] of [
    [x, y],
    [y, x],
  ]) {
    const res = await fetch(`${from.url}/mesh/api/control/${action}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ peer: to.node.id }),
    })
    if (!res.ok) throw new Error(`${action} ${from.node.name}→${to.node.name}: ${res.status} ${await res.text()}`)
  }
}

/** Waits for a condition in the page; the message says what never showed. */
const until = async (page, what, check, arg = null) => {
  try {
    await page.waitForFunction(check, arg, { timeout: 20_000 })
  } catch {
    throw new Error(`the inspector never showed: ${what}`)
  }
}

try {
  const a = await serve({ port: 0, name: 'a', controlToken: token })
  const b = await serve({ port: 0, name: 'b', join: [a.peerUrl], controlToken: token })
  const c = await serve({ port: 0, name: 'c', join: [b.peerUrl], controlToken: token })
  nodes.push(a, b, c)
  tabs.push(new MeshClient({ urls: [a.peerUrl], name: 'Ada', WebSocket }))
  tabs.push(new MeshClient({ urls: [c.peerUrl], name: 'Bob', WebSocket }))
  await a.node.put({ color: 'blue', theme: { dark: true }, 'feature:search': true, limit: 100 })
  await b.node.put({ 'flags:beta': false, 'banner:text': 'Welcome back!' })

  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  })
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } })
  await page.goto(`${a.url}/mesh/inspector#token=${token}`)
  await until(page, 'three nodes and two tabs', () => {
    const links = document.querySelectorAll('.graph .link[data-state="connected"]').length
    return links === 3 && document.querySelectorAll('.graph .light-peer').length === 2
  })

  // A first partition, healed: the merge timeline gets its entry.
  await link('cut', a, b)
  await link('cut', a, c)
  await a.node.put('limit', 200)
  await c.node.put('limit', 150)
  await until(page, 'limit divergent', () => document.querySelector('.key-row[data-key="limit"].divergent') !== null)
  await link('heal', a, b)
  await link('heal', a, c)
  await until(page, 'the merge agreed', () => document.querySelector('.episode[data-agreed="true"]') !== null)

  // A second partition, in progress: {a} | {b, c}, and color written on both sides.
  await link('cut', a, b)
  await link('cut', a, c)
  await a.node.put('color', 'red')
  await c.node.put('color', 'green')
  await until(
    page,
    'color divergent and two links cut',
    () =>
      document.querySelector('.key-row[data-key="color"].divergent') !== null &&
      document.querySelectorAll('.graph .link[data-state="cut"]').length === 2,
  )
  await page.screenshot({ path: out })
  console.log(`screenshot: ${out}`)
} finally {
  await browser?.close()
  for (const tab of tabs) tab.close()
  await Promise.all(nodes.map((n) => n.close()))
}
