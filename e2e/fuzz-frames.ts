/**
 * Frame generators of the fuzzer (e2e/fuzz-engine.ts). The wire format is re-encoded here
 * from the header of core/src/replication/protocol.ts (on purpose: an independent reading of the spec),
 * and every generator is a pure function of a seeded lib0 PRNG, so a seed replays the same
 * frames (cases that build on the node's live state, see Mirror, replay the same attack on
 * whatever that state is then). A "case" is one socket (or one REST request): the frames to
 * send and which family of attack they belong to.
 */
import * as encoding from 'lib0/encoding'
import * as prng from 'lib0/prng'
import { Awareness, encodeAwarenessUpdate } from 'y-protocols/awareness'
import { YKeyValue } from 'y-utility/y-keyvalue'
import * as Y from 'yjs'

/** Peer-link message types (core/src/replication/protocol.ts). */
export const PeerType = {
  hello: 16,
  state: 17,
  diff: 18,
  updates: 19,
  awareness: 20,
  hold: 21,
  /** Retired (protocol version 1); the node refuses it as unknown. */
  fetch: 22,
  /** Retired (protocol version 1); the node refuses it as unknown. */
  full: 23,
  leave: 24,
  gossip: 25,
  prove: 26,
  check: 27,
  repair: 28,
  /** Several small frames in one message (protocol version 3). */
  batch: 40,
} as const

/** Light-peer (y-protocols) message types. */
export const LightType = { sync: 0, awareness: 1, auth: 2, queryAwareness: 3 } as const

/** The protocol version of peer links this fuzzer speaks. */
export const PROTOCOL_VERSION = 8

/** One WebSocket frame: binary, or a text frame (which the protocol forbids). */
export type Frame = Uint8Array | { text: string }

/** Where a case is sent. */
export type Target =
  /** `/mesh`, garbage instead of (or as) the hello. */
  | 'peer'
  /** `/mesh`, after a valid hello and prove. */
  | 'peer-open'
  /** `/mesh/:room`. */
  | 'light'
  /** The REST API. */
  | 'rest'

/** One socket's worth of attack. */
export interface SocketCase {
  target: Exclude<Target, 'rest'>
  family: string
  /** Light peers: the room in the URL path (already percent-encoded when it needs to be). */
  room?: string
  frames: Frame[]
  /**
   * What must happen: the node closes the socket with this code (4403 for what light peers may
   * not write), or takes every frame. Unset: a 44xx close and acceptance are both fine.
   */
  expect?: number | 'accepted'
  /** What the case tries, for the report. */
  note?: string
  /** String keys of the entries it writes, to find one the store then chokes on. */
  keys?: string[]
}

/** One REST request. */
export interface RestCase {
  target: 'rest'
  family: string
  method: string
  /** Below `/mesh/api`, with the query string. */
  path: string
  headers?: Record<string, string>
  body?: string
}

/** A generated case. */
export type FuzzCase = SocketCase | RestCase

/** Values the generators need from the running test. */
export interface FuzzContext {
  /** Awareness client id of the honest light peer, to target with forged entries. */
  honestClientId: number
  /** Yjs client id of the honest writer (forged updates must not be able to reuse it). */
  honestDocClientId: number
  /**
   * What the honest writer's replica of room `default` holds (node A's state, give or take what
   * is in flight): hostile updates that must integrate refer to it. Cases built on it depend on
   * the live state as well as on the seed.
   */
  mirror?: Mirror
}

/** An item id: Yjs client id and clock. */
export interface Id {
  client: number
  clock: number
}

/** A read-only view of a replica of room `default`, for building updates that integrate. */
export interface Mirror {
  /** Id of the last element of array `kv` (deleted or not): an insertion after it lands rightmost. */
  rightmost(): Id | undefined
  /** Next clock of `client` in the replica (0 if unknown). */
  state(client: number): number
  /** Live elements of array `kv` whose key starts with `prefix`, oldest first. */
  live(prefix: string): Array<Id & { key: string }>
  /** A key the honest writer wrote recently, if any. */
  recentHonestKey(gen: prng.PRNG): string | undefined
}

/** Keys under this prefix come from entries the node must refuse or ignore: the store never lists one. */
export const FORBIDDEN_PREFIX = 'bad:'

/**
 * Keys that entries with a non-string key would get if a replica coerced it (`String(key)`):
 * the store never lists one. The empty key is in it too (an empty key is not a key).
 */
export const FORBIDDEN_KEYS: readonly string[] = ['', '424242', 'true', 'null', 'bad-array-key', '[object Object]']

/** Keys under this prefix hold odd but storable values: both nodes and every client must agree on them. */
export const ODD_PREFIX = 'odd:'

type Gen = prng.PRNG

const bytesOf = (write: (e: encoding.Encoder) => void): Uint8Array => {
  const e = encoding.createEncoder()
  write(e)
  return encoding.toUint8Array(e)
}

/** Encoders of well-formed peer-link frames. */
export const peerFrame = {
  hello: (h: {
    version?: number
    nodeId: string
    name: string
    url: string
    clientId: number
    onConflict?: string
    nonce?: string
    proof?: string
  }) =>
    bytesOf((e) => {
      encoding.writeVarUint(e, PeerType.hello)
      encoding.writeVarUint(e, h.version ?? PROTOCOL_VERSION)
      encoding.writeVarString(e, h.nodeId)
      encoding.writeVarString(e, h.name)
      encoding.writeVarString(e, h.url)
      encoding.writeVarUint(e, h.clientId)
      encoding.writeVarString(e, h.onConflict ?? 'merge')
      encoding.writeVarString(e, h.nonce ?? 'fuzz-nonce-0123456789')
      encoding.writeVarString(e, h.proof ?? '')
    }),
  prove: (proof = '') =>
    bytesOf((e) => {
      encoding.writeVarUint(e, PeerType.prove)
      encoding.writeVarString(e, proof)
    }),
  state: (room: string, snapshot: Uint8Array, resolution = 0) =>
    bytesOf((e) => {
      encoding.writeVarUint(e, PeerType.state)
      encoding.writeVarString(e, room)
      encoding.writeVarUint(e, resolution)
      encoding.writeVarUint8Array(e, snapshot)
    }),
  diff: (room: string, update: Uint8Array, changed: string) =>
    bytesOf((e) => {
      encoding.writeVarUint(e, PeerType.diff)
      encoding.writeVarString(e, room)
      encoding.writeVarUint8Array(e, update)
      encoding.writeVarString(e, changed)
    }),
  updates: (room: string, updates: readonly Uint8Array[], declared = updates.length) =>
    bytesOf((e) => {
      encoding.writeVarUint(e, PeerType.updates)
      encoding.writeVarString(e, room)
      encoding.writeVarUint(e, declared)
      for (const u of updates) encoding.writeVarUint8Array(e, u)
    }),
  awareness: (room: string, update: Uint8Array) =>
    bytesOf((e) => {
      encoding.writeVarUint(e, PeerType.awareness)
      encoding.writeVarString(e, room)
      encoding.writeVarUint8Array(e, update)
    }),
  hold: (room: string, changed: string) =>
    bytesOf((e) => {
      encoding.writeVarUint(e, PeerType.hold)
      encoding.writeVarString(e, room)
      encoding.writeVarString(e, changed)
    }),
  fetch: (room: string, changed: string) =>
    bytesOf((e) => {
      encoding.writeVarUint(e, PeerType.fetch)
      encoding.writeVarString(e, room)
      encoding.writeVarString(e, changed)
    }),
  full: (room: string, update: Uint8Array) =>
    bytesOf((e) => {
      encoding.writeVarUint(e, PeerType.full)
      encoding.writeVarString(e, room)
      encoding.writeVarUint8Array(e, update)
    }),
  leave: (reason: string) =>
    bytesOf((e) => {
      encoding.writeVarUint(e, PeerType.leave)
      encoding.writeVarString(e, reason)
    }),
  gossip: (json: string) =>
    bytesOf((e) => {
      encoding.writeVarUint(e, PeerType.gossip)
      encoding.writeVarString(e, json)
    }),
  check: (room: string, snapshot: Uint8Array, reply = 0) =>
    bytesOf((e) => {
      encoding.writeVarUint(e, PeerType.check)
      encoding.writeVarString(e, room)
      encoding.writeVarUint8Array(e, snapshot)
      encoding.writeVarUint(e, reply)
    }),
  repair: (room: string, update: Uint8Array) =>
    bytesOf((e) => {
      encoding.writeVarUint(e, PeerType.repair)
      encoding.writeVarString(e, room)
      encoding.writeVarUint8Array(e, update)
    }),
  /** `count` may lie about how many frames follow. */
  batch: (frames: readonly Uint8Array[], count = frames.length) =>
    bytesOf((e) => {
      encoding.writeVarUint(e, PeerType.batch)
      encoding.writeVarUint(e, count)
      for (const frame of frames) encoding.writeVarUint8Array(e, frame)
    }),
}

/** Encoders of well-formed light-peer (y-protocols) frames. */
export const lightFrame = {
  sync: (sub: number, payload: Uint8Array) =>
    bytesOf((e) => {
      encoding.writeVarUint(e, LightType.sync)
      encoding.writeVarUint(e, sub)
      encoding.writeVarUint8Array(e, payload)
    }),
  awareness: (update: Uint8Array) =>
    bytesOf((e) => {
      encoding.writeVarUint(e, LightType.awareness)
      encoding.writeVarUint8Array(e, update)
    }),
  auth: (reason: string) =>
    bytesOf((e) => {
      encoding.writeVarUint(e, LightType.auth)
      encoding.writeVarUint(e, 0)
      encoding.writeVarString(e, reason)
    }),
  queryAwareness: () => bytesOf((e) => encoding.writeVarUint(e, LightType.queryAwareness)),
}

