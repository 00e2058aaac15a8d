/** A base path without its trailing slashes, `/mesh` when none is given: `/cluster/` → `/cluster`. */
export const trimBase = (basePath = '/mesh'): string => basePath.replace(/\/+$/, '')

/**
 * The path of a request target below `prefix`, still percent-encoded (`/kv/a%2Fb` of
 * `/mesh/api/kv/a%2Fb?x=1` below `/mesh/api`), `/` for the prefix itself, or undefined when the
 * target lies elsewhere (`/mesh/apix` is not below `/mesh/api`).
 */
export const pathBelow = (prefix: string, target: string): string | undefined => {
  const path = target.split('?', 1)[0] ?? ''
  if (path === prefix) return '/'
  return path.startsWith(`${prefix}/`) ? path.slice(prefix.length) : undefined
}

/** A declared `content-length`, or undefined when it is missing or not a number. */
export const declaredLength = (value: string | null | undefined): number | undefined => {
  const length = value == null ? NaN : Number(value)
  return Number.isFinite(length) ? length : undefined
}
