import { request, type IncomingMessage } from 'node:http'
import { WebSocket } from 'ws'
import { withTimeout } from './wait.js'

/** A plain `ws` client, for sending frames no well-behaved client would send. */
export interface RawClient {
  readonly socket: WebSocket
  /** Resolves when the socket closes, with the code and reason the server gave. */
  readonly closed: Promise<{ code: number; reason: string }>
}

/** Opens a raw WebSocket and resolves once it is open; rejects with the HTTP status if refused. */
export const openRawSocket = async (url: string, timeoutMs = 5000): Promise<RawClient> => {
  const socket = new WebSocket(url)
  // Listeners go on before awaiting `open`: the server speaks first and may close at once.
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    socket.on('close', (code: number, reason: Buffer) => resolve({ code, reason: reason.toString() })),
  )
  socket.on('message', () => {})
  const opened = new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve())
    socket.once('error', (error: Error) => reject(new Error(`WebSocket ${url} failed: ${error.message}`)))
    socket.once('unexpected-response', (request, response: IncomingMessage) => {
      request.destroy()
      reject(new Error(`upgrade on ${url} was answered with HTTP ${String(response.statusCode)}`))
    })
  })
  await withTimeout(opened, timeoutMs, `WebSocket ${url} to open`)
  return { socket, closed }
}

/**
 * Attempts an upgrade that should be refused and resolves with the HTTP status the server
 * answered. Rejects if the upgrade is accepted, if the connection drops without a status
 * line, or if nothing answers in time (an unanswered upgrade keeps `server.close()` hanging).
 */
export const refusedUpgradeStatus = (url: string, timeoutMs = 5000): Promise<number> => {
  const socket = new WebSocket(url)
  const answer = new Promise<number>((resolve, reject) => {
    socket.once('unexpected-response', (request, response: IncomingMessage) => {
      resolve(response.statusCode ?? 0)
      response.resume()
      request.destroy()
    })
    socket.once('open', () => reject(new Error(`upgrade on ${url} was accepted; expected an HTTP error status`)))
    socket.on('error', (error: Error) =>
      reject(new Error(`upgrade on ${url} ended without an HTTP status line: ${error.message}`)),
    )
  })
  return withTimeout(answer, timeoutMs, `an HTTP answer to the upgrade on ${url}`).finally(() => socket.terminate())
}

/** A parsed HTTP answer of the REST API. */
export interface RestReply {
  status: number
  contentType: string
  /** The JSON body, or the raw text when it is not JSON. */
  body: unknown
}

/** Sends one HTTP request and parses the answer as JSON when it is. */
export const restCall = async (url: string, init: RequestInit = {}): Promise<RestReply> => {
  const response = await fetch(url, init)
  const text = await response.text()
  let body: unknown = text
  try {
    body = JSON.parse(text)
  } catch {
    // Not JSON: the assertions show the raw text.
  }
  return { status: response.status, contentType: response.headers.get('content-type') ?? '', body }
}

/**
 * Sends a request with `node:http` and resolves with the answer as soon as it arrives, even
 * while the body is still being written: a server may refuse an oversized body early and
 * close the connection, which `fetch` reports as a network error instead of the status.
 * `chunked` sends the body in pieces without a `content-length`.
 */
export const uploadCall = (
  url: string,
  options: { method: string; body: Uint8Array | string; chunked?: boolean; timeoutMs?: number },
): Promise<RestReply> => {
  const body = Buffer.from(options.body)
  const answer = new Promise<RestReply>((resolve, reject) => {
    const req = request(url, {
      method: options.method,
      headers: {
        'content-type': 'application/json',
        ...(options.chunked ? { 'transfer-encoding': 'chunked' } : { 'content-length': body.length }),
      },
    })
    req.on('response', (response: IncomingMessage) => {
      const chunks: Buffer[] = []
      response.on('data', (chunk: Buffer) => chunks.push(chunk))
      response.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        let parsed: unknown = text
        try {
          parsed = JSON.parse(text)
        } catch {
          // Not JSON: the assertions show the raw text.
        }
        resolve({ status: response.statusCode ?? 0, contentType: response.headers['content-type'] ?? '', body: parsed })
        req.destroy()
      })
    })
    // After the answer, a reset from a server that stopped reading is expected.
    req.on('error', (error: Error) => reject(new Error(`${options.method} ${url} failed: ${error.message}`)))
    const piece = 64 * 1024
    for (let at = 0; at < body.length; at += piece) req.write(body.subarray(at, at + piece))
    req.end()
  })
  return withTimeout(answer, options.timeoutMs ?? 5000, `an answer to ${options.method} ${url}`)
}
