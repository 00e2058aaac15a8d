import { MeshClientError } from './errors.js'

/** A value the store can hold and replicate. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue }

/** Longest key the store accepts, in UTF-16 code units (the same limit as a node's). */
export const MAX_KEY_LENGTH = 1024

const MAX_DEPTH = 64

/** Sets `key` on a plain object, including `__proto__`, without touching any prototype. */
export const defineJsonProperty = (target: Record<string, unknown>, key: string, value: unknown): void => {
  if (key === '__proto__') {
    Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true })
  } else {
    target[key] = value
  }
}

const check = (value: unknown, depth: number, path: string): JsonValue => {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value
    case 'number':
      if (!Number.isFinite(value))
        throw new MeshClientError('bad_request', `${path} is ${value}, which JSON cannot hold`)
      return value
    case 'object': {
      if (value === null) return null
      if (depth >= MAX_DEPTH) throw new MeshClientError('bad_request', `${path} nests deeper than ${MAX_DEPTH} levels`)
      if (Array.isArray(value)) return value.map((v, i) => check(v, depth + 1, `${path}[${i}]`))
      const proto: unknown = Object.getPrototypeOf(value)
      if (proto !== Object.prototype && proto !== null) {
        throw new MeshClientError('bad_request', `${path} is a class instance, not plain JSON`)
      }
      const out: Record<string, JsonValue> = {}
      for (const [k, v] of Object.entries(value)) {
        if (v === undefined) continue
        defineJsonProperty(out, k, check(v, depth + 1, `${path}.${k}`))
      }
      return out
    }
    default:
      throw new MeshClientError('bad_request', `${path} is ${typeof value}, not a JSON value`)
  }
}

/**
 * Validates that `value` is plain JSON and returns a private copy, so a caller mutating its
 * object after `put` cannot change the replica behind Yjs's back.
 */
export const toJsonValue = (value: unknown, name = 'value'): JsonValue => check(value, 0, name)

/** Throws a `bad_request` error unless `key` is a usable store key. */
export const assertKey = (key: unknown): string => {
  if (typeof key !== 'string' || key.length === 0)
    throw new MeshClientError('bad_request', 'key must be a non-empty string')
  if (key.length > MAX_KEY_LENGTH) {
    throw new MeshClientError('bad_request', `key is longer than ${MAX_KEY_LENGTH} characters`)
  }
  return key
}

/** Structural equality of two JSON values. */
export const jsonEqual = (a: unknown, b: unknown): boolean => {
  if (a === b) return true
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false
  if (Array.isArray(a) !== Array.isArray(b)) return false
  const ka = Object.keys(a)
  const kb = Object.keys(b)
  if (ka.length !== kb.length) return false
  for (const k of ka) {
    if (!Object.hasOwn(b, k)) return false
    if (!jsonEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) return false
  }
  return true
}
