/**
 * Every refused socket is counted and logged with its close code and reason, at the level
 * docs/security.md ("Refusals in the log") gives for it.
 */
import { CloseCode, createRestHandler, type MeshNode } from '@mesh/core'
import { waitUntil } from '@mesh/core/testing'
import WebSocket from 'ws'
import { describe, expect, it } from 'vitest'
import { memoryLogger, openSocket, servedPerTest } from './helpers.js'

const { start } = servedPerTest()

const rejected = async (node: MeshNode, reason: string): Promise<number> => {
  const res = await createRestHandler(node)({
    method: 'GET',
    path: '/metrics',
    query: new URLSearchParams(),
    body: () => Promise.resolve(''),
  })
  const line = new RegExp(`^mesh_rejected_total\\{reason="${reason}"\\} (\\d+)$`, 'm').exec(String(res.body))
  return Number(line?.[1] ?? 0)
}

describe('refusals in the log', () => {
  it('a malformed frame from a light peer: 4400, warn', async () => {
    const log = memoryLogger()
    const a = await start({ name: 'a', logger: log.logger })
    const { ws, closed } = await openSocket(`${a.url}/default`)
    ws.send(Buffer.from([0, 9, 9]))
    expect((await closed).code).toBe(CloseCode.badMessage)
    expect(log.entries).toContainEqual(
      expect.objectContaining({
        level: 'warn',
        message: 'closing light peer',
        fields: expect.objectContaining({ code: 4400 }),
      }),
    )
    expect(await rejected(a.node, 'bad_message')).toBe(1)
  })

  it('a light peer the authenticate hook denies: 4401, info', async () => {
    const log = memoryLogger()
    const a = await start({
      name: 'a',
      logger: log.logger,
      // REST stays open here: the metrics are read through it.
      authenticate: (req) => (req.kind === 'rest' ? true : { allow: false, reason: 'sign in' }),
    })
    const { closed } = await openSocket(`${a.url}/default`)
    expect(await closed).toEqual({ code: CloseCode.unauthorized, reason: 'sign in' })
    expect(log.entries).toContainEqual({
      level: 'info',
      message: 'light peer refused',
      fields: { code: 4401, reason: 'sign in' },
    })
    expect(await rejected(a.node, 'unauthorized')).toBe(1)
  })

  it('a socket over maxConnections: 4429, warn', async () => {
    const log = memoryLogger()
    const a = await start({ name: 'a', logger: log.logger, limits: { maxConnections: 1 } })
    const one = await openSocket(`${a.url}/default`)
    const two = await openSocket(`${a.url}/default`)
    expect(await two.closed).toEqual({ code: CloseCode.rateLimited, reason: 'too many connections' })
    expect(log.entries).toContainEqual({
      level: 'warn',
      message: 'refusing socket: too many connections',
      fields: { limit: 1, room: 'default' },
    })
    expect(await rejected(a.node, 'rate_limited')).toBe(1)
    one.ws.close()
  })

  it('a light peer on a room name the node refuses, or past maxRooms: 4400 or 4429, warn', async () => {
    const log = memoryLogger()
    const a = await start({ name: 'a', logger: log.logger, limits: { maxRooms: 2 } })
    const reserved = await openSocket(`${a.url}/_secret`)
    expect((await reserved.closed).code).toBe(CloseCode.badMessage)
    const second = await openSocket(`${a.url}/second`)
    const third = await openSocket(`${a.url}/third`)
    expect(await third.closed).toEqual({ code: CloseCode.rateLimited, reason: 'room limit of 2 reached' })
    const refusals = log.entries.filter((e) => e.message === 'refusing light peer: its room')
    expect(refusals.map((e) => [e.level, e.fields?.code])).toEqual([
      ['warn', 4400],
      ['warn', 4429],
    ])
    expect(await rejected(a.node, 'bad_message')).toBe(1)
    expect(await rejected(a.node, 'rate_limited')).toBe(1)
    second.ws.close()
  })

  it('a browser page on the peer endpoint: 4403, warn', async () => {
    const log = memoryLogger()
    const a = await start({ name: 'a', logger: log.logger })
    const ws = new WebSocket(a.url, { headers: { origin: 'https://page.example' } })
    const code = await new Promise<number>((resolve) => ws.on('close', (c) => resolve(c)))
    expect(code).toBe(CloseCode.forbidden)
    expect(log.entries).toContainEqual({
      level: 'warn',
      message: 'peer refused: browser origin',
      fields: { origin: 'https://page.example' },
    })
  })

  it('a peer without the mesh secret: 4401, warn on the refusing node; the refused dialer warns once, then at debug', async () => {
    const aLog = memoryLogger()
    const bLog = memoryLogger()
    const a = await start({ name: 'a', logger: aLog.logger, secret: 'the right mesh secret' })
    const b = await start({
      name: 'b',
      logger: bLog.logger,
      secret: 'another mesh secret!',
      reconnect: { minDelayMs: 10, maxDelayMs: 20 },
    })
    void b.node.join([a.url], { wait: false })
    await waitUntil(
      'b refused three times',
      () => bLog.entries.filter((e) => e.message.startsWith('peer refused this node')).length >= 3,
    )
    expect(aLog.entries).toContainEqual(
      expect.objectContaining({
        level: 'warn',
        message: 'closing peer link',
        fields: expect.objectContaining({ code: 4401, reason: 'wrong or missing mesh secret' }),
      }),
    )
    const dialer = bLog.entries.filter((e) => e.message.startsWith('peer refused this node'))
    expect(dialer.slice(0, 3).map((e) => e.level)).toEqual(['warn', 'warn', 'debug'])
  })
})
