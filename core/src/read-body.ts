import type { IncomingMessage } from 'node:http'
import { MeshError } from './errors.js'

/**
 * Reads a Node request body as text, up to `limit` bytes; past it, drains the rest and
 * rejects with a `too_large` MeshError (the REST handler answers 413). For adapters that
 * sit on a Node HTTP server (Express, NestJS).
 */
export const readRequestBody = (req: IncomingMessage, limit: number): Promise<string> =>
  new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    const onData = (chunk: Buffer): void => {
      size += chunk.length
      if (size <= limit) return void chunks.push(chunk)
      req.off('data', onData)
      req.resume()
      reject(new MeshError('too_large', `body larger than ${limit} bytes`))
    }
    req.on('data', onData)
    req.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    req.once('error', reject)
  })
