import type { IncomingMessage } from 'node:http'
import { MeshError, unrefTimer } from '../common/index.js'

/**
 * How much of a refused (oversized) request body is still read and dropped. A server that
 * answers 413 and closes while the client is still sending makes the client's kernel see a
 * reset, often before the client has read the answer (EPIPE in `fetch`): reading the rest
 * first lets every well-behaved client read its 413. Past these bounds the connection is cut,
 * after the answer was sent.
 */
export const DRAIN_LIMITS: Readonly<{ maxBytes: number; maxMs: number }> = {
  maxBytes: 64 * 1024 * 1024,
  maxMs: 10_000,
}

/** Requests already being drained: adapters may ask again after the body reader did. */
const draining = new WeakSet<IncomingMessage>()

const tooLarge = (limit: number): MeshError => new MeshError('too_large', `body larger than ${limit} bytes`)

/**
 * Reads and drops the rest of a Node request body, up to {@link DRAIN_LIMITS}; past them it
 * destroys the socket (the 413 has long been written by then).
 */
export const drainRequestBody = (req: IncomingMessage, bounds = DRAIN_LIMITS): void => {
  if (req.readableEnded || req.destroyed || draining.has(req)) return
  draining.add(req)
  let size = 0
  const stop = (): void => {
    clearTimeout(timer)
    req.off('data', onData)
  }
  const cut = (): void => {
    stop()
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- Node sets it to null once the socket is detached
    req.socket?.destroy()
  }
  const onData = (chunk: Buffer): void => {
    size += chunk.length
    if (size > bounds.maxBytes) cut()
  }
  const timer = setTimeout(cut, bounds.maxMs)
  unrefTimer(timer)
  req.on('data', onData)
  req.once('end', stop)
  req.once('close', stop)
  req.resume()
}

/**
 * Reads a Node request body as text, up to `limit` bytes; past it, drains the rest (see
 * {@link drainRequestBody}) and rejects with a `too_large` MeshError (the REST handler answers
 * 413). For adapters that sit on a Node HTTP server (Express, NestJS).
 */
export const readRequestBody = (req: IncomingMessage, limit: number): Promise<string> =>
  new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    const onData = (chunk: Buffer): void => {
      size += chunk.length
      if (size <= limit) return void chunks.push(chunk)
      req.off('data', onData)
      drainRequestBody(req)
      reject(tooLarge(limit))
    }
    req.on('data', onData)
    req.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    req.once('error', reject)
  })

/**
 * Reads a Fetch request body (`request.body`) as text, up to `limit` bytes; past it, rejects
 * with a `too_large` MeshError and leaves the rest unread for {@link drainBodyStream}. For
 * adapters on the Fetch API (Hono).
 */
export const readBodyStream = async (body: ReadableStream<Uint8Array> | null, limit: number): Promise<string> => {
  if (!body) return ''
  const reader = body.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      size += value.byteLength
      if (size > limit) throw tooLarge(limit)
      chunks.push(value)
    }
  } finally {
    reader.releaseLock()
  }
  return Buffer.concat(chunks).toString('utf8')
}

/**
 * Reads and drops what is left of a Fetch request body, up to {@link DRAIN_LIMITS}. Resolves
 * true when the body was read to its end (the connection can stay open), false when it was
 * cut short (answer with `Connection: close`).
 */
export const drainBodyStream = async (
  body: ReadableStream<Uint8Array> | null,
  bounds = DRAIN_LIMITS,
): Promise<boolean> => {
  if (!body || body.locked) return body === null
  const reader = body.getReader()
  let size = 0
  let timer: ReturnType<typeof setTimeout> | undefined
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), bounds.maxMs)
  })
  try {
    for (;;) {
      const next = await Promise.race([reader.read(), timedOut])
      if (next === 'timeout' || (!next.done && (size += next.value.byteLength) > bounds.maxBytes)) {
        await reader.cancel().catch(() => {})
        return false
      }
      if (next.done) return true
    }
  } catch {
    return false
  } finally {
    clearTimeout(timer)
    reader.releaseLock()
  }
}