/** An awareness update with hand-written entries (any client id, clock and state text). */
export const awarenessUpdate = (entries: ReadonlyArray<{ clientId: number; clock: number; state: string }>) =>
  bytesOf((e) => {
    encoding.writeVarUint(e, entries.length)
    for (const entry of entries) {
      encoding.writeVarUint(e, entry.clientId)
      encoding.writeVarUint(e, entry.clock)
      encoding.writeVarString(e, entry.state)
    }
  })

/**
 * A V1 update of one client made of GC (0) or Skip (10) structs with the given lengths:
 * tiny on the wire, but it claims whatever clock range the lengths add up to.
 */
export const gcUpdateV1 = (client: number, clock: number, lens: readonly number[], info: 0 | 10 = 0) =>
  bytesOf((e) => {
    encoding.writeVarUint(e, 1)
    encoding.writeVarUint(e, lens.length)
    encoding.writeVarUint(e, client)
    encoding.writeVarUint(e, clock)
    for (const len of lens) {
      encoding.writeUint8(e, info)
      encoding.writeVarUint(e, len)
    }
    encoding.writeVarUint(e, 0)
  })

/**
 * A V2 update that declares `structs` GC structs of one client; the run-length encoded
 * columns repeat one info byte and one length forever, so a 40-byte message decodes into as
 * many structs as it declares.
 */
export const rleBombV2 = (client: number, structs: number) => {
  const column = (write: (e: encoding.Encoder) => void) => bytesOf(write)
  return bytesOf((e) => {
    encoding.writeVarUint(e, 0) // feature flag
    encoding.writeVarUint8Array(e, new Uint8Array()) // key clocks
    encoding.writeVarUint8Array(
      e,
      column((c) => encoding.writeVarInt(c, client)),
    ) // clients
    encoding.writeVarUint8Array(e, new Uint8Array()) // left clocks
    encoding.writeVarUint8Array(e, new Uint8Array()) // right clocks
    encoding.writeVarUint8Array(e, new Uint8Array([0])) // info: GC, repeated forever
    encoding.writeVarUint8Array(e, new Uint8Array([0])) // strings: ''
    encoding.writeVarUint8Array(e, new Uint8Array()) // parent info
    encoding.writeVarUint8Array(e, new Uint8Array()) // type refs
    encoding.writeVarUint8Array(
      e,
      column((c) => {
        encoding.writeVarInt(c, -1) // length 1, then a repeat count
        encoding.writeVarUint(c, 2 ** 40)
      }),
    )
    encoding.writeVarUint(e, 1) // one client
    encoding.writeVarUint(e, structs)
    encoding.writeVarUint(e, 0) // first clock
    encoding.writeVarUint(e, 0) // empty delete set
  })
}

// ------------------------------------------------------------------ mutations

/** Flips 1–4 random bits. */
export const flipBits = (gen: Gen, bytes: Uint8Array): Uint8Array => {
  const out = bytes.slice()
  if (out.length === 0) return out
  const n = prng.int31(gen, 1, 4)
  for (let i = 0; i < n; i++) {
    const at = prng.int31(gen, 0, out.length - 1)
    out[at] = (out[at] ?? 0) ^ (1 << prng.int31(gen, 0, 7))
  }
  return out
}

