import { readdirSync, readFileSync } from 'node:fs'
import { dirname, extname, join, relative, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Context, Env, Hono } from 'hono'

/** One built file of the inspector, held in memory (the whole build is a few dozen KB). */
interface Asset {
  body: Uint8Array<ArrayBuffer>
  type: string
  /** Vite puts a content hash in every asset name, so those never change under their URL. */
  immutable: boolean
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

/** Where `@mesh/inspector` keeps its build, or undefined when the package is not installed. */
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
export const loadInspectorAssets = (dir: string): Map<string, Asset> | undefined => {
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

const NOT_BUILT = `<!doctype html><meta charset="utf-8"><title>Mesh inspector</title>
<p>The Mesh inspector is not built. Run <code>npm run build</code> at the repository root
(it builds <code>web-inspector/dist</code>), then reload.</p>`

/** Options of {@link mountInspector}. */
export interface InspectorMountOptions {
  /** Base path of the Mesh endpoints, e.g. `/mesh`; the inspector goes to `<base>/inspector/`. */
  base: string
  /** The build to serve. Default: `@mesh/inspector`'s `dist`. */
  dir?: string
}

/**
 * Serves the built web inspector at `<base>/inspector/` (`<base>/inspector` redirects there,
 * keeping the `#token=...` fragment: browsers carry it across redirects). The build is read
 * on first use and again while missing, so building after the node started works too.
 */
export const mountInspector = <E extends Env>(app: Hono<E>, options: InspectorMountOptions): Hono<E> => {
  const root = `${options.base}/inspector`
  const dir = options.dir ?? inspectorDistDir()
  let assets: Map<string, Asset> | undefined
  const load = () => (assets ??= dir === undefined ? undefined : loadInspectorAssets(dir))

  // Relative asset URLs (Vite `base: './'`) resolve against the directory, so the page must
  // be served with the trailing slash.
  app.get(root, (c) => c.redirect(`${root}/`, 302))
  app.get(`${root}/*`, (c: Context<E>) => {
    const files = load()
    if (!files) return c.html(NOT_BUILT, 503)
    const path = c.req.path.slice(root.length + 1) || 'index.html'
    const asset = files.get(path)
    if (!asset) return c.json({ error: `no inspector file ${path}` }, 404)
    return c.body(asset.body, 200, {
      'content-type': asset.type,
      'cache-control': asset.immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
      'x-content-type-options': 'nosniff',
    })
  })
  return app
}
