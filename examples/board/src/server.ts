import { readFile } from 'node:fs/promises'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { extname, join, relative, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { BROWSER_PACKAGES, buildImportMap, packageDir } from './import-map.js'

/** Options of {@link serveBoard}. */
export interface BoardServerOptions {
  /** Default 0: any free port. */
  port?: number
  /** Default `127.0.0.1`. */
  host?: string
  /**
   * Node URLs the page connects to when its address names none (`?node=` overrides them).
   * Default: `ws://<page host>:4000/mesh`, where `mesh serve` listens by default.
   */
  nodes?: readonly string[]
}

/** A running board server. */
export interface BoardServer {
  /** `http://host:port` */
  url: string
  server: http.Server
  close(): Promise<void>
}

const MODULES = '/modules'
const here = fileURLToPath(new URL('.', import.meta.url))
const PUBLIC = resolve(here, '../public')
const DIST = resolve(here)

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
}

/** `root/rel` if it stays inside `root`, else `undefined` (no `..` escapes). */
const inside = (root: string, rel: string): string | undefined => {
  const file = resolve(root, `.${sep}${rel}`)
  const back = relative(root, file)
  return back.startsWith('..') ? undefined : file
}

const escapeAttr = (text: string): string => text.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;')

/**
 * Serves the feature-flag board: the page, its script, and the ES modules of `@mesh/client`
 * and Yjs from node_modules through an import map. It proxies nothing: the page opens its
 * WebSocket straight to a Mesh node.
 *
 * @example
 * const board = await serveBoard({ port: 8080, nodes: ['ws://127.0.0.1:4000/mesh'] })
 * console.log(`open ${board.url}`)
 */
export const serveBoard = async (options: BoardServerOptions = {}): Promise<BoardServer> => {
  const importMap = JSON.stringify(buildImportMap(MODULES), null, 2)
  const roots = new Map(BROWSER_PACKAGES.map((name) => [name, packageDir(name)]))
  const template = await readFile(join(PUBLIC, 'index.html'), 'utf8')
  const page = (host: string) => {
    const nodes = options.nodes?.join(',') ?? `ws://${host.replace(/:\d+$/, '')}:4000/mesh`
    return template
      .replace('<!-- import-map -->', `<script type="importmap">\n${importMap}\n</script>`)
      .replace('<!-- default-nodes -->', `<meta name="mesh-nodes" content="${escapeAttr(nodes)}" />`)
  }

  const locate = (pathname: string): string | undefined => {
    if (pathname === '/board.css') return join(PUBLIC, 'board.css')
    if (pathname === '/board.js' || pathname === '/board.js.map') return join(DIST, pathname.slice(1))
    if (!pathname.startsWith(`${MODULES}/`)) return undefined
    const rest = pathname.slice(MODULES.length + 1)
    for (const [name, root] of roots) {
      if (rest.startsWith(`${name}/`)) return inside(root, rest.slice(name.length + 1))
    }
    return undefined
  }

  const server = http.createServer((req, res) => {
    void (async () => {
      if (req.method !== 'GET' && req.method !== 'HEAD') return res.writeHead(405).end()
      let pathname: string
      try {
        pathname = decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname)
      } catch {
        return res.writeHead(400).end()
      }
      if (pathname === '/' || pathname === '/index.html') {
        const body = page(req.headers.host ?? '127.0.0.1')
        res.writeHead(200, { 'content-type': TYPES['.html'], 'cache-control': 'no-store' })
        return res.end(req.method === 'HEAD' ? undefined : body)
      }
      const file = locate(pathname)
      const type = file && TYPES[extname(file)]
      if (!file || !type) return res.writeHead(404, { 'content-type': 'text/plain' }).end('not found')
      try {
        const body = await readFile(file)
        res.writeHead(200, { 'content-type': type, 'cache-control': 'no-cache' })
        res.end(req.method === 'HEAD' ? undefined : body)
      } catch {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found')
      }
    })()
  })
  await new Promise<void>((ready, fail) => {
    server.once('error', fail)
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', fail)
      ready()
    })
  })
  const address = server.address() as AddressInfo
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address
  return {
    url: `http://${host}:${address.port}`,
    server,
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>((done) => server.close(() => done()))
    },
  }
}