const concat = (...parts: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

/** One random structural mutation: bit flips, truncation, duplication, insertion, byte overwrite, or a swap. */
export const mutate = (gen: Gen, bytes: Uint8Array): Uint8Array => {
  if (bytes.length === 0) return prng.uint8Array(gen, prng.int31(gen, 1, 8))
  const at = prng.int31(gen, 0, bytes.length - 1)
  switch (prng.int31(gen, 0, 6)) {
    case 0:
      return flipBits(gen, bytes)
    case 1:
      return bytes.slice(0, at) // truncation
    case 2: {
      const end = prng.int31(gen, at, Math.min(bytes.length, at + 64))
      return concat(bytes.slice(0, end), bytes.slice(at, end), bytes.slice(end)) // duplicated chunk
    }
    case 3:
      return concat(bytes.slice(0, at), prng.uint8Array(gen, prng.int31(gen, 1, 16)), bytes.slice(at))
    case 4: {
      const out = bytes.slice()
      out[at] = prng.oneOf(gen, [0x00, 0x7f, 0x80, 0xff, 0x01, 0x40])
      return out
    }
    case 5:
      return concat(bytes, bytes) // the whole message twice in one frame: trailing bytes
    default: {
      const out = bytes.slice()
      const other = prng.int31(gen, 0, bytes.length - 1)
      const a = out[at] ?? 0
      out[at] = out[other] ?? 0
      out[other] = a
      return out
    }
  }
}

/** A varUint that never ends (every byte has the continuation bit), or one that is too long. */
const badVarint = (gen: Gen): Uint8Array => {
  switch (prng.int31(gen, 0, 3)) {
    case 0:
      return new Uint8Array(prng.int31(gen, 1, 12)).fill(0xff) // truncated: no final byte
    case 1:
      return concat(new Uint8Array(prng.int31(gen, 8, 20)).fill(0xff), new Uint8Array([0x7f])) // beyond 2^53
    case 2:
      return new Uint8Array([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]) // overlong zero padding
    default:
      return bytesOf((e) => encoding.writeVarUint(e, Number.MAX_SAFE_INTEGER))
  }
}

/** A length prefix that promises far more bytes than follow. */
const hugeLength = (gen: Gen): Uint8Array =>
  bytesOf((e) => encoding.writeVarUint(e, prng.oneOf(gen, [2 ** 31, 2 ** 32 - 1, 2 ** 40, 2 ** 52, 1e6, 65_536])))

const randomString = (gen: Gen, max = 24): string =>
  prng.int31(gen, 0, 3) === 0 ? prng.utf16String(gen, max) : prng.word(gen, 0, max)

/** Keys that would pollute a prototype if anyone assigned them on a plain object. */
export const PROTO_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', '__defineGetter__']

const pollutingJson = (gen: Gen): string =>
  prng.oneOf(gen, [
    '{"__proto__":{"polluted":"yes"}}',
    '{"constructor":{"prototype":{"polluted":"yes"}}}',
    '{"__proto__":null}',
    '[{"__proto__":{"polluted":"yes"}}]',
    '{"a":{"__proto__":{"polluted":"yes"}}}',
    `{"${prng.oneOf(gen, PROTO_KEYS)}":${prng.int31(gen, 0, 9)}}`,
  ])

// ------------------------------------------------------------------ seeds: valid messages to mutate

/** Valid material built once per run from a private Y.Doc with its own client ids. */
export interface Seeds {
  updatesV1: Uint8Array[]
  updatesV2: Uint8Array[]
  stateVectors: Uint8Array[]
  snapshots: Uint8Array[]
  awareness: Uint8Array[]
}

/** Builds seeds: a few updates to the `kv` array (keys `fuzz:*`, through YKeyValue), their state vectors and snapshots. */
export const buildSeeds = (gen: Gen): Seeds => {
  const seeds: Seeds = { updatesV1: [], updatesV2: [], stateVectors: [], snapshots: [], awareness: [] }
  const doc = new Y.Doc()
  // Never the honest writer's client id: a forged id would be a different attack.
  doc.clientID = prng.uint32(gen, 1_000_000, 2_000_000_000)
  doc.on('update', (u: Uint8Array) => seeds.updatesV1.push(u))
  doc.on('updateV2', (u: Uint8Array) => seeds.updatesV2.push(u))
  const kv = new YKeyValue<unknown>(doc.getArray('kv'))
  for (let i = 0; i < 12; i++) {
    doc.transact(() => {
      kv.set(`fuzz:${prng.int31(gen, 0, 5)}`, { n: i, s: prng.word(gen, 0, 12) })
      if (i % 4 === 3) kv.delete(`fuzz:${prng.int31(gen, 0, 5)}`)
    })
    seeds.stateVectors.push(Y.encodeStateVector(doc))
    seeds.snapshots.push(Y.encodeSnapshot(Y.snapshot(doc)))
  }
  doc.getText('other').insert(0, 'some text in another type')
  seeds.updatesV1.push(Y.encodeStateAsUpdate(doc))
  seeds.updatesV2.push(Y.encodeStateAsUpdateV2(doc))
  const awareness = new Awareness(doc)
  awareness.setLocalState({ user: { name: 'fuzz' }, cursor: 3 })
  seeds.awareness.push(encodeAwarenessUpdate(awareness, [doc.clientID]))
  awareness.setLocalState(null)
  seeds.awareness.push(encodeAwarenessUpdate(awareness, [doc.clientID]))
  awareness.destroy()
  doc.destroy()
  return seeds
}

// ------------------------------------------------------------------ valid updates with hostile content

/**
 * A value written as raw bytes where lib0's `any` encoding expects one: nesting or shapes that
 * no encoder would produce from a JavaScript value.
 */
export class RawAny {
  constructor(
    readonly label: string,
    readonly write: (e: encoding.Encoder) => void,
  ) {}
}

/** An array nested `depth` levels deep around the number 1, as lib0 `any` bytes. */
export const deepArray = (depth: number): RawAny =>
  new RawAny(`an array nested ${depth} deep`, (e) => {
    for (let i = 0; i < depth; i++) {
      encoding.writeUint8(e, 117) // array
      encoding.writeVarUint(e, 1)
    }
    encoding.writeAny(e, 1)
  })

/** Writes `value` as lib0's `writeAny` does (an object by its own keys, `__proto__` too), a RawAny as its bytes. */
const writeAnyValue = (e: encoding.Encoder, value: unknown): void => {
  if (value instanceof RawAny) return value.write(e)
  if (Array.isArray(value)) {
    encoding.writeUint8(e, 117)
    encoding.writeVarUint(e, value.length)
    for (const v of value) writeAnyValue(e, v)
    return
  }
  if (typeof value === 'object' && value !== null && !(value instanceof Uint8Array)) {
    const entries = Object.entries(value)
    encoding.writeUint8(e, 118)
    encoding.writeVarUint(e, entries.length)
    for (const [k, v] of entries) {
      encoding.writeVarString(e, k)
      writeAnyValue(e, v)
    }
    return
  }
  encoding.writeAny(e, value as Parameters<typeof encoding.writeAny>[1])
}

/** Content of a hand-made item: one of the Yjs content types, by what it holds. */
export type ItemContent =
  | { any: readonly unknown[] }
  | { deleted: number }
  | { json: readonly string[] }
  | { binary: Uint8Array }
  | { string: string }
  | { embed: unknown }
  | { format: [string, unknown] }
  /** A nested shared type by its type ref (0 array, 1 map, 2 text, 3 XML element, 4 fragment, 5 hook, 6 XML text). */
  | { type: number; name?: string }
  /** A subdocument with this guid. */
  | { doc: string }

/** One item of a hand-made update. Without origins it goes into `parent` (a root type) or `parentItem`. */
export interface ItemSpec {
  id: Id
  origin?: Id
  rightOrigin?: Id
  /** Root type the item goes into when it has no origin; default `kv`. */
  parent?: string
  /** An item (a nested type) the item goes into instead of a root type. */
  parentItem?: Id
  /** A map key: the item goes into the map part of its parent (the old `Y.Map` layout of `kv`). */
  parentSub?: string
  content: ItemContent
}

/** Length of an item's content in clock ticks. */
export const contentLength = (c: ItemContent): number =>
  'any' in c
    ? c.any.length
    : 'deleted' in c
      ? c.deleted
      : 'json' in c
        ? c.json.length
        : 'string' in c
          ? c.string.length
          : 1

const writeId = (e: encoding.Encoder, id: Id): void => {
  encoding.writeVarUint(e, id.client)
  encoding.writeVarUint(e, id.clock)
}

const writeItem = (e: encoding.Encoder, item: ItemSpec): void => {
  const c = item.content
  const ref =
    'deleted' in c
      ? 1
      : 'json' in c
        ? 2
        : 'binary' in c
          ? 3
          : 'string' in c
            ? 4
            : 'embed' in c
              ? 5
              : 'format' in c
                ? 6
                : 'type' in c
                  ? 7
                  : 'any' in c
                    ? 8
                    : 9
  const hasParentSub = item.parentSub !== undefined && !item.origin && !item.rightOrigin
  encoding.writeUint8(
    e,
    ref | (item.origin ? 0b1000_0000 : 0) | (item.rightOrigin ? 0b0100_0000 : 0) | (hasParentSub ? 0b0010_0000 : 0),
  )
  if (item.origin) writeId(e, item.origin)
  if (item.rightOrigin) writeId(e, item.rightOrigin)
  if (!item.origin && !item.rightOrigin) {
    if (item.parentItem) {
      encoding.writeVarUint(e, 0)
      writeId(e, item.parentItem)
    } else {
      encoding.writeVarUint(e, 1)
      encoding.writeVarString(e, item.parent ?? 'kv')
    }
    if (hasParentSub) encoding.writeVarString(e, item.parentSub ?? '')
  }
  if ('deleted' in c) encoding.writeVarUint(e, c.deleted)
  else if ('json' in c) {
    encoding.writeVarUint(e, c.json.length)
    for (const text of c.json) encoding.writeVarString(e, text)
  } else if ('binary' in c) encoding.writeVarUint8Array(e, c.binary)
  else if ('string' in c) encoding.writeVarString(e, c.string)
  else if ('embed' in c) encoding.writeVarString(e, JSON.stringify(c.embed))
  else if ('format' in c) {
    encoding.writeVarString(e, c.format[0])
    encoding.writeVarString(e, JSON.stringify(c.format[1]))
  } else if ('type' in c) {
    encoding.writeVarUint(e, c.type)
    if (c.type === 3 || c.type === 5) encoding.writeVarString(e, c.name ?? 'x')
  } else if ('any' in c) {
    encoding.writeVarUint(e, c.any.length)
    for (const v of c.any) writeAnyValue(e, v)
  } else {
    encoding.writeVarString(e, c.doc)
    encoding.writeAny(e, {})
  }
}

/**
 * A V1 update made by hand: items (those of one client must be consecutive, in clock order)
 * and deletions. Whether it integrates is up to the ids it uses and refers to, which is the point.
 */
export const encodeUpdateV1 = (items: readonly ItemSpec[], deletes: ReadonlyArray<Id & { len: number }> = []) =>
  bytesOf((e) => {
    const groups = new Map<number, ItemSpec[]>()
    for (const item of items) {
      const group = groups.get(item.id.client)
      if (group) group.push(item)
      else groups.set(item.id.client, [item])
    }
    encoding.writeVarUint(e, groups.size)
    for (const [client, group] of groups) {
      encoding.writeVarUint(e, group.length)
      encoding.writeVarUint(e, client)
      encoding.writeVarUint(e, group[0]?.id.clock ?? 0)
      for (const item of group) writeItem(e, item)
    }
    const ranges = new Map<number, Array<{ clock: number; len: number }>>()
    for (const d of deletes) {
      const list = ranges.get(d.client)
      if (list) list.push({ clock: d.clock, len: d.len })
      else ranges.set(d.client, [{ clock: d.clock, len: d.len }])
    }
    encoding.writeVarUint(e, ranges.size)
    for (const [client, list] of ranges) {
      encoding.writeVarUint(e, client)
      encoding.writeVarUint(e, list.length)
      for (const r of list.sort((x, y) => x.clock - y.clock)) {
        encoding.writeVarUint(e, r.clock)
        encoding.writeVarUint(e, r.len)
      }
    }
  })

/** A Yjs client id of an attacker: never the honest writer's (those are below 2^31). */
export const attackerClient = (gen: Gen): number => prng.uint32(gen, 2_000_000_001, 2 ** 32 - 2)

/** A short random tag that makes an attacker's keys unique. */
const tagOf = (gen: Gen): string => prng.uint32(gen, 0, 2 ** 32 - 1).toString(36)

/** Where a new element goes: at the start of `kv`, or right of its last element (where it wins over older ones). */
const place = (gen: Gen, mirror: Mirror | undefined): Pick<ItemSpec, 'origin' | 'parent'> => {
  const last = mirror?.rightmost()
  return last && prng.bool(gen) ? { origin: last } : { parent: 'kv' }
}

/** One entry with a reason, for the case's note. */
interface Hostile {
  value: unknown
  why: string
}

/** The string keys of entries. */
const keysOf = (entries: readonly Hostile[]): string[] =>
  entries.flatMap((e) => {
    const key = typeof e.value === 'object' && e.value !== null ? (e.value as { key?: unknown }).key : undefined
    return typeof key === 'string' ? [key] : []
  })

/**
 * Entries the node must refuse or ignore: not `{ key: string, val }`, an empty or over-long key,
 * no value. Where they have a string key it is under FORBIDDEN_PREFIX (or FORBIDDEN_KEYS when
 * coerced), or it is an honest key the entry would shadow in a client that did not ignore it.
 */
export const malformedEntry = (gen: Gen, tag: string, mirror?: Mirror): Hostile =>
  prng.oneOf(gen, [
    () => ({ value: null, why: 'null entry' }),
    () => ({ value: 424242, why: 'number entry' }),
    () => ({ value: `${FORBIDDEN_PREFIX}string-entry`, why: 'string entry' }),
    () => ({ value: true, why: 'boolean entry' }),
    () => ({ value: [`${FORBIDDEN_PREFIX}array-entry`, 1], why: 'array entry' }),
    () => ({ value: {}, why: 'empty object entry' }),
    () => ({ value: new Uint8Array([1, 2, 3]), why: 'bytes entry' }),
    () => ({ value: { val: 1 }, why: 'entry without a key' }),
    () => ({ value: { key: 424242, val: 1 }, why: 'number key' }),
    () => ({ value: { key: ['bad-array-key'], val: 1 }, why: 'array key' }),
    () => ({ value: { key: { toString: 'x' }, val: 1 }, why: 'object key' }),
    () => ({ value: { key: true, val: 1 }, why: 'boolean key' }),
    () => ({ value: { key: null, val: 1 }, why: 'null key' }),
    () => ({ value: { key: 424242n, val: 1 }, why: 'bigint key' }),
    () => ({ value: { key: '', val: 1 }, why: 'empty key' }),
    () => ({
      value: { key: `${FORBIDDEN_PREFIX}long:${tag}:${'k'.repeat(prng.int31(gen, 1025, 5000))}`, val: 1 },
      why: 'key over 1024 characters',
    }),
    () => ({ value: { key: `${FORBIDDEN_PREFIX}undefined:${tag}`, val: undefined }, why: 'val undefined' }),
    () => ({ value: { key: `${FORBIDDEN_PREFIX}no-val:${tag}` }, why: 'no val' }),
    () => {
      const key = mirror?.recentHonestKey(gen)
      if (key === undefined) return { value: null, why: 'null entry' }
      return { value: prng.bool(gen) ? { key } : { key, val: undefined }, why: `valueless entry for honest key ${key}` }
    },
  ])()

/** Entries with odd but storable values, under ODD_PREFIX (or keys that are odd themselves). */
export const oddEntry = (gen: Gen, tag: string): Hostile =>
  prng.oneOf(gen, [
    () => ({ value: { key: `${ODD_PREFIX}bigint:${tag}`, val: prng.bool(gen) ? 5n : 2n ** 70n }, why: 'BigInt value' }),
    () => ({
      value: { key: `${ODD_PREFIX}bytes:${tag}`, val: prng.uint8Array(gen, prng.int31(gen, 0, 64)) },
      why: 'Uint8Array value',
    }),
    () => {
      const depth = prng.oneOf(gen, [10, 64, 65, 1000, 3000, 5000, 8000])
      return { value: { key: `${ODD_PREFIX}deep:${tag}`, val: deepArray(depth) }, why: `value nested ${depth} deep` }
    },
    () => {
      const n = prng.oneOf(gen, [NaN, Infinity, -Infinity, -0, Number.MAX_VALUE, 2 ** 53 + 1])
      return { value: { key: `${ODD_PREFIX}number:${tag}`, val: n }, why: `number ${n}` }
    },
    () => ({ value: { key: `${ODD_PREFIX}surrogate:${tag}:\ud800`, val: 'x\udc00y' }, why: 'lone surrogates' }),
    () => ({
      value: { key: `${ODD_PREFIX}proto:${tag}`, val: JSON.parse('{"__proto__":{"polluted":"yes"},"a":1}') as unknown },
      why: '__proto__ inside the value',
    }),
    () => {
      const n = prng.int31(gen, 100, 1000)
      return {
        value: {
          key: `${ODD_PREFIX}wide:${tag}`,
          val: Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, i])),
        },
        why: `object of ${n} keys`,
      }
    },
    () => ({
      value: { key: `${ODD_PREFIX}extra:${tag}`, val: 1, extra: 'field', nested: { owner: 1 } },
      why: 'extra fields',
    }),
    () => ({
      value: { key: `${ODD_PREFIX}undefined-inside:${tag}`, val: [undefined, { a: undefined }] },
      why: 'undefined inside',
    }),
    () => ({ value: { key: '__proto__', val: { polluted: 'yes' } }, why: 'key __proto__' }),
    () => ({ value: { key: 'constructor', val: { prototype: { polluted: 'yes' } } }, why: 'key constructor' }),
  ])()

