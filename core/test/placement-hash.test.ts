import * as prng from 'lib0/prng'
import { describe, expect, it } from 'vitest'
import { SHARDS, shardOf } from '@mesh/core'
import { stableHash } from '../src/routing/placement.js'

const seed = Number(process.env.MESH_SEED ?? Math.floor(Math.random() * 2 ** 31))

/** The hash as placement first defined it: FNV-1a over `TextEncoder` bytes, murmur3's finalizer. */
const reference = (text: string): number => {
  let h = 0x811c9dc5
  for (const byte of new TextEncoder().encode(text)) {
    h ^= byte
    h = Math.imul(h, 0x01000193)
  }
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

describe(`shard hashing (MESH_SEED=${seed})`, () => {
  it('gives every id the shard it always had: ASCII, 2-, 3- and 4-byte UTF-8, lone surrogates', () => {
    // Pinned values: a change here moves ids between nodes of different versions.
    expect([stableHash(''), stableHash('user-42'), stableHash('é'), stableHash('€'), stableHash('😀')]).toEqual([
      reference(''),
      reference('user-42'),
      reference('é'),
      reference('€'),
      reference('😀'),
    ])
    expect(shardOf('user-42')).toBe(reference('user-42') % SHARDS)
    const gen = prng.create(seed)
    const units = [0x41, 0x7f, 0x80, 0x7ff, 0x800, 0xd7ff, 0xd800, 0xdbff, 0xdc00, 0xdfff, 0xe000, 0xfffd, 0xffff]
    for (let n = 0; n < 5000; n++) {
      const length = prng.uint32(gen, 0, 12)
      const codes: number[] = []
      for (let i = 0; i < length; i++) codes.push(prng.bool(gen) ? prng.oneOf(gen, units) : prng.uint32(gen, 0, 0xffff))
      const text = String.fromCharCode(...codes)
      // The codes in the message, should it fail: a lone surrogate prints badly.
      if (stableHash(text) !== reference(text))
        expect({ codes, hash: stableHash(text) }).toEqual({ codes, hash: reference(text) })
    }
  })
})
