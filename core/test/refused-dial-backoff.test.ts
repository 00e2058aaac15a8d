/**
 * Issue 12, item 3: a node whose peer refuses it (wrong or missing secret: 4401; a cut link:
 * 4403) used to redial about 18 times a second forever, with a WARN line each time. Refusals
 * must back off like any other failure and be logged a few times, not once per attempt.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { waitUntil } from '@mesh/core/testing'
import { memoryLogger, serveNode, type ServedNode } from './helpers.js'

const served: ServedNode[] = []
afterEach(async () => {
  for (const s of served.splice(0)) await s.close()
})

const WINDOW_MS = 3000
/**
 * Backoff starts at 100 ms and doubles (full jitter): about 7 attempts fit in 3 s on average,
 * and more than 14 is all but impossible. Redialing at once after each refusal makes ~50.
 */
const MAX_ATTEMPTS = 14

/** Resolves after the observation window: the test counts what happens within it. */
const windowElapses = () => new Promise((resolve) => setTimeout(resolve, WINDOW_MS))

describe('a refused dialer backs off', () => {
  for (const [what, secret] of [
    ['a wrong secret', 'not the mesh secret at all'],
    ['no secret', undefined],
  ] as const) {
    it(`with ${what}: bounded attempts, a few WARN lines that say why`, async () => {
      const acceptor = await serveNode({ name: 'acceptor', secret: 'correct horse battery staple' })
      served.push(acceptor)
      let attempts = 0
      acceptor.server.on('upgrade', () => attempts++)
      const { logger, entries } = memoryLogger()
      const dialer = await serveNode({ name: 'dialer', secret, logger })
      served.push(dialer)

      await dialer.node.join([acceptor.url], { wait: false })
      // It does retry (waited for, not timed: a loaded machine may stretch the first backoff)...
      await waitUntil('a second handshake', () => attempts >= 2, {
        timeoutMs: 15_000,
        subscribe: (wake) => {
          acceptor.server.on('upgrade', wake)
          return () => acceptor.server.off('upgrade', wake)
        },
      })
      // ...but not at once after every refusal.
      await windowElapses()
      expect(attempts, `handshakes the acceptor saw in ${WINDOW_MS} ms`).toBeLessThanOrEqual(MAX_ATTEMPTS)
      const warns = entries.filter((e) => e.level === 'warn')
      expect(warns.length, JSON.stringify(warns)).toBeGreaterThanOrEqual(1)
      expect(warns.length, JSON.stringify(warns)).toBeLessThanOrEqual(4)
      // The operator learns why: the close code and the peer's reason.
      expect(warns[0]?.fields).toMatchObject({ url: acceptor.url, code: 4401, reason: expect.any(String) })
      expect(dialer.node.status().peers[0]).toMatchObject({ url: acceptor.url, link: 'waiting' })
    })
  }

  it('a peer that cuts this node (4403 after the handshake) is redialed with backoff too', async () => {
    const a = await serveNode({ name: 'a' })
    served.push(a)
    let attempts = 0
    a.server.on('upgrade', () => attempts++)
    const { logger, entries } = memoryLogger()
    const b = await serveNode({ name: 'b', logger })
    served.push(b)
    a.node.cut(b.node.id)

    await b.node.join([a.url], { wait: false })
    await windowElapses()

    expect(attempts, `handshakes a saw in ${WINDOW_MS} ms`).toBeLessThanOrEqual(MAX_ATTEMPTS)
    const warns = entries.filter((e) => e.level === 'warn')
    expect(warns.length, JSON.stringify(warns)).toBeLessThanOrEqual(4)
  })
})
