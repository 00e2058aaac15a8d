import { existsSync, readFileSync, realpathSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The packages the page loads, directly or through @mesh/client. */
export const BROWSER_PACKAGES = [
  '@mesh/client',
  '@mesh/core',
  'yjs',
  'y-protocols',
  'y-utility',
  'y-indexeddb',
  'lib0',
  'isomorphic.js',
] as const

/** Conditions a browser build matches, as a bundler targeting browsers would. */
const CONDITIONS = new Set(['browser', 'import', 'module', 'default'])

type ExportTarget = string | null | ExportTarget[] | { [condition: string]: ExportTarget }

/** Picks a target from a conditional export the way Node does: first matching key in object order. */
const pick = (target: ExportTarget): string | undefined => {
  if (typeof target === 'string') return target
  if (target === null) return undefined
  if (Array.isArray(target)) {
    for (const t of target) {
      const found = pick(t)
      if (found) return found
    }
    return undefined
  }
  for (const [condition, value] of Object.entries(target)) {
    if (!CONDITIONS.has(condition)) continue
    const found = pick(value)
    if (found) return found
  }
  return undefined
}

/** Finds `node_modules/<name>` from this file upwards, following workspace symlinks. */
export const packageDir = (name: string): string => {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (;;) {
    const candidate = join(dir, 'node_modules', name)
    if (existsSync(join(candidate, 'package.json'))) return realpathSync(candidate)
    const parent = dirname(dir)
    if (parent === dir) throw new Error(`cannot find package ${name}; run npm install at the repository root`)
    dir = parent
  }
}

interface PackageJson {
  exports?: ExportTarget | Record<string, ExportTarget>
  module?: string
  browser?: string
  main?: string
}

/**
 * An import map for the browser: every bare specifier the page's modules use, mapped to
 * `${prefix}/<package>/<file>` per the package's `exports` (browser conditions). This is
 * what lets the page load `@mesh/client` and Yjs as plain ES modules, with no bundler.
 */
export const buildImportMap = (prefix: string): { imports: Record<string, string> } => {
  const imports: Record<string, string> = {}
  for (const name of BROWSER_PACKAGES) {
    const pkg = JSON.parse(readFileSync(join(packageDir(name), 'package.json'), 'utf8')) as PackageJson
    const exportsField = pkg.exports
    const subpaths: Record<string, ExportTarget> =
      typeof exportsField === 'object' &&
      exportsField !== null &&
      !Array.isArray(exportsField) &&
      Object.keys(exportsField).some((k) => k.startsWith('.'))
        ? exportsField
        : { '.': exportsField ?? pkg.module ?? pkg.browser ?? pkg.main ?? './index.js' }
    for (const [subpath, target] of Object.entries(subpaths)) {
      if (subpath.includes('*')) continue
      const file = pick(target)
      if (!file?.startsWith('./')) continue
      imports[`${name}${subpath.slice(1)}`] = `${prefix}/${name}/${file.slice(2)}`
    }
  }
  return { imports }
}
