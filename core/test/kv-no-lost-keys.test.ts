/**
 * No key the store only ever puts may vanish: replicas that write in their lanes (as nodes
 * under `merge` do, kv-placement.ts) or at the end, with random one-way syncs between them
 * (partitions, relays, stale peers), must end, once fully synced, holding every key, each with
 * a value that no later write of the same replica replaced. Every replica deletes a key's
 * entries but the rightmost, so a write placed left of the entry it replaced could lose to an
 * entry a third replica had already deleted in favour of that one: the chaos run lost its hot
 * keys that way (MESH_SEED=1531927573). `MESH_SEED` replays a run.
 */
import * as prng from 'lib0/prng'
import { expect, it } from 'vitest'
import * as Y from 'yjs'
import { KvIndex } from '../src/store/index.js'

const seed = Number(process.env.MESH_SEED ?? Math.floor(Math.random() * 2 ** 31))
const RUNS = 300
const STEPS = 80
const KEYS = ['k0', 'k1', 'k2']

interface Replica {
  name: string
  doc: Y.Doc
  kv: KvIndex
  /** Per key, the values this replica wrote, oldest first. */
  wrote: Map<string, number[]>
}

const replica = (gen: prng.PRNG, name: string): Replica => {
  const doc = new Y.Doc()
  doc.clientID = prng.uint32(gen, 1, 2 ** 31)
  const lanes = prng.int32(gen, 0, 3) > 0
  return {
    name: `${name}${lanes ? '' : '(end)'}`,
    doc,
    kv: new KvIndex(doc, { onChange: () => {}, lane: () => lanes }),
    wrote: new Map(),
  }
}

const sync = (from: Replica, to: Replica): void =>
  Y.applyUpdate(to.doc, Y.encodeStateAsUpdate(from.doc, Y.encodeStateVector(to.doc)), 'remote')

it(`a key that is only ever put survives any order of syncs, written in lanes or at the end (MESH_SEED=${seed})`, () => {
  const gen = prng.create(seed)
  let n = 0
  for (let run = 0; run < RUNS; run++) {
    const replicas = ['a', 'b', 'c', 'd'].map((name) => replica(gen, name))
    const log: string[] = []
    for (let i = 0; i < STEPS; i++) {
      const r = prng.oneOf(gen, replicas)
      const roll = prng.int32(gen, 0, 99)
      if (roll < 35) {
        // One key, or several in one push.
        const keys = [...new Set(Array.from({ length: prng.int32(gen, 1, 2) }, () => prng.oneOf(gen, KEYS)))]
        const writes = keys.map((key): [string, { key: string; val: number }] => [key, { key, val: ++n }])
        r.doc.transact((tr) => r.kv.write(tr, writes))
        for (const [key, { val }] of writes) r.wrote.set(key, [...(r.wrote.get(key) ?? []), val])
        log.push(`${r.name} put ${writes.map(([key, { val }]) => `${key}=${val}`).join(' ')}`)
      } else if (roll < 40) {
        // The app pushes an entry by hand (as y-utility's YKeyValue does), outside the lane.
        const key = prng.oneOf(gen, KEYS)
        r.doc.getArray('kv').push([{ key, val: ++n }])
        r.wrote.set(key, [...(r.wrote.get(key) ?? []), n])
        log.push(`${r.name} app push ${key}=${n}`)
      } else {
        const to = prng.oneOf(gen, replicas)
        if (to === r) continue
        sync(r, to)
        log.push(`sync ${r.name} -> ${to.name}`)
      }
    }
    for (let round = 0; round < 2; round++) for (const a of replicas) for (const b of replicas) if (a !== b) sync(a, b)
    const written = new Set(replicas.flatMap((r) => [...r.wrote.keys()]))
    const wrong: string[] = []
    for (const r of replicas) {
      for (const key of written) {
        const val = r.kv.entry(key)?.val
        if (val === undefined) wrong.push(`${r.name}: ${key} is lost`)
        for (const writer of replicas) {
          const own = writer.wrote.get(key) ?? []
          if (own.indexOf(val as number) >= 0 && own.indexOf(val as number) < own.length - 1)
            wrong.push(`${r.name}: ${key}=${JSON.stringify(val)}, which ${writer.name} overwrote later`)
        }
      }
    }
    expect(wrong, `run ${run} (MESH_SEED=${seed})\n${log.join('\n')}`).toEqual([])
  }
})