/**
 * How far ahead of the honest writer's clock "future" ids are: it writes 50 entries a second,
 * so in no run does it reach them, and a deletion or reference there stays one of ids nobody wrote.
 */
const FUTURE = 10_000_000

/** Far in the future (2100), so no sweeper removes a TTL entry a peer may write while the run lasts. */
const LATER = 4_102_444_800_000

/** Entries with an owner or an expiry: only nodes write those, a light peer is refused (4403). */
export const nodeFieldsEntry = (gen: Gen, tag: string, prefix = `${FORBIDDEN_PREFIX}node-fields:`): Hostile =>
  prng.oneOf(gen, [
    () => ({
      value: { key: `${prefix}owner:${tag}`, val: 1, owner: prng.oneOf(gen, ['node-x', '', 'fuzz-worker-0']) },
      why: 'owner',
    }),
    () => ({
      value: { key: `${prefix}owner:${tag}`, val: 1, owner: prng.oneOf(gen, [5, null, undefined, {}]) },
      why: 'odd owner',
    }),
    () => ({
      value: { key: `${prefix}exp:${tag}`, val: 1, exp: prng.oneOf(gen, [LATER, 0, -1, NaN, 1e300]) },
      why: 'exp',
    }),
    () => ({
      value: { key: `${prefix}exp:${tag}`, val: 1, exp: prng.oneOf(gen, ['soon', null, undefined]) },
      why: 'odd exp',
    }),
    () => ({ value: { key: `${prefix}both:${tag}`, val: 1, owner: 'node-x', exp: LATER }, why: 'owner and exp' }),
  ])()

/** Items of other shapes where the store lives: its map part, the old `kv-meta` map, other content types. */
const typeConfusion = (
  gen: Gen,
  client: number,
  tag: string,
  mirror: Mirror | undefined,
): { item: ItemSpec; why: string } => {
  const id = { client, clock: 0 }
  const inKv = place(gen, mirror)
  return prng.oneOf(gen, [
    () => ({
      item: {
        id,
        parent: 'kv',
        parentSub: `${FORBIDDEN_PREFIX}map:${tag}`,
        content: { any: [{ key: `${FORBIDDEN_PREFIX}map:${tag}`, val: 1 }] },
      },
      why: 'a Y.Map write into the map part of kv (the old layout)',
    }),
    () => ({
      item: {
        id,
        parent: 'kv-meta',
        parentSub: mirror?.recentHonestKey(gen) ?? `${FORBIDDEN_PREFIX}meta:${tag}`,
        content: { any: [{ owner: 'node-x', exp: 1 }] },
      },
      why: 'owner and expiry in the old kv-meta map',
    }),
    () => ({
      item: { id, ...inKv, content: { type: prng.int31(gen, 0, 6) } },
      why: 'a nested shared type as an entry',
    }),
    () => ({
      item: { id, ...inKv, content: { string: `${FORBIDDEN_PREFIX}string-content` } },
      why: 'string content in kv',
    }),
    () => ({
      item: {
        id,
        ...inKv,
        content: { json: ['null', `{"key":"${FORBIDDEN_PREFIX}json:${tag}","val":1}`, 'undefined'] },
      },
      why: 'legacy JSON content in kv',
    }),
    () => ({ item: { id, ...inKv, content: { binary: prng.uint8Array(gen, 8) } }, why: 'binary content in kv' }),
    () => ({
      item: { id, ...inKv, content: { embed: { key: `${FORBIDDEN_PREFIX}embed:${tag}`, val: 1 } } },
      why: 'embed in kv',
    }),
    () => ({ item: { id, ...inKv, content: { format: ['bold', true] as [string, unknown] } }, why: 'format in kv' }),
    () => ({ item: { id, ...inKv, content: { doc: `fuzz-subdoc-${tag}` } }, why: 'a subdocument in kv' }),
    () => ({ item: { id, ...inKv, content: { deleted: prng.int31(gen, 1, 1000) } }, why: 'deleted content in kv' }),
  ])()
}

/** A state vector with the given clocks. */
const stateVector = (clocks: ReadonlyArray<[number, number]>): Uint8Array => Y.encodeStateVector(new Map(clocks))

/** An empty snapshot (state vector and delete set), as a node that holds nothing sends it. */
export const EMPTY_SNAPSHOT = Y.encodeSnapshot(Y.emptySnapshot)

/** An awareness update for `count` client ids from `first`, each with `state`. */
export const awarenessFlood = (first: number, count: number, state: string, clock = 1): Uint8Array =>
  awarenessUpdate(Array.from({ length: count }, (_, i) => ({ clientId: first + i, clock, state })))

// ------------------------------------------------------------------ families

const ROOMS = ['default', 'default', 'default', 'fuzz-room', 'constructor', 'toString']

const randomRoom = (gen: Gen): string =>
  prng.int31(gen, 0, 9) < 8 ? prng.oneOf(gen, ROOMS) : prng.oneOf(gen, ['', 'api', '__proto__', randomString(gen, 200)])

/** A hello this node would accept, from a fake node id (fresh unless given; no URL, so nobody dials it). */
export const validHello = (gen: Gen, url = '', nodeId?: string): Uint8Array =>
  peerFrame.hello({
    nodeId:
      nodeId ??
      `fuzz-${prng.uint32(gen, 0, 2 ** 32 - 1).toString(16)}-${prng.uint32(gen, 0, 2 ** 32 - 1).toString(16)}`,
    name: 'fuzz',
    url,
    clientId: prng.uint32(gen, 1, 2 ** 31),
  })

type Family = {
  name: string
  target: Target
  weight: number
  make: (gen: Gen, seeds: Seeds, ctx: FuzzContext) => FuzzCase
}

const socket = (target: SocketCase['target'], family: string, frames: Frame[], room?: string): SocketCase => ({
  target,
  family,
  frames,
  ...(room === undefined ? {} : { room }),
})

const randomPeerMessage = (gen: Gen, seeds: Seeds): Uint8Array => {
  const room = randomRoom(gen)
  switch (prng.int31(gen, 0, 12)) {
    case 11:
      return peerFrame.check(room, prng.oneOf(gen, seeds.snapshots), prng.int31(gen, 0, 1))
    case 12:
      return peerFrame.repair(room, prng.oneOf(gen, seeds.updatesV2))
    case 0:
      return peerFrame.state(room, prng.oneOf(gen, seeds.snapshots), prng.int31(gen, 0, 3))
    case 1:
      return peerFrame.diff(room, prng.oneOf(gen, seeds.updatesV2), prng.bool(gen) ? '' : '[["fuzz:1",1,2]]')
    case 2:
      // Live updates travel as V1 (whole-state diff and full as V2).
      return peerFrame.updates(room, [prng.oneOf(gen, seeds.updatesV1)])
    case 3:
      return peerFrame.awareness(room, prng.oneOf(gen, seeds.awareness))
    case 4:
      return peerFrame.hold(room, '')
    case 5:
      return peerFrame.fetch(room, '')
    case 6:
      return peerFrame.full(room, prng.oneOf(gen, seeds.updatesV2))
    case 7:
      return peerFrame.leave(randomString(gen))
    case 8:
      return peerFrame.gossip('[]')
    case 9:
      return peerFrame.prove(randomString(gen, 64))
    default:
      return validHello(gen)
  }
}

