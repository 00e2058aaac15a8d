import { encodePeer } from './peer-messages.js'
import { BATCH_MAX_FRAMES, type asSendable } from './protocol.js'

type Frame = ReturnType<typeof asSendable>

/** Frames up to this size wait for the end of the tick to leave together; larger ones go at once. */
export const BATCH_FRAME_BYTES = 16 * 1024
/** Most bytes of frames one `batch` message carries. */
const BATCH_BYTES = 64 * 1024
/** What the `batch` framing adds to its frames at most (type, count, a length per frame). */
const BATCH_OVERHEAD = 16 + 4 * BATCH_MAX_FRAMES

/**
 * Collects the small frames a peer link is sent in one tick (calls, answers, pub/sub messages,
 * a tick's updates of several rooms) and hands them on as one `batch` message. A peer counts
 * WebSocket messages against its rate limit, and each costs both sides a frame's work: a
 * burst of 100 calls was 100 of them, and a busy but honest peer had its link closed for it.
 */
export class FrameBatch {
  #send: (frame: Frame) => void
  #maxBytes: number
  #frames: Frame[] = []
  #bytes = 0
  #scheduled = false

  /** `send` writes one frame to the socket; `maxBytes` is the link's frame limit. */
  constructor(options: { send: (frame: Frame) => void; maxBytes: number }) {
    this.#send = options.send
    this.#maxBytes = Math.min(BATCH_BYTES, options.maxBytes - BATCH_OVERHEAD)
  }

  /** True when `frame` is small enough to wait for the tick's batch. */
  fits(frame: Frame): boolean {
    return frame.length <= Math.min(BATCH_FRAME_BYTES, this.#maxBytes)
  }

  /** Queues a frame (see {@link fits}); it leaves once this loop turn's I/O is handled, or sooner when the batch is full. */
  add(frame: Frame): void {
    if (this.#bytes + frame.length > this.#maxBytes || this.#frames.length >= BATCH_MAX_FRAMES) this.flush()
    this.#frames.push(frame)
    this.#bytes += frame.length
    if (this.#scheduled) return
    this.#scheduled = true
    setImmediate(this.#flushScheduled)
  }

  // After the I/O callbacks of this loop turn, not after this tick: what the other sockets read
  // in the same turn leaves in the same batch (a caller answered by two owners wrote twice).
  #flushScheduled = (): void => {
    this.#scheduled = false
    this.flush()
  }

  /** Sends what is queued now: before a frame that must not overtake it, and before the link closes. */
  flush(): void {
    const frames = this.#frames
    if (frames.length === 0) return
    // Reset first: sending may close the link, which flushes again.
    this.#frames = []
    this.#bytes = 0
    this.#send(frames.length === 1 ? (frames[0] as Frame) : encodePeer.batch(frames))
  }

  /** Forgets what is queued (the socket is gone). */
  clear(): void {
    this.#frames = []
    this.#bytes = 0
  }
}
