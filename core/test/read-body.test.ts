import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { drainBodyStream, MeshError, readBodyStream, readRequestBody } from '@mesh/core'
import { describe, expect, it } from 'vitest'

const stream = (chunks: number, size = 100, end = true): ReadableStream<Uint8Array> => {
  let sent = 0
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent < chunks) {
        sent++
        controller.enqueue(new Uint8Array(size).fill(120))
      } else if (end) controller.close()
      // Without `end`, the stream just stops sending, like a client that stalls.
    },
  })
}

describe('reading request bodies', () => {
  it('readBodyStream reads up to the limit, then refuses and leaves the rest for drainBodyStream', async () => {
    expect(await readBodyStream(stream(3), 300)).toBe('x'.repeat(300))
    const body = stream(10)
    await expect(readBodyStream(body, 250)).rejects.toMatchObject({ code: 'too_large' })
    expect(await drainBodyStream(body)).toBe(true)
    expect(await readBodyStream(null, 10)).toBe('')
  })

  it('drainBodyStream gives up past its bounds, so the answer says Connection: close', async () => {
    expect(await drainBodyStream(stream(10), { maxBytes: 500, maxMs: 5000 })).toBe(false)
    expect(await drainBodyStream(stream(1, 100, false), { maxBytes: 10_000, maxMs: 50 })).toBe(false)
  })

  it('readRequestBody refuses past the limit and still reads the rest, so the client sees the 413', async () => {
    const server = http.createServer((req, res) => {
      readRequestBody(req, 1000).then(
        (text) => res.writeHead(200).end(String(text.length)),
        (error: unknown) => res.writeHead(413).end((error as MeshError).message),
      )
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    try {
      const small = await fetch(url, { method: 'PUT', body: 'x'.repeat(1000) })
      expect([small.status, await small.text()]).toEqual([200, '1000'])
      for (let i = 0; i < 5; i++) {
        const big = await fetch(url, { method: 'PUT', body: 'x'.repeat(4 * 1024 * 1024) })
        expect([big.status, await big.text()]).toEqual([413, 'body larger than 1000 bytes'])
      }
    } finally {
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
    }
  })
})
