import { expect } from 'vitest'
import type { MeshNode } from '../node/index.js'

/** How long an app's Mesh sockets get to finish their close handshake in {@link closeApp}. */
const CLOSE_GRACE_MS = 2000

/** What {@link closeApp} needs of a server: Node's `http.Server` and `@hono/node-server`'s fit. */
export interface ClosableServer {
  close(callback: () => void): unknown
}

/**
 * An adapter test's teardown, done as an application does it: the node leaves the mesh, then
 * the server closes; `cut` ends Mesh sockets that have not finished their close handshake
 * two seconds later (a detach function, or terminating the WebSocket server's clients), and
 * runs once more at the end.
 *
 * @example
 * return { url, node, teardown: () => closeApp(node, server, detach) }
 */
export const closeApp = async (node: MeshNode, server: ClosableServer, cut: () => void): Promise<void> => {
  await node.close()
  const closed = new Promise<void>((resolve) => server.close(() => resolve()))
  const force = setTimeout(cut, CLOSE_GRACE_MS)
  await closed
  clearTimeout(force)
  cut()
}

/**
 * Checks that an app serves the web inspector under `base`: the page (200, or the 503 "not
 * built" page when web-inspector/dist is missing, both titled), a hashed asset as immutable
 * JavaScript, 404 for a missing file, and the redirect of `<base>/inspector` to the slash.
 * `get` fetches a path of the app without following redirects.
 *
 * @example
 * await expectInspectorServed((path) => fetch(`${url}${path}`, { redirect: 'manual' }), '/cluster')
 */
export const expectInspectorServed = async (get: (path: string) => Promise<Response>, base: string): Promise<void> => {
  const page = await get(`${base}/inspector/`)
  const html = await page.text()
  expect([200, 503]).toContain(page.status)
  expect(page.headers.get('content-type')).toMatch(/^text\/html/)
  expect(html).toContain('<title>Mesh inspector</title>')
  const asset = /\.\/(assets\/[^"]+\.js)"/.exec(html)?.[1]
  if (page.status === 200 && asset) {
    const js = await get(`${base}/inspector/${asset}`)
    expect(js.status).toBe(200)
    expect(js.headers.get('content-type')).toMatch(/^text\/javascript/)
    expect(js.headers.get('cache-control')).toContain('immutable')
  }
  expect((await get(`${base}/inspector/no-such-file`)).status).toBe(page.status === 200 ? 404 : 503)
  const bare = await get(`${base}/inspector?x=1`)
  expect(bare.status).toBe(302)
  const location = new URL(bare.headers.get('location') ?? '', `http://app${base}/inspector`)
  expect(location.pathname).toBe(`${base}/inspector/`)
}
