import { MeshError } from './errors.js'

import type { JsonValue } from './json-value.js'

export type { JsonValue }

/**
 * How many arrays and objects a stored value may nest in one another: `[[1]]` nests 2. Deeper
 * values are refused (a `bad_request` MeshError from `put`, 400 from REST, close 4403 for a
 * light peer): lib0 reads and writes values recursively, so a value thousands of levels deep
 * overflows the stack of every replica that decodes or serves it.
 */
export const MAX_VALUE_DEPTH = 64

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

/** `String.prototype.isWellFormed` (ES2024; Node 20 has it), about 3× faster than the pattern. */
const nativeWellFormed = (String.prototype as { isWellFormed?: unknown }).isWellFormed !== undefined

/** False when `text` holds a lone UTF-16 surrogate, which UTF-8 (and so replication) cannot carry. */
export const isWellFormed: (text: string) => boolean = nativeWellFormed
  ? (text) => (text as unknown as { isWellFormed(): boolean }).isWellFormed()
  : (text) => !LONE_SURROGATE.test(text)

const wellFormed = (text: string, path: string): string => {
  // lib0 writes strings as UTF-8, so a lone surrogate would reach every replica as U+FFFD.
  if (!isWellFormed(text)) throw new MeshError('bad_request', `${path} contains a lone UTF-16 surrogate`)
  return text
}

const check = (value: unknown, depth: number, path: string): JsonValue => {
  switch (typeof value) {
    case 'string':
      return wellFormed(value, path)
    case 'boolean':
      return value
    case 'number':
      if (!Number.isFinite(value)) throw new MeshError('bad_request', `${path} is ${value}, which JSON cannot hold`)
      return value
    case 'object': {
      if (value === null) return null
      if (depth >= MAX_VALUE_DEPTH) {
        throw new MeshError('bad_request', `${path} nests deeper than ${MAX_VALUE_DEPTH} levels (MAX_VALUE_DEPTH)`)
      }
      if (Array.isArray(value)) return value.map((v, i) => check(v, depth + 1, `${path}[${i}]`))
      const proto: unknown = Object.getPrototypeOf(value)
      if (proto !== Object.prototype && proto !== null) {
        const name = (proto as { constructor?: { name?: unknown } }).constructor?.name
        throw new MeshError(
          'bad_request',
          `${path} is a ${typeof name === 'string' ? name : 'class instance'}, not plain JSON`,
        )
      }
      const out: Record<string, JsonValue> = {}
      for (const [k, v] of Object.entries(value)) {
        if (v === undefined) continue
        // Replicas decode objects by assignment, where "__proto__" would set the prototype.
        if (k === '__proto__')
          throw new MeshError('bad_request', `${path} has a "__proto__" key, which cannot replicate`)
        defineJsonProperty(out, wellFormed(k, `a key in ${path}`), check(v, depth + 1, `${path}.${k}`))
      }
      return out
    }
    default:
      throw new MeshError('bad_request', `${path} is ${typeof value}, not a JSON value`)
  }
}

/**
 * Validates that `value` is plain JSON and returns a private copy (primitives as they are),
 * so a caller mutating its object after `put` cannot change the replica behind Yjs's back.
 */
export const toJsonValue = (value: unknown, name = 'value'): JsonValue => check(value, 0, name)

/** Sets `key` on a plain object, including `__proto__`, without touching any prototype. */
export const defineJsonProperty = (target: Record<string, unknown>, key: string, value: unknown): void => {
  if (key === '__proto__') {
    Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true })
  } else {
    target[key] = value
  }
}

/**
 * Makes a stored value safe for `JSON.stringify`: light peers write raw Yjs, which can hold
 * a BigInt (a safe integer becomes a number, a larger one a string), bytes (an array of
 * numbers) or a shared type (its JSON). Returns the value itself when nothing needs changing.
 */
export const toJsonSafe = (value: unknown): unknown => {
  switch (typeof value) {
    case 'bigint':
      return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString()
    case 'undefined':
      return null
    case 'object': {
      if (value === null) return null
      if (value instanceof Uint8Array) return Array.from(value)
      if (typeof (value as { toJSON?: unknown }).toJSON === 'function')
        return toJsonSafe((value as { toJSON(): unknown }).toJSON())
      if (Array.isArray(value)) {
        let copy: unknown[] | undefined
        value.forEach((v, i) => {
          const safe = toJsonSafe(v)
          if (safe !== v) (copy ??= [...(value as unknown[])])[i] = safe
        })
        return copy ?? value
      }
      let copy: Record<string, unknown> | undefined
      for (const [k, v] of Object.entries(value)) {
        const safe = toJsonSafe(v)
        if (safe !== v) defineJsonProperty((copy ??= { ...value }), k, safe)
      }
      return copy ?? value
    }
    default:
      return value
  }
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
