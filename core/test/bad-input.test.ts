import { CloseCode, PROTOCOL_VERSION } from '@mesh/core'
import { nodeEvents, waitUntil } from '@mesh/core/testing'
import * as encoding from 'lib0/encoding'
import * as prng from 'lib0/prng'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { memoryLogger, openSocket, serveNode, type ServedNode } from './helpers.js'

const seed = Number(process.env.MESH_SEED ?? Math.floor(Math.random() * 2 ** 31))
const LIMIT = 64 * 1024

const bytes = (...parts: Array<(e: encoding.Encoder) => void>): Buffer => {
  const e = encoding.createEncoder()
  for (const part of parts) part(e)
  return Buffer.from(encoding.toUint8Array(e))
}
const uint = (n: number) => (e: encoding.Encoder) => encoding.writeVarUint(e, n)
const str = (s: string) => (e: encoding.Encoder) => encoding.writeVarString(e, s)
const raw = (b: Uint8Array) => (e: encoding.Encoder) => encoding.writeUint8Array(e, b)

/** A valid peer handshake (hello, then the empty proof of a mesh without secret), so the bad frame that follows hits the post-handshake decoder. */
const hello = bytes(
  uint(16),
  uint(PROTOCOL_VERSION),
  str('attacker'),
  str('evil'),
  str(''),
  uint(7),
  str('merge'),
  str('nonce'),
  str(''),
)
const prove = bytes(uint(26), str(''))

describe(`bad input closes only the offending socket (MESH_SEED=${seed})`, () => {
  let a: ServedNode
  let b: ServedNode
  const log = memoryLogger()
  beforeAll(async () => {
    a = await serveNode({
      name: 'a',
      logger: log.logger,
      limits: { peerMessageBytes: LIMIT, lightMessageBytes: LIMIT },
    })
    b = await serveNode({ name: 'b' })
    await b.node.join([a.url])
    await a.node.put({ honest: 1 })
    await waitUntil('b syncs from a', () => b.node.get('honest') === 1, { subscribe: nodeEvents(b.node) })
  })
  afterAll(async () => {
    // Unset when beforeAll failed.
    for (const served of [b, a] as Array<ServedNode | undefined>) await served?.close()
  })

  const gen = prng.create(seed)
  const cases: Array<{ name: string; frame: Buffer | string; code: number }> = [
    { name: 'random bytes', frame: Buffer.from(prng.uint8Array(gen, 64)), code: CloseCode.badMessage },
    { name: 'a truncated varint', frame: Buffer.from([0x80]), code: CloseCode.badMessage },
    { name: 'a 2^31 length prefix', frame: bytes(uint(0), uint(2), uint(2 ** 31)), code: CloseCode.badMessage },
    { name: 'an unknown message type', frame: bytes(uint(99), uint(1)), code: CloseCode.badMessage },
    { name: 'a text frame', frame: 'ping', code: CloseCode.badMessage },
    { name: 'an oversized message', frame: Buffer.alloc(LIMIT + 1, 1), code: CloseCode.tooLarge },
    { name: 'an empty frame', frame: Buffer.alloc(0), code: CloseCode.badMessage },
    {
      name: 'a malformed Yjs update in a valid frame',
      frame: bytes(uint(0), uint(2), uint(5), raw(new Uint8Array([1, 200, 3, 4, 5]))),
      code: CloseCode.badMessage,
    },
    {
      name: 'a peer update batch with a lying count',
      frame: bytes(uint(19), str('default'), uint(1_000_000), uint(1), raw(new Uint8Array([0]))),
      code: CloseCode.badMessage,
    },
  ]

  for (const endpoint of ['peer', 'light'] as const) {
    for (const c of cases) {
      it(`${endpoint} endpoint: ${c.name}`, async () => {
        const before = { sv: a.node.status().stateVector, data: a.node.data.toJSON() }
        const warnings = log.entries.filter((e) => e.level === 'warn').length
        const url = endpoint === 'peer' ? a.url : `${a.url}/default`
        const { ws, closed } = await openSocket(url)
        if (endpoint === 'peer') {
          ws.send(hello)
          ws.send(prove)
        }
        ws.send(c.frame, { binary: typeof c.frame !== 'string' })
        const { code, reason } = await closed
        expect(code).toBe(c.code)
        expect(reason.length).toBeGreaterThan(0)
        expect(log.entries.filter((e) => e.level === 'warn').length).toBeGreaterThan(warnings)
        expect(a.node.status().stateVector).toEqual(before.sv)
        expect(a.node.data.toJSON()).toEqual(before.data)
        // The honest peer is still linked and syncing.
        const key = `after-${endpoint}-${c.name}`
        await a.node.put(key, true)
        await waitUntil(`b receives ${key}`, () => b.node.get(key) === true, { subscribe: nodeEvents(b.node) })
      })
    }
  }

  it('peer endpoint: anything but hello first is refused', async () => {
    const { ws, closed } = await openSocket(a.url)
    ws.send(bytes(uint(19), str('default'), uint(0)))
    expect((await closed).code).toBe(CloseCode.badMessage)
  })

  it('peer endpoint: a wrong protocol version is refused with its own code', async () => {
    const { ws, closed } = await openSocket(a.url)
    ws.send(bytes(uint(16), uint(999), str('x'), str('x'), str(''), uint(1), str('merge'), str('n'), str('')))
    expect((await closed).code).toBe(CloseCode.protocolVersion)
  })

  it('light endpoint: an invalid room name is refused', async () => {
    const { closed } = await openSocket(`${a.url}/${'x'.repeat(200)}`)
    expect((await closed).code).toBe(CloseCode.badMessage)
  })
})