const garbageJson = (gen: Gen): string =>
  prng.oneOf(gen, [
    '',
    'null',
    '{',
    '[1,',
    '"x"',
    '[[1,2,3]]',
    '[["k",7]]',
    '[["k"]]',
    `[${'['.repeat(5000)}`,
    JSON.stringify(Array.from({ length: 20 }, () => [randomString(gen), 1, { deep: [1, 2, 3] }])),
    pollutingJson(gen),
    randomString(gen, 80),
  ])

const memberRecord = (gen: Gen, url: string) => ({
  id: `fuzz-member-${prng.uint32(gen, 0, 2 ** 32 - 1).toString(16)}`,
  name: randomString(gen),
  url,
  capabilities: [],
  meta: {},
  startedAt: Date.now(),
  heartbeat: prng.int31(gen, 0, 1000),
  leaving: false,
})

/** Every attack family, with its weight in the mix. */
export const FAMILIES: readonly Family[] = [
  // ---- /mesh before (or instead of) a valid hello
  {
    name: 'peer:random-bytes',
    target: 'peer',
    weight: 6,
    make: (gen) =>
      socket('peer', 'peer:random-bytes', [prng.uint8Array(gen, prng.int31(gen, 1, prng.bool(gen) ? 16 : 600))]),
  },
  {
    name: 'peer:text-or-empty',
    target: 'peer',
    weight: 2,
    make: (gen) =>
      socket('peer', 'peer:text-or-empty', [prng.bool(gen) ? { text: randomString(gen, 40) } : new Uint8Array()]),
  },
  {
    name: 'peer:bad-varint',
    target: 'peer',
    weight: 3,
    make: (gen) =>
      socket('peer', 'peer:bad-varint', [
        prng.bool(gen) ? badVarint(gen) : concat(new Uint8Array([PeerType.hello]), badVarint(gen)),
      ]),
  },
  {
    name: 'peer:message-before-hello',
    target: 'peer',
    weight: 4,
    make: (gen, seeds) => socket('peer', 'peer:message-before-hello', [randomPeerMessage(gen, seeds)]),
  },
  {
    name: 'peer:mutated-hello',
    target: 'peer',
    weight: 6,
    make: (gen) => socket('peer', 'peer:mutated-hello', [mutate(gen, validHello(gen)), peerFrame.prove()]),
  },
  {
    name: 'peer:odd-hello-fields',
    target: 'peer',
    weight: 4,
    make: (gen) =>
      socket('peer', 'peer:odd-hello-fields', [
        peerFrame.hello({
          version: prng.oneOf(gen, [0, 1, 2, 99, 2 ** 31]),
          nodeId: prng.oneOf(gen, ['', 'x'.repeat(129), '__proto__', 'constructor', randomString(gen)]),
          name: prng.bool(gen) ? 'n'.repeat(300) : randomString(gen),
          url: '',
          clientId: prng.uint32(gen, 0, 2 ** 32 - 1),
          onConflict: prng.oneOf(gen, ['merge', 'accept', 'bogus', '', '__proto__']),
          nonce: randomString(gen, 80),
          proof: prng.bool(gen) ? '' : randomString(gen, 80),
        }),
        peerFrame.prove(prng.bool(gen) ? '' : randomString(gen, 64)),
      ]),
  },
  {
    name: 'peer:hello-url',
    target: 'peer',
    weight: 1,
    // A fake node announcing a URL this node may later dial: malformed or hostile URLs.
    make: (gen) =>
      socket('peer', 'peer:hello-url', [
        validHello(
          gen,
          prng.oneOf(gen, [
            'not a url',
            'ftp://127.0.0.1/mesh',
            'ws://',
            'ws://[::1',
            'ws+unix:/tmp/none',
            'http://127.0.0.1:1/mesh',
            'ws://127.0.0.1:1/mesh',
          ]),
        ),
        peerFrame.prove(),
      ]),
  },
  // ---- /mesh after a valid hello and prove
  {
    name: 'peer-open:random-bytes',
    target: 'peer-open',
    weight: 4,
    make: (gen) => socket('peer-open', 'peer-open:random-bytes', [prng.uint8Array(gen, prng.int31(gen, 1, 300))]),
  },
  {
    name: 'peer-open:mutated-message',
    target: 'peer-open',
    weight: 10,
    make: (gen, seeds) => {
      const frames: Frame[] = []
      for (let i = prng.int31(gen, 1, 3); i > 0; i--) frames.push(mutate(gen, randomPeerMessage(gen, seeds)))
      return socket('peer-open', 'peer-open:mutated-message', frames)
    },
  },
  {
    name: 'peer-open:mutated-update',
    target: 'peer-open',
    weight: 8,
    make: (gen, seeds) => {
      // Live updates are V1, whole-state transfers (diff) V2.
      const frame = prng.bool(gen)
        ? peerFrame.updates('default', [mutate(gen, prng.oneOf(gen, seeds.updatesV1))])
        : peerFrame.diff('default', mutate(gen, prng.oneOf(gen, seeds.updatesV2)), '')
      return socket('peer-open', 'peer-open:mutated-update', [frame])
    },
  },
  {
    name: 'peer-open:batch',
    target: 'peer-open',
    weight: 4,
    make: (gen, seeds) => {
      const room = randomRoom(gen)
      const inner = () =>
        prng.oneOf(gen, [
          () => peerFrame.updates('default', [mutate(gen, prng.oneOf(gen, seeds.updatesV1))]),
          () => peerFrame.state(room, prng.uint8Array(gen, prng.int31(gen, 0, 64)), 0),
          () => peerFrame.gossip(garbageJson(gen)),
          () => peerFrame.batch([peerFrame.gossip('[]')]),
          () => prng.uint8Array(gen, prng.int31(gen, 0, 16)),
        ])()
      const frames = Array.from({ length: prng.int31(gen, 0, 8) }, inner)
      const count = prng.oneOf(gen, [frames.length, frames.length + 1, 1025, 2 ** 31])
      return socket('peer-open', 'peer-open:batch', [peerFrame.batch(frames, count)])
    },
  },
  {
    name: 'peer-open:garbage-fields',
    target: 'peer-open',
    weight: 6,
    make: (gen) => {
      const room = randomRoom(gen)
      const junk = prng.uint8Array(gen, prng.int31(gen, 0, 64))
      const frame = prng.oneOf(gen, [
        () => peerFrame.state(room, junk, prng.int31(gen, 0, 5)),
        () => peerFrame.diff(room, junk, garbageJson(gen)),
        () => peerFrame.updates(room, [junk], prng.oneOf(gen, [1, 2, 1000, 2 ** 31])),
        () => peerFrame.awareness(room, junk),
        () => peerFrame.hold(room, garbageJson(gen)),
        () => peerFrame.fetch(room, garbageJson(gen)),
        () => peerFrame.full(room, junk),
        () => peerFrame.gossip(garbageJson(gen)),
      ])()
      return socket('peer-open', 'peer-open:garbage-fields', [frame])
    },
  },
  {
    name: 'peer-open:huge-length',
    target: 'peer-open',
    weight: 3,
    make: (gen) => {
      const prefix = bytesOf((e) => {
        encoding.writeVarUint(
          e,
          prng.oneOf(gen, [PeerType.state, PeerType.diff, PeerType.updates, PeerType.awareness, PeerType.gossip]),
        )
        encoding.writeVarString(e, 'default')
      })
      return socket('peer-open', 'peer-open:huge-length', [concat(prefix, hugeLength(gen), prng.uint8Array(gen, 8))])
    },
  },
  {
    name: 'peer-open:gossip',
    target: 'peer-open',
    weight: 3,
    make: (gen) => {
      const records = Array.from({ length: prng.int31(gen, 1, 4) }, () => memberRecord(gen, ''))
      const mangled = prng.oneOf(gen, [
        () => JSON.stringify(records),
        () =>
          JSON.stringify(
            records.map((r) => ({ ...r, heartbeat: prng.oneOf(gen, [-1, 1e308, Number.MAX_SAFE_INTEGER]) })),
          ),
        () => JSON.stringify(records.map((r) => ({ ...r, meta: JSON.parse(pollutingJson(gen)) as unknown }))),
        () => JSON.stringify([{ ...records[0], id: '__proto__' }]),
        () => JSON.stringify(records.map((r) => ({ ...r, capabilities: Array.from({ length: 100 }, () => 'c') }))),
        // The link graph (protocol 7): well-formed records whose links are hostile or absurd.
        () =>
          JSON.stringify(
            records.map((r) => ({
              ...r,
              incarnation: 'fuzz',
              links: prng.oneOf<unknown>(gen, [
                'not a list',
                [1, 2],
                [r.id, '__proto__', '', 'x'.repeat(5000)],
                Array.from({ length: 20_000 }, (_, i) => `m${i}`),
              ]),
            })),
          ),
        () => garbageJson(gen),
      ])()
      return socket('peer-open', 'peer-open:gossip', [peerFrame.gossip(mangled)])
    },
  },
  {
    name: 'peer-open:gossip-url',
    target: 'peer-open',
    weight: 1,
    // A member record whose URL this node would dial once the member is alive and unlinked.
    make: (gen) =>
      socket('peer-open', 'peer-open:gossip-url', [
        peerFrame.gossip(
          JSON.stringify([
            memberRecord(gen, prng.oneOf(gen, ['not a url', 'ftp://127.0.0.1/mesh', 'ws://[::1', 'ws+unix:/tmp/none'])),
          ]),
        ),
      ]),
  },
  {
    name: 'peer-open:absurd-update',
    target: 'peer-open',
    weight: 3,
    make: (gen) => {
      const client = prng.uint32(gen, 2_000_000_001, 2 ** 32 - 2)
      const lens = Array.from({ length: prng.int31(gen, 1, 3) }, () => prng.oneOf(gen, [1, 2 ** 30, 2 ** 40, 2 ** 52]))
      const v1 = gcUpdateV1(client, prng.oneOf(gen, [0, 0, 2 ** 50]), lens, prng.bool(gen) ? 0 : 10)
      if (prng.bool(gen)) return socket('peer-open', 'peer-open:absurd-update', [peerFrame.updates('default', [v1])])
      // The same as a whole-state diff, which is V2.
      let v2: Uint8Array
      try {
        v2 = Y.convertUpdateFormatV1ToV2(v1)
      } catch {
        v2 = v1
      }
      return socket('peer-open', 'peer-open:absurd-update', [peerFrame.diff('default', v2, '')])
    },
  },
  {
    name: 'peer-open:rle-bomb',
    target: 'peer-open',
    weight: 1,
    // A V2 update declaring millions of structs in ~40 bytes, where V2 is expected (diff, full).
    make: (gen) => {
      const bomb = rleBombV2(prng.uint32(gen, 2_000_000_001, 2 ** 32 - 2), prng.oneOf(gen, [5e6, 2 ** 32 - 2, 2 ** 45]))
      const frame = prng.int31(gen, 0, 3) === 0 ? peerFrame.full('default', bomb) : peerFrame.diff('default', bomb, '')
      return socket('peer-open', 'peer-open:rle-bomb', [frame])
    },
  },
  {
    name: 'peer-open:duplicate-valid',
    target: 'peer-open',
    weight: 3,
    make: (gen, seeds) => {
      const u = prng.oneOf(gen, seeds.updatesV1)
      return socket('peer-open', 'peer-open:duplicate-valid', [
        peerFrame.updates('default', [u, u]),
        peerFrame.updates('default', [u]),
        peerFrame.awareness('default', prng.oneOf(gen, seeds.awareness)),
      ])
    },
  },
  {
    name: 'peer-open:foreign-awareness',
    target: 'peer-open',
    weight: 2,
    make: (gen, _seeds, ctx) =>
      socket('peer-open', 'peer-open:foreign-awareness', [
        peerFrame.awareness(
          'default',
          awarenessUpdate([
            {
              clientId: ctx.honestClientId,
              clock: prng.oneOf(gen, [1, 2 ** 31, 2 ** 52]),
              state: prng.bool(gen) ? 'null' : '{"user":{"name":"evil"}}',
            },
          ]),
        ),
      ]),
  },
  // ---- /mesh/:room light peers
  {
    name: 'light:random-bytes',
    target: 'light',
    weight: 6,
    make: (gen) =>
      socket(
        'light',
        'light:random-bytes',
        [prng.uint8Array(gen, prng.int31(gen, 1, prng.bool(gen) ? 16 : 600))],
        'default',
      ),
  },
  {
    name: 'light:text-empty-varint',
    target: 'light',
    weight: 3,
    make: (gen) =>
      socket(
        'light',
        'light:text-empty-varint',
        [prng.oneOf(gen, [() => ({ text: randomString(gen) }), () => new Uint8Array(), () => badVarint(gen)])()],
        'default',
      ),
  },
  {
    name: 'light:mutated-message',
    target: 'light',
    weight: 10,
    make: (gen, seeds) => {
      const frames: Frame[] = []
      for (let i = prng.int31(gen, 1, 3); i > 0; i--) {
        const base = prng.oneOf(gen, [
          () => lightFrame.sync(0, prng.oneOf(gen, seeds.stateVectors)),
          () => lightFrame.sync(1, prng.oneOf(gen, seeds.updatesV1)),
          () => lightFrame.sync(2, prng.oneOf(gen, seeds.updatesV1)),
          () => lightFrame.awareness(prng.oneOf(gen, seeds.awareness)),
          () => lightFrame.auth(randomString(gen)),
          () => lightFrame.queryAwareness(),
        ])()
        frames.push(mutate(gen, base))
      }
      return socket('light', 'light:mutated-message', frames, prng.oneOf(gen, ROOMS))
    },
  },
  {
    name: 'light:garbage-fields',
    target: 'light',
    weight: 5,
    make: (gen) => {
      const junk = prng.uint8Array(gen, prng.int31(gen, 0, 64))
      const frame = prng.oneOf(gen, [
        () => lightFrame.sync(prng.int31(gen, 0, 5), junk),
        () => lightFrame.awareness(junk),
        () =>
          lightFrame.awareness(
            awarenessUpdate([{ clientId: 7, clock: 1, state: prng.oneOf(gen, ['{', 'undefined', '']) }]),
          ),
        () => concat(new Uint8Array([LightType.sync, 1]), hugeLength(gen), junk),
        () => concat(new Uint8Array([LightType.awareness]), hugeLength(gen), junk),
        () => bytesOf((e) => encoding.writeVarUint(e, prng.int31(gen, 4, 300))),
      ])()
      return socket('light', 'light:garbage-fields', [frame], 'default')
    },
  },
  {
    name: 'light:duplicate-valid',
    target: 'light',
    weight: 3,
    make: (gen, seeds) => {
      const u = prng.oneOf(gen, seeds.updatesV1)
      return socket(
        'light',
        'light:duplicate-valid',
        [lightFrame.sync(2, u), lightFrame.sync(2, u), lightFrame.sync(1, u), lightFrame.queryAwareness()],
        'default',
      )
    },
  },
  {
    name: 'light:absurd-update',
    target: 'light',
    weight: 3,
    make: (gen) => {
      const client = prng.uint32(gen, 2_000_000_001, 2 ** 32 - 2)
      const update = prng.oneOf(gen, [
        () => gcUpdateV1(client, 0, [prng.oneOf(gen, [2 ** 30, 2 ** 40, 2 ** 52])], prng.bool(gen) ? 0 : 10),
        () => gcUpdateV1(client, 2 ** 50, [1, 2 ** 20]),
        // Many tiny structs in one frame: every 2 bytes decode into one object. A few client ids
        // only, so repeats are duplicates and the document does not grow with every case.
        () =>
          gcUpdateV1(
            2_000_000_000 + prng.int31(gen, 0, 7),
            0,
            new Array<number>(prng.int31(gen, 1000, 40_000)).fill(1),
          ),
      ])()
      return socket('light', 'light:absurd-update', [lightFrame.sync(2, update)], 'default')
    },
  },
  {
    name: 'light:big-value',
    target: 'light',
    weight: 1,
    make: (gen) => {
      const doc = new Y.Doc()
      doc.clientID = prng.uint32(gen, 2_000_000_001, 2 ** 32 - 2)
      new YKeyValue<unknown>(doc.getArray('kv')).set(
        `fuzz:big:${prng.int31(gen, 0, 3)}`,
        'x'.repeat(prng.int31(gen, 100_000, 1_000_000)),
      )
      const update = Y.encodeStateAsUpdate(doc)
      doc.destroy()
      return socket('light', 'light:big-value', [lightFrame.sync(2, update)], 'default')
    },
  },
  {
    name: 'light:foreign-awareness',
    target: 'light',
    weight: 3,
    make: (gen, _seeds, ctx) =>
      socket(
        'light',
        'light:foreign-awareness',
        [
          lightFrame.awareness(
            awarenessUpdate([
              {
                clientId: ctx.honestClientId,
                clock: prng.oneOf(gen, [0, 1, 1000, 2 ** 31, 2 ** 52]),
                state: prng.oneOf(gen, ['null', '{"user":{"name":"evil"}}', pollutingJson(gen)]),
              },
            ]),
          ),
        ],
        'default',
      ),
  },
  {
    name: 'light:room-names',
    target: 'light',
    weight: 2,
    make: (gen, seeds) =>
      socket(
        'light',
        'light:room-names',
        [lightFrame.sync(0, prng.oneOf(gen, seeds.stateVectors))],
        prng.oneOf(gen, [
          '__proto__',
          'constructor',
          'api',
          'inspector',
          '%2e%2e',
          '%2F',
          '%E0%A4%A',
          'a'.repeat(200),
          '_inspect',
          'x%00y',
        ]),
      ),
  },
  // ---- valid updates with hostile content (issue 12 and 14): well-formed Yjs, hostile entries
  {
    name: 'light:malformed-entry',
    target: 'light',
    weight: 6,
    // Entries the node must refuse or ignore, sometimes next to a well-formed sibling in the same
    // item: a client that chokes on the first must not lose the second.
    make: (gen, _seeds, ctx) => {
      const tag = tagOf(gen)
      const entries = Array.from({ length: prng.int31(gen, 1, 3) }, () => malformedEntry(gen, tag, ctx.mirror))
      if (prng.bool(gen))
        entries.splice(prng.int31(gen, 0, entries.length), 0, {
          value: { key: `fuzz:sibling:${tag}`, val: 1 },
          why: 'well-formed sibling',
        })
      const update = encodeUpdateV1([
        {
          id: { client: attackerClient(gen), clock: 0 },
          ...place(gen, ctx.mirror),
          content: { any: entries.map((e) => e.value) },
        },
      ])
      return {
        ...socket('light', 'light:malformed-entry', [lightFrame.sync(prng.bool(gen) ? 2 : 1, update)], 'default'),
        note: entries.map((e) => e.why).join(', '),
      }
    },
  },
  {
    name: 'light:odd-value',
    target: 'light',
    weight: 3,
    make: (gen, _seeds, ctx) => {
      const entry = oddEntry(gen, tagOf(gen))
      const update = encodeUpdateV1([
        { id: { client: attackerClient(gen), clock: 0 }, ...place(gen, ctx.mirror), content: { any: [entry.value] } },
      ])
      return {
        ...socket('light', 'light:odd-value', [lightFrame.sync(2, update)], 'default'),
        note: entry.why,
        keys: keysOf([entry]),
      }
    },
  },
  {
    name: 'light:node-fields',
    target: 'light',
    weight: 3,
    // Owner and expiry are the node's: the light peer is refused with 4403, the whole update dropped.
    make: (gen, _seeds, ctx) => {
      const tag = tagOf(gen)
      const entries = [nodeFieldsEntry(gen, tag)]
      if (prng.bool(gen))
        entries.unshift({ value: { key: `${FORBIDDEN_PREFIX}beside-node-fields:${tag}`, val: 1 }, why: 'sibling' })
      const client = attackerClient(gen)
      const items: ItemSpec[] = [
        { id: { client, clock: 0 }, ...place(gen, ctx.mirror), content: { any: entries.map((e) => e.value) } },
      ]
      // Or hidden in a second item that names its parent only through its left neighbour.
      if (prng.bool(gen)) {
        const first = items[0] as ItemSpec
        first.content = { any: [{ key: `${FORBIDDEN_PREFIX}first:${tag}`, val: 1 }] }
        items.push({
          id: { client, clock: 1 },
          origin: { client, clock: 0 },
          content: { any: entries.map((e) => e.value) },
        })
      }
      return {
        ...socket(
          'light',
          'light:node-fields',
          [lightFrame.sync(prng.bool(gen) ? 2 : 1, encodeUpdateV1(items))],
          'default',
        ),
        expect: 4403,
        note: entries.map((e) => e.why).join(', '),
      }
    },
  },
  {
    name: 'light:type-confusion',
    target: 'light',
    weight: 2,
    make: (gen, _seeds, ctx) => {
      const { item, why } = typeConfusion(gen, attackerClient(gen), tagOf(gen), ctx.mirror)
      return {
        ...socket('light', 'light:type-confusion', [lightFrame.sync(2, encodeUpdateV1([item]))], 'default'),
        note: why,
      }
    },
  },
  {
    name: 'light:unknown-ids',
    target: 'light',
    weight: 4,
    // References to unknown items: refused (4403), since Yjs would park them for good. Entries
    // after a clock gap and deletions of ids nobody wrote yet: taken, and what cannot be applied
    // yet dropped (a client that holds pending structs, or deletes before its answer to the
    // node's step 1, sends them so); their forbidden keys must never show. Valid deletions of
    // existing entries are taken.
    make: (gen, _seeds, ctx) => {
      const m = ctx.mirror
      const fresh = attackerClient(gen)
      const tag = tagOf(gen)
      const entry = { any: [{ key: `${FORBIDDEN_PREFIX}unknown-ids:${tag}`, val: 1 }] }
      const honest = ctx.honestDocClientId
      const honestNext = m?.state(honest) ?? 0
      const refused = (frame: Uint8Array, note: string, more: Frame[] = []): SocketCase => ({
        ...socket('light', 'light:unknown-ids', [...more, lightFrame.sync(2, frame)], 'default'),
        expect: 4403,
        note,
      })
      const dropped = (frame: Uint8Array, note: string): SocketCase => ({
        ...socket('light', 'light:unknown-ids', [lightFrame.sync(2, frame)], 'default'),
        expect: 'accepted',
        note: `${note}: dropped`,
      })
      const own = (): SocketCase => {
        const key = `fuzz:own:${tag}`
        return {
          ...socket(
            'light',
            'light:unknown-ids',
            [
              lightFrame.sync(
                2,
                encodeUpdateV1([
                  { id: { client: fresh, clock: 0 }, ...place(gen, m), content: { any: [{ key, val: 1 }] } },
                ]),
              ),
              lightFrame.sync(2, encodeUpdateV1([], [{ client: fresh, clock: 0, len: 1 }])),
            ],
            'default',
          ),
          expect: 'accepted',
          note: 'writes an entry, then deletes it',
        }
      }
      switch (prng.int31(gen, 0, 8)) {
        case 0:
          return dropped(
            encodeUpdateV1(
              [],
              [{ client: fresh, clock: prng.oneOf(gen, [0, 5, 2 ** 40]), len: prng.oneOf(gen, [1, 1000, 2 ** 31]) }],
            ),
            'deletes ids of a client nobody knows',
          )
        case 1:
          return dropped(
            encodeUpdateV1(
              [],
              [
                {
                  client: honest,
                  clock: honestNext + FUTURE + prng.int31(gen, 0, 50),
                  len: prng.oneOf(gen, [1, 100, 2 ** 31]),
                },
              ],
            ),
            "deletes the honest writer's future ids",
          )
        case 2:
          return dropped(
            encodeUpdateV1(
              [
                {
                  id: { client: fresh, clock: 0 },
                  ...place(gen, m),
                  content: { any: [{ key: `fuzz:unknown-ids:${tag}`, val: 1 }] },
                },
              ],
              [{ client: fresh, clock: 1, len: 10 }],
            ),
            'a well-formed entry and the deletion of its successors',
          )
        case 3:
          return dropped(
            encodeUpdateV1([
              { id: { client: fresh, clock: prng.oneOf(gen, [1, 2, 1000, 2 ** 40]) }, parent: 'kv', content: entry },
            ]),
            'an entry after a clock gap',
          )
        case 4:
          return dropped(
            encodeUpdateV1([
              {
                id: { client: honest, clock: honestNext + FUTURE + prng.int31(gen, 0, 5000) },
                parent: 'kv',
                content: entry,
              },
            ]),
            "an entry under the honest writer's id, after a gap",
          )
        case 5:
          return refused(
            encodeUpdateV1([
              {
                id: { client: fresh, clock: 0 },
                origin: { client: attackerClient(gen), clock: prng.int31(gen, 0, 99) },
                content: entry,
              },
            ]),
            'an entry right of an item nobody wrote',
          )
        case 6:
          return refused(
            encodeUpdateV1([
              prng.bool(gen)
                ? {
                    id: { client: fresh, clock: 0 },
                    rightOrigin: { client: honest, clock: honestNext + FUTURE },
                    content: entry,
                  }
                : {
                    id: { client: fresh, clock: 0 },
                    parentItem: { client: attackerClient(gen), clock: 3 },
                    content: entry,
                  },
            ]),
            'an entry left of, or inside, an item nobody wrote',
          )
        case 7: {
          const target = m?.live('fuzz:')
          if (!target || target.length === 0) return own()
          const victim = prng.oneOf(gen, target)
          return {
            ...socket(
              'light',
              'light:unknown-ids',
              [lightFrame.sync(2, encodeUpdateV1([], [{ ...victim, len: 1 }]))],
              'default',
            ),
            expect: 'accepted',
            note: `deletes the entry of ${victim.key}`,
          }
        }
        default:
          return own()
      }
    },
  },
  {
    name: 'light:update-flood',
    target: 'light',
    weight: 1,
    // Valid writes as fast as the socket goes, each replacing the previous one (as YKeyValue does).
    make: (gen) => {
      const n = prng.oneOf(gen, [5, 20, 80])
      const client = attackerClient(gen)
      const key = `fuzz:flood:${tagOf(gen)}`
      const frames: Frame[] = [
        lightFrame.sync(
          2,
          encodeUpdateV1([{ id: { client, clock: 0 }, parent: 'kv', content: { any: [{ key, val: 0 }] } }]),
        ),
      ]
      for (let i = 1; i < n; i++) {
        frames.push(
          lightFrame.sync(
            2,
            encodeUpdateV1(
              [{ id: { client, clock: i }, origin: { client, clock: i - 1 }, content: { any: [{ key, val: i }] } }],
              [{ client, clock: i - 1, len: 1 }],
            ),
          ),
        )
      }
      return { ...socket('light', 'light:update-flood', frames, 'default'), note: `${n} valid writes` }
    },
  },
  {
    name: 'light:sync-flood',
    target: 'light',
    weight: 1,
    make: (gen, seeds, ctx) => {
      const n = prng.oneOf(gen, [5, 20, 80])
      const sv = prng.oneOf(gen, [
        () => stateVector([]),
        () => prng.oneOf(gen, seeds.stateVectors),
        () => stateVector([[ctx.honestDocClientId, 2 ** 40]]),
        () => stateVector(Array.from({ length: 500 }, (_, i): [number, number] => [attackerClient(gen) + i, 1])),
      ])()
      return {
        ...socket('light', 'light:sync-flood', new Array<Frame>(n).fill(lightFrame.sync(0, sv)), 'default'),
        note: `${n} SyncStep1`,
      }
    },
  },
  {
    name: 'light:awareness-flood',
    target: 'light',
    weight: 2,
    make: (gen) => {
      const first = attackerClient(gen)
      const frames = prng.oneOf(gen, [
        // More ids than one socket may speak for.
        () => [lightFrame.awareness(awarenessFlood(first, prng.int31(gen, 9, 100), '{"user":{"name":"flood"}}'))],
        // One id, a new state every frame, up to 8 KiB each.
        () =>
          Array.from({ length: prng.int31(gen, 5, 30) }, (_, i) =>
            lightFrame.awareness(
              awarenessFlood(first, 1, JSON.stringify({ pad: 'p'.repeat(prng.int31(gen, 0, 8192)) }), i + 1),
            ),
          ),
        // Removals of ids that never existed.
        () => [lightFrame.awareness(awarenessFlood(first, prng.int31(gen, 1, 500), 'null', 5))],
      ])()
      return socket('light', 'light:awareness-flood', frames, 'default')
    },
  },
  {
    name: 'peer-open:hostile-entry',
    target: 'peer-open',
    weight: 4,
    // A peer (no secret: anyone) may write owner and expiry; malformed entries stay ignored.
    make: (gen, _seeds, ctx) => {
      const tag = tagOf(gen)
      const entries = Array.from({ length: prng.int31(gen, 1, 3) }, () =>
        prng.oneOf(gen, [
          () => malformedEntry(gen, tag),
          () => oddEntry(gen, tag),
          () => nodeFieldsEntry(gen, tag, `${ODD_PREFIX}peer-node-fields:`),
        ])(),
      )
      const update = encodeUpdateV1([
        {
          id: { client: attackerClient(gen), clock: 0 },
          ...place(gen, ctx.mirror),
          content: { any: entries.map((e) => e.value) },
        },
      ])
      const asRepair = prng.bool(gen)
      let frame = peerFrame.updates('default', [update])
      try {
        if (asRepair) frame = peerFrame.repair('default', Y.convertUpdateFormatV1ToV2(update))
      } catch (error) {
        // Yjs converts by decoding, recursively: a value thousands of levels deep overflows
        // this process's stack (the node measures depth without recursion); send it as V1.
        if (!(error instanceof RangeError)) throw error
      }
      return {
        ...socket('peer-open', 'peer-open:hostile-entry', [frame]),
        note: entries.map((e) => e.why).join(', '),
        keys: keysOf(entries),
      }
    },
  },
  {
    name: 'peer-open:unknown-ids',
    target: 'peer-open',
    weight: 2,
    // What a light peer is refused, from a peer: gaps and deletions of ids nobody wrote, of attackers' clients only.
    make: (gen) => {
      const fresh = attackerClient(gen)
      const entry = { any: [{ key: `${FORBIDDEN_PREFIX}peer-unknown-ids:${tagOf(gen)}`, val: 1 }] }
      const update = prng.oneOf(gen, [
        () => encodeUpdateV1([], [{ client: fresh, clock: prng.oneOf(gen, [0, 5]), len: prng.oneOf(gen, [1, 1000]) }]),
        () =>
          encodeUpdateV1([{ id: { client: fresh, clock: prng.oneOf(gen, [1, 1000]) }, parent: 'kv', content: entry }]),
        () =>
          encodeUpdateV1([
            { id: { client: fresh, clock: 0 }, origin: { client: attackerClient(gen), clock: 7 }, content: entry },
          ]),
      ])()
      return {
        ...socket('peer-open', 'peer-open:unknown-ids', [peerFrame.updates('default', [update])]),
        note: 'gap or future deletion',
      }
    },
  },
  {
    name: 'peer-open:check-flood',
    target: 'peer-open',
    weight: 1,
    // Anti-entropy checks of a peer that holds nothing: each may be answered with the whole room.
    make: (gen) => {
      const n = prng.oneOf(gen, [3, 10, 40])
      const frame = peerFrame.check('default', EMPTY_SNAPSHOT, prng.int31(gen, 0, 1))
      return { ...socket('peer-open', 'peer-open:check-flood', new Array<Frame>(n).fill(frame)), note: `${n} checks` }
    },
  },
  {
    name: 'peer-open:awareness-flood',
    target: 'peer-open',
    weight: 1,
    make: (gen) => {
      const n = prng.oneOf(gen, [10, 100, 400])
      return {
        ...socket('peer-open', 'peer-open:awareness-flood', [
          peerFrame.awareness('default', awarenessFlood(attackerClient(gen), n, '{"user":{"name":"flood"}}')),
        ]),
        note: `${n} client ids`,
      }
    },
  },
  {
    name: 'peer-open:state-rooms',
    target: 'peer-open',
    weight: 1,
    // Rooms are created on demand: a peer names new ones.
    make: (gen) => {
      const tag = tagOf(gen)
      const n = prng.oneOf(gen, [1, 4, 12])
      return {
        ...socket(
          'peer-open',
          'peer-open:state-rooms',
          Array.from({ length: n }, (_, i) => peerFrame.state(`fuzz-r-${tag}-${i}`, EMPTY_SNAPSHOT)),
        ),
        note: `${n} new rooms`,
      }
    },
  },
  // ---- REST
  {
    name: 'rest:request',
    target: 'rest',
    weight: 8,
    make: (gen) => restCase(gen),
  },
]

