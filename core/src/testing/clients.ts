import type { IncomingMessage } from 'node:http'
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
      reject(new Error(`upgrade on ${url} was answered with HTTP ${response.statusCode}`))
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
