import { readdirSync, readFileSync } from 'node:fs'
import { dirname, extname, join, relative, sep } from 'node:path'
import { fileURLToPath } from 'node:url'

/** One built file of the inspector, held in memory (the whole build is a few dozen KB). */
interface Asset {
  body: Uint8Array<ArrayBuffer>
  type: string
  /** Vite puts a content hash in every asset name, so those never change under their URL. */
  immutable: boolean
}

/** What an inspector request is answered with; every adapter writes it as it is. */
export interface InspectorResponse {
  status: number
  /** Lower-case header names, `content-length` included. */
  headers: Record<string, string>
  body: Uint8Array<ArrayBuffer>
}

/**
 * Answers one request: a response for `<base>/inspector` and everything under it, undefined
 * for any other path or a method other than GET and HEAD (the app's own routing decides).
 * `path` is the request target; a query string is ignored. For HEAD, the server drops the body.
 */
export type InspectorHandler = (method: string, path: string) => InspectorResponse | undefined

/** Options of {@link createInspectorHandler}. */
export interface InspectorHandlerOptions {
  /** Base path of the Mesh endpoints; the inspector goes to `<base>/inspector/`. Default `/mesh`. */
  base?: string
  /** The build to serve. Default: the `dist` of the `@mesh/inspector` package, when installed. */
  dir?: string
}

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
}

const NOT_BUILT = `<!doctype html><meta charset="utf-8"><title>Mesh inspector</title>
<p>The Mesh inspector is not built. Run <code>npm run build</code> at the repository root
(it builds <code>web-inspector/dist</code>), then reload.</p>`

/**
 * Where `@mesh/inspector` keeps its build, or undefined when the package is not installed.
 * Resolved at run time only: the inspector is an optional peer, not a build dependency of core.
 */
export const inspectorDistDir = (): string | undefined => {
  try {
    return join(dirname(fileURLToPath(import.meta.resolve('@mesh/inspector/package.json'))), 'dist')
  } catch {
    return undefined
  }
}

const walk = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? walk(join(dir, entry.name)) : entry.isFile() ? [join(dir, entry.name)] : [],
  )

/**
 * Reads a built inspector into memory, keyed by URL path relative to the inspector root
 * (`index.html`, `assets/index-abc.js`). Requests are answered from this map only, so no
 * request path ever reaches the file system. Undefined when there is no build.
 */
const loadAssets = (dir: string): Map<string, Asset> | undefined => {
  let files: string[]
  try {
    files = walk(dir)
  } catch {
    return undefined
  }
  const assets = new Map<string, Asset>()
  for (const file of files) {
    const path = relative(dir, file).split(sep).join('/')
    assets.set(path, {
      body: new Uint8Array(readFileSync(file)),
      type: CONTENT_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream',
      immutable: path.startsWith('assets/'),
    })
  }
  return assets.has('index.html') ? assets : undefined
}

const encoder = new TextEncoder()

const respond = (status: number, type: string, body: Uint8Array<ArrayBuffer>, cache: string): InspectorResponse => ({
  status,
  headers: {
    'content-type': type,
    'content-length': String(body.byteLength),
    'cache-control': cache,
    'x-content-type-options': 'nosniff',
  },
  body,
})

/**
 * Serves the built web inspector at `<base>/inspector/`, for any framework: the adapter
 * passes each request's method and path and writes the answer, or moves on when there is
 * none. `<base>/inspector` redirects to `<base>/inspector/`, keeping the `#token=...`
 * fragment (browsers carry it across redirects). The build is read on first use and again
 * while missing, so building after the node started works too; until then every inspector
 * path answers a "not built" page with 503.
 *
 * @example
 * const inspector = createInspectorHandler({ base: '/mesh' })
 * const reply = inspector(req.method, req.url) // undefined: not an inspector request
 */
export const createInspectorHandler = (options: InspectorHandlerOptions = {}): InspectorHandler => {
  const root = `${(options.base ?? '/mesh').replace(/\/+$/, '')}/inspector`
  const dir = options.dir ?? inspectorDistDir()
  let assets: Map<string, Asset> | undefined
  return (method, target) => {
    if (method !== 'GET' && method !== 'HEAD') return undefined
    const path = target.split('?', 1)[0] ?? ''
    if (path === root) {
      // Relative asset URLs (Vite `base: './'`) resolve against the directory, so the page
      // must be served with the trailing slash. A relative Location survives outer prefixes.
      const reply = respond(302, 'text/plain; charset=utf-8', new Uint8Array(0), 'no-cache')
      reply.headers.location = 'inspector/'
      return reply
    }
    if (!path.startsWith(`${root}/`)) return undefined
    assets ??= dir === undefined ? undefined : loadAssets(dir)
    if (!assets) return respond(503, 'text/html; charset=utf-8', encoder.encode(NOT_BUILT), 'no-store')
    const file = path.slice(root.length + 1) || 'index.html'
    const asset = assets.get(file)
    if (!asset) {
      const body = encoder.encode(JSON.stringify({ error: `no inspector file ${file}` }))
      return respond(404, 'application/json; charset=utf-8', body, 'no-cache')
    }
    return respond(200, asset.type, asset.body, asset.immutable ? 'public, max-age=31536000, immutable' : 'no-cache')
  }
}
