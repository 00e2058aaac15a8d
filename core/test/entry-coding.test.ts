/**
 * The fast path for store entries in Mesh's Yjs encoders and decoders against lib0's own
 * `writeAny` / `readAny`: the same bytes for every value, the same value (fields in the same
 * order, the same prototype) for every encoding, including entries that only nearly look like
 * `{ key, val }`. Random values and hand-picked edges; `MESH_SEED` replays a run.
 */
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import * as prng from 'lib0/prng'
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { EntryDecoderV1, EntryDecoderV2, encodeStateV1, encodeStateV2 } from '../src/replication/index.js'
import { readEntryOrAny, writeEntryOrAny } from '../src/replication/entry-coding.js'

const seed = Number(process.env.MESH_SEED ?? Math.floor(Math.random() * 2 ** 31))

const STRINGS = [
  '',
  'k',
  'key',
  'val',
  'é',
  'ключ',
  '😀',
  '\u007f',
  '\u0080',
  'a'.repeat(64),
  'b'.repeat(65),
  'c'.repeat(200),
]

const randomString = (gen: prng.PRNG): string => {
  if (prng.bool(gen)) return prng.oneOf(gen, STRINGS)
  const len = prng.int32(gen, 0, 80)
  let text = ''
  for (let i = 0; i < len; i++)
    text += String.fromCharCode(
      prng.int32(gen, 0, 10) === 0 ? prng.int32(gen, 0x80, 0x7ff) : prng.int32(gen, 0x20, 0x7e),
    )
  return text
}

const randomValue = (gen: prng.PRNG, depth = 0): unknown => {
  switch (prng.int32(gen, 0, depth > 2 ? 6 : 9)) {
    case 0:
      return prng.int32(gen, -(2 ** 31), 2 ** 31 - 1)
    case 1:
      return prng.real53(gen) * 1e6
    case 2:
      return randomString(gen)
    case 3:
      return prng.bool(gen)
    case 4:
      return null
    case 5:
      return undefined
    case 6:
      return 2 ** 40 + prng.int32(gen, 0, 1000)
    case 7:
      return Array.from({ length: prng.int32(gen, 0, 3) }, () => randomValue(gen, depth + 1))
    default:
      return Object.fromEntries(
        Array.from({ length: prng.int32(gen, 0, 3) }, () => [randomString(gen), randomValue(gen, depth + 1)]),
      )
  }
}

/** Entries, most of the `{ key, val }` shape, some only nearly. */
const randomEntry = (gen: prng.PRNG): unknown => {
  const key = randomString(gen)
  const val = randomValue(gen)
  switch (prng.int32(gen, 0, 7)) {
    case 0:
      return { val, key }
    case 1:
      return { key, val, owner: randomString(gen) }
    case 2:
      return { key: prng.int32(gen, 0, 9), val }
    case 3:
      return { key }
    case 4:
      return randomValue(gen)
    default:
      return { key, val }
  }
}

const libBytes = (values: readonly unknown[]): Uint8Array => {
  const encoder = encoding.createEncoder()
  for (const value of values) encoding.writeAny(encoder, value as encoding.AnyEncodable)
  return encoding.toUint8Array(encoder)
}

const ownBytes = (values: readonly unknown[]): Uint8Array => {
  const encoder = encoding.createEncoder()
  for (const value of values) writeEntryOrAny(encoder, value)
  return encoding.toUint8Array(encoder)
}

/** Reads `count` values with `read`, each with its own keys in order and its prototype. */
const readAll = (bytes: Uint8Array, count: number, read: (d: decoding.Decoder) => unknown) => {
  const decoder = decoding.createDecoder(bytes)
  const values = Array.from({ length: count }, () => read(decoder))
  expect(decoder.pos).toBe(bytes.length)
  return values.map((value) =>
    typeof value === 'object' && value !== null
      ? { value, keys: Object.keys(value), proto: Object.getPrototypeOf(value) as unknown }
      : { value },
  )
}

describe(`Mesh's Yjs entry coding against lib0 (MESH_SEED=${seed})`, () => {
  it('writes the bytes lib0 writes and reads back what lib0 reads, for random entries', () => {
    const gen = prng.create(seed)
    // Thousands of values in one encoder: the fast path meets the end of lib0's buffer.
    const values = Array.from({ length: 5000 }, () => randomEntry(gen))
    const bytes = libBytes(values)
    expect(ownBytes(values)).toEqual(bytes)
    expect(readAll(bytes, values.length, readEntryOrAny)).toEqual(readAll(bytes, values.length, decoding.readAny))
  })

  it('reads near-entries as lib0 does: a `__proto__` field, a repeated field, a cut-off value', () => {
    const objects = (fields: Array<[string, unknown]>): Uint8Array => {
      const encoder = encoding.createEncoder()
      encoding.write(encoder, 118)
      encoding.writeVarUint(encoder, fields.length)
      for (const [name, value] of fields) {
        encoding.writeVarString(encoder, name)
        encoding.writeAny(encoder, value as encoding.AnyEncodable)
      }
      return encoding.toUint8Array(encoder)
    }
    for (const bytes of [
      objects([
        ['key', 'a'],
        ['__proto__', { x: 1 }],
      ]),
      objects([
        ['key', 'a'],
        ['val', 1],
        ['val', 2],
      ]),
      objects([
        ['key', 'a'],
        ['key', 'b'],
      ]),
      objects([
        ['key', 'é'],
        ['val', 'ü'],
      ]),
    ]) {
      expect(readAll(bytes, 1, readEntryOrAny)).toEqual(readAll(bytes, 1, decoding.readAny))
    }
    const whole = objects([
      ['key', 'abc'],
      ['val', 'def'],
    ])
    for (let cut = 1; cut < whole.length; cut++) {
      const part = whole.subarray(0, cut)
      expect(() => readEntryOrAny(decoding.createDecoder(part)), `cut at ${cut}`).toThrow()
    }
  })

  it('reads each field of an entry once: a getter that changes its answer cannot corrupt what follows', () => {
    let reads = 0
    const shifty = {
      get key(): unknown {
        return reads++ === 0 ? 'a' : 5
      },
      val: 1,
    }
    const bytes = ownBytes([shifty, { key: 'b', val: 2 }])
    expect(reads).toBe(1)
    const [first, second] = readAll(bytes, 2, decoding.readAny)
    expect(first?.value).toEqual({ key: 'a', val: 1 })
    expect(second?.value).toEqual({ key: 'b', val: 2 })
  })

  it('encodes and applies a store state as Yjs does, V1 and V2', () => {
    const gen = prng.create(seed + 1)
    const doc = new Y.Doc()
    const array = doc.getArray<unknown>('kv')
    for (let t = 0; t < 20; t++)
      doc.transact(() => array.push(Array.from({ length: 50 }, () => randomEntry(gen) ?? { key: 'k', val: 0 })))
    doc.transact(() => array.delete(10, 300))
    expect(encodeStateV2(doc)).toEqual(Y.encodeStateAsUpdateV2(doc))
    expect(encodeStateV1(doc)).toEqual(Y.encodeStateAsUpdate(doc))
    const v2 = new Y.Doc()
    Y.applyUpdateV2(v2, encodeStateV2(doc), null, EntryDecoderV2)
    const v1 = new Y.Doc()
    Y.applyUpdateV2(v1, encodeStateV1(doc), null, EntryDecoderV1)
    for (const copy of [v1, v2]) {
      expect(copy.getArray('kv').toJSON()).toEqual(array.toJSON())
      expect(Y.encodeStateAsUpdateV2(copy)).toEqual(Y.encodeStateAsUpdateV2(doc))
    }
  })
})
