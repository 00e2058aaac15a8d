/**
 * Frame generators of the fuzzer (e2e/fuzz-engine.ts). The wire format is re-encoded here
 * from the header of core/src/protocol.ts (on purpose: an independent reading of the spec),
 * and every generator is a pure function of a seeded lib0 PRNG, so a seed replays the same
 * frames. A "case" is one socket (or one REST request): the frames to send and which family
 * of attack they belong to.
 */
import * as encoding from 'lib0/encoding'
import * as prng from 'lib0/prng'
import { Awareness, encodeAwarenessUpdate } from 'y-protocols/awareness'
import * as Y from 'yjs'
import { YKeyValue } from 'y-utility/y-keyvalue'

/** Peer-link message types (core/src/protocol.ts). */
export const PeerType = {
  hello: 16,
  state: 17,
  diff: 18,
  updates: 19,
  awareness: 20,
  hold: 21,
  fetch: 22,
  full: 23,
  leave: 24,
  gossip: 25,
  prove: 26,
} as const

/** Light-peer (y-protocols) message types. */
export const LightType = { sync: 0, awareness: 1, auth: 2, queryAwareness: 3 } as const

/** The protocol version of peer links this fuzzer speaks. */
export const PROTOCOL_VERSION = 2

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
}

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

/** Builds seeds: a few updates to the `kv` map (keys `fuzz:*`), their state vectors and snapshots. */
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
  switch (prng.int31(gen, 0, 10)) {
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

/** Picks the next case by family weight; `skip` removes families by name. */
export const createCaseSource = (gen: Gen, seeds: Seeds, ctx: FuzzContext, skip: readonly string[] = []) => {
  const families = FAMILIES.filter((f) => !skip.includes(f.name))
  if (families.length === 0) throw new Error('every fuzz family is skipped')
  const total = families.reduce((n, f) => n + f.weight, 0)
  return (): FuzzCase => {
    let roll = prng.int31(gen, 0, total - 1)
    for (const family of families) {
      if (roll < family.weight) return family.make(gen, seeds, ctx)
      roll -= family.weight
    }
    throw new Error('unreachable')
  }
}
