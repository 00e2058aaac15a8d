import { CloseCode, MeshNode, PROTOCOL_VERSION } from '@mesh/core'
import { nodeEvents, waitUntil } from '@mesh/core/testing'
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import { afterEach, describe, expect, it } from 'vitest'
import { openSocket, serveNode, type ServedNode } from './helpers.js'

const served: ServedNode[] = []
afterEach(async () => {
  for (const s of served.splice(0)) await s.close()
})
const start = async (name: string, secret?: string | string[]) => {
  const s = await serveNode({ name, secret })
  served.push(s)
  return s
}
const linked = (a: ServedNode, b: ServedNode) =>
  a.node.status().peers.some((p) => p.id === b.node.id && p.link === 'open')

const frame = (write: (e: encoding.Encoder) => void) => {
  const e = encoding.createEncoder()
  write(e)
  return Buffer.from(encoding.toUint8Array(e))
}

describe('mesh secret', () => {
  it('nodes sharing the secret link; a node without it, or with another, cannot join', async () => {
    const a = await start('a', 'correct horse battery')
    const b = await start('b', 'correct horse battery')
    const stranger = await start('stranger')
    const impostor = await start('impostor', 'wrong secret value')
    await b.node.join([a.url])
    await a.node.put('secret-data', 1)
    await waitUntil('b syncs', () => b.node.get('secret-data') === 1, { subscribe: nodeEvents(b.node) })
    await expect(stranger.node.join([a.url], { timeoutMs: 500 })).rejects.toMatchObject({ code: 'timeout' })
    await expect(impostor.node.join([a.url], { timeoutMs: 500 })).rejects.toMatchObject({ code: 'timeout' })
    // Nor can a node with the secret be lured into a mesh that lacks it.
    await expect(a.node.join([stranger.url], { timeoutMs: 500 })).rejects.toMatchObject({ code: 'timeout' })
    expect(stranger.node.has('secret-data')).toBe(false)
    expect(impostor.node.has('secret-data')).toBe(false)
    expect(linked(a, stranger) || linked(a, impostor)).toBe(false)
  })

  it('a rotated list accepts the old and the new secret', async () => {
    const a = await start('a', ['new secret 2026', 'old secret 2025'])
    const old = await start('old', 'old secret 2025')
    await old.node.join([a.url])
    await waitUntil('linked with the old secret', () => linked(a, old), { subscribe: nodeEvents(a.node) })
  })

  it('a replayed handshake fails: the proof covers a fresh nonce', async () => {
    const a = await start('a', 'correct horse battery')
    const b = new MeshNode({ name: 'b', secret: 'correct horse battery' })
    // Record a real dialer's proof to a.
    const recorded: Buffer[] = []
    const first = await openSocket(a.url)
    const socket = {
      readyState: 1,
      send: (data: Uint8Array) => {
        recorded.push(Buffer.from(data))
        first.ws.send(data)
      },
      close: () => first.ws.close(),
    }
    const connection = b.connect(socket)
    first.ws.on('message', (data: Buffer) => connection.receive(data))
    await waitUntil('hello and proof sent', () => recorded.length >= 2, { subscribe: nodeEvents(b) })
    first.ws.close()
    await b.close()
    // Replay the same hello and proof on a new connection: a issued a new nonce, so it refuses.
    const replay = await openSocket(a.url)
    replay.ws.send(recorded[0]!)
    replay.ws.send(recorded[1]!)
    const { code } = await replay.closed
    expect(code).toBe(CloseCode.unauthorized)
    expect(decoding.readVarUint(decoding.createDecoder(recorded[1]!))).toBe(26)
  })

  it('skipping the proof is refused', async () => {
    const a = await start('a', 'correct horse battery')
    const { ws, closed } = await openSocket(a.url)
    const str = (e: encoding.Encoder, s: string) => encoding.writeVarString(e, s)
    ws.send(
      frame((e) => {
        encoding.writeVarUint(e, 16)
        encoding.writeVarUint(e, PROTOCOL_VERSION)
        for (const s of ['x', 'x', '']) str(e, s)
        encoding.writeVarUint(e, 1)
        for (const s of ['merge', 'n', '']) str(e, s)
      }),
    )
    ws.send(
      frame((e) => {
        encoding.writeVarUint(e, 17)
        str(e, 'default')
        encoding.writeVarUint(e, 0)
        encoding.writeVarUint8Array(e, new Uint8Array([0, 0]))
      }),
    )
    expect((await closed).code).toBe(CloseCode.unauthorized)
  })

  it('the acceptor sends no HMAC to a client that has not proved it knows the secret', async () => {
    // Otherwise any TCP client could collect a proof and guess the secret offline.
    const a = await start('a', 'correct horse battery')
    const { ws, messages, closed } = await openSocket(a.url)
    const str = (e: encoding.Encoder, s: string) => encoding.writeVarString(e, s)
    ws.send(
      frame((e) => {
        encoding.writeVarUint(e, 16)
        encoding.writeVarUint(e, PROTOCOL_VERSION)
        for (const s of ['guesser', 'guesser', '']) str(e, s)
        encoding.writeVarUint(e, 7)
        for (const s of ['merge', 'guesser-nonce-0123456789', '']) str(e, s)
      }),
    )
    await waitUntil('the acceptor to answer the hello', () => messages.length > 0)
    ws.send(
      frame((e) => {
        encoding.writeVarUint(e, 26)
        str(e, 'not-a-real-proof')
      }),
    )
    expect((await closed).code).toBe(CloseCode.unauthorized)
    const decoded = messages.map((m) => {
      const d = decoding.createDecoder(m)
      const type = decoding.readVarUint(d)
      if (type !== 16) return { type }
      decoding.readVarUint(d) // version
      for (let i = 0; i < 3; i++) decoding.readVarString(d) // id, name, url
      decoding.readVarUint(d) // client id
      decoding.readVarString(d) // onConflict
      const nonce = decoding.readVarString(d)
      return { type, nonce, proof: decoding.readVarString(d) }
    })
    expect(decoded).toEqual([{ type: 16, nonce: expect.any(String), proof: '' }])
  })

  it('rejects a weak secret at construction', () => {
    expect(() => new MeshNode({ secret: 'short' })).toThrow(/at least 8 characters/)
  })
})
