import { CloseCode } from '../common/index.js'
import { toBytes } from '../common/index.js'
import type { RateLimiter } from '../common/index.js'

/** How one kind of socket decodes, handles and refuses frames. */
export interface FrameRules<M> {
  maxBytes: number
  limiter: RateLimiter
  /** Counts the frame in the metrics, whatever happens to it next. */
  count(bytes: number): void
  /** Throws on anything malformed. */
  decode(bytes: Uint8Array): M
  /** Throws to refuse a well-formed message. */
  handle(message: M): void
  fail(code: number, reason: string): void
}

/**
 * The one path every received frame takes: text, empty, oversized, too frequent,
 * malformed and refused frames each close the socket with their own code and a reason.
 */
export const receiveFrame = <M>(data: Uint8Array | ArrayBuffer | string, rules: FrameRules<M>): void => {
  if (typeof data === 'string') return rules.fail(CloseCode.badMessage, 'text frames are not part of the protocol')
  const bytes = toBytes(data)
  rules.count(bytes.length)
  if (bytes.length === 0) return rules.fail(CloseCode.badMessage, 'empty frame')
  if (bytes.length > rules.maxBytes) {
    return rules.fail(CloseCode.tooLarge, `message of ${bytes.length} bytes exceeds ${rules.maxBytes}`)
  }
  if (!rules.limiter.take()) {
    return rules.fail(CloseCode.rateLimited, `more than ${rules.limiter.perSecond} messages per second`)
  }
  let message: M
  try {
    message = rules.decode(bytes)
  } catch (error) {
    return rules.fail(CloseCode.badMessage, `malformed message: ${(error as Error).message}`)
  }
  try {
    rules.handle(message)
  } catch (error) {
    rules.fail(CloseCode.badMessage, `rejected message: ${(error as Error).message}`)
  }
}