const restKey = (gen: Gen): string =>
  prng.oneOf(gen, [
    () => encodeURIComponent(prng.oneOf(gen, PROTO_KEYS)),
    () => `fuzz%3A${prng.int31(gen, 0, 9)}`,
    () => encodeURIComponent(randomString(gen, 40)),
    () => prng.oneOf(gen, ['%', '%E0%A4%A', '%00', '..%2F..%2Fetc', 'a'.repeat(1100), '%2F%2F', '']),
  ])()

const restCase = (gen: Gen): RestCase => {
  const json = { 'content-type': 'application/json' }
  const make = prng.oneOf(gen, [
    (): RestCase => ({
      target: 'rest',
      family: 'rest:put',
      method: 'PUT',
      path: `/kv/${restKey(gen)}${prng.oneOf(gen, ['', '', '?ephemeral=true', '?ttl=50', '?ttl=-1', '?ttl=abc', '?ephemeral=maybe', '?ttl=1e400', '?__proto__=1'])}`,
      headers: json,
      body: prng.oneOf(gen, [
        () => pollutingJson(gen),
        () => JSON.stringify({ n: prng.int31(gen, 0, 1000) }),
        () => randomString(gen, 40),
        () => '',
        () => '{"a":',
        () => `${'['.repeat(prng.int31(gen, 60, 3000))}${']'.repeat(10)}`,
        () => JSON.stringify('x'.repeat(prng.int31(gen, 10, 2000))),
        () => '1e400',
        () => '"\\ud800"',
      ])(),
    }),
    (): RestCase => ({
      target: 'rest',
      family: 'rest:prototype-key',
      method: prng.oneOf(gen, ['GET', 'PUT', 'DELETE']),
      path: `/kv/${encodeURIComponent(prng.oneOf(gen, PROTO_KEYS))}`,
      headers: json,
      body: pollutingJson(gen),
    }),
    (): RestCase => ({
      target: 'rest',
      family: 'rest:get',
      method: 'GET',
      path: prng.oneOf(gen, [
        '/kv',
        `/kv/${restKey(gen)}`,
        '/members',
        '/status',
        '/health',
        '/history?limit=0',
        '/history?limit=-5',
        '/history?limit=abc',
        `/history?limit=${prng.int31(gen, 1, 5000)}&key=${restKey(gen)}`,
        '/metrics',
        '/__proto__',
        '/constructor',
        '/kv/',
        '/kv//x',
        '/../../etc/passwd',
        '/control',
      ]),
    }),
    (): RestCase => ({
      target: 'rest',
      family: 'rest:odd-method',
      method: prng.oneOf(gen, ['POST', 'PATCH', 'OPTIONS', 'DELETE', 'PUT']),
      path: prng.oneOf(gen, [
        '/kv',
        '/members',
        '/status',
        '/health',
        '/history',
        `/kv/${restKey(gen)}`,
        '/control/cut',
      ]),
      headers: json,
      body: pollutingJson(gen),
    }),
    (): RestCase => ({
      target: 'rest',
      family: 'rest:join-body',
      method: 'POST',
      path: '/join',
      headers: json,
      body: prng.oneOf(gen, [
        '{"urls":[]}',
        '{"urls":"ws://x"}',
        '{"urls":[1,2]}',
        '{"urls":["not a url"]}',
        '{"urls":["ftp://x"]}',
        pollutingJson(gen),
        '[',
        'null',
      ]),
    }),
    (): RestCase => ({
      target: 'rest',
      family: 'rest:big-body',
      method: 'PUT',
      path: `/kv/fuzz%3Abig`,
      headers: json,
      body: JSON.stringify('y'.repeat(prng.oneOf(gen, [1024 * 1024 + 10, 2 * 1024 * 1024]))),
    }),
    (): RestCase => ({
      target: 'rest',
      family: 'rest:content-type',
      method: 'PUT',
      path: `/kv/fuzz%3Act`,
      headers: {
        'content-type': prng.oneOf(gen, [
          'text/plain',
          'application/x-www-form-urlencoded',
          'multipart/form-data; boundary=x',
          '',
        ]),
      },
      body: prng.oneOf(gen, ['a=1&b=2', '{"a":1}', '--x\r\n\r\n']),
    }),
  ])
  return make()
}

/**
 * Picks cases by family weight; `skip` removes families by name. Each case draws only from the
 * PRNG it is given: with one PRNG per case (see caseGen), a case does not depend on how many
 * draws the cases before it made, nor on the order parallel workers pick them up.
 */
export const createCaseSource = (seeds: Seeds, ctx: FuzzContext, skip: readonly string[] = []) => {
  const families = FAMILIES.filter((f) => !skip.includes(f.name))
  if (families.length === 0) throw new Error('every fuzz family is skipped')
  const total = families.reduce((n, f) => n + f.weight, 0)
  return (gen: Gen): FuzzCase => {
    let roll = prng.int31(gen, 0, total - 1)
    for (const family of families) {
      if (roll < family.weight) return family.make(gen, seeds, ctx)
      roll -= family.weight
    }
    throw new Error('unreachable')
  }
}

/** The PRNG of case `index` of a run with `seed`. */
export const caseGen = (seed: number, index: number): Gen =>
  prng.create((seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0 || 1)
