import * as encoding from 'lib0/encoding'
import { asSendable, BATCH_MAX_FRAMES, MessageType } from './protocol.js'

type Frame = ReturnType<typeof asSendable>

/** Frames up to this size wait for the end of the tick to leave together; larger ones go at once. */
export const BATCH_FRAME_BYTES = 16 * 1024
/** Most bytes of frames one `batch` message carries. */
const BATCH_BYTES = 64 * 1024
/** What the `batch` framing adds to its frames at most (type, count, a length per frame). */
const BATCH_OVERHEAD = 16 + 4 * BATCH_MAX_FRAMES
/** The queue's first buffer; it doubles as needed, up to a whole batch. */
const INITIAL_BYTES = 4096
/** Frames shorter than this are copied byte by byte (`set` would first make a view of them). */
const SHORT_FRAME = 128

/** Bytes lib0's `writeVarUint` takes for `n`. */
export const varUintBytes = (n: number): number => {
  let bytes = 1
  for (let rest = n; rest > 0x7f; rest = Math.floor(rest / 128)) bytes++
  return bytes
}

/** Writes `n` as lib0's `writeVarUint` does, at `at`; returns the position after it. */
export const writeVarUintAt = (out: Uint8Array, at: number, n: number): number => {
  let rest = n
  let i = at
  while (rest > 0x7f) {
    out[i++] = 0x80 | (rest & 0x7f)
    rest = Math.floor(rest / 128)
  }
  out[i++] = rest
  return i
}

/** The frame an encoder holds, as its own array (when it cannot be copied into a batch). */
export const frameOf = (encoder: encoding.Encoder): Frame => asSendable(encoding.toUint8Array(encoder))

/**
 * Collects the small frames a peer link is sent in one tick (calls, answers, pub/sub messages,
 * a tick's updates of several rooms) and hands them on as one `batch` message. A peer counts
 * WebSocket messages against its rate limit, and each costs both sides a frame's work: a
 * burst of 100 calls was 100 of them, and a busy but honest peer had its link closed for it.
 *
 * Frames are copied into one buffer as they come, already framed as the `batch` carries them
 * (`varUint(length)` and the bytes), so a frame encoded in a scratch encoder needs no
 * `Uint8Array` of its own ({@link addEncoded}): at tens of thousands of calls a second, that
 * array was the largest thing a call allocated. A whole frame that goes alone (a tick's updates
 * of one room, most often) is sent as it is, copied only once another joins it.
 */
export class FrameBatch {
  #send: (frame: Frame) => void
  #maxBytes: number
  #frameLimit: number
  #buf = new Uint8Array(0)
  /** A frame queued alone, not copied yet: sent as it is when nothing joins it. */
  #alone: Frame | undefined
  /** Bytes written to `#buf`: lengths and frames. */
  #pos = 0
  /** Bytes of the frames alone (what `#maxBytes` bounds). */
  #bytes = 0
  #count = 0
  #scheduled = false

  /** `send` writes one frame to the socket; `maxBytes` is the link's frame limit. */
  constructor(options: { send: (frame: Frame) => void; maxBytes: number }) {
    this.#send = options.send
    this.#maxBytes = Math.min(BATCH_BYTES, options.maxBytes - BATCH_OVERHEAD)
    this.#frameLimit = Math.min(BATCH_FRAME_BYTES, this.#maxBytes)
  }

  /** True when `frame` is small enough to wait for the tick's batch. */
  fits(frame: Frame): boolean {
    return frame.length <= this.#frameLimit
  }

  /** Queues a frame (see {@link fits}); it leaves once this loop turn's I/O is handled, or sooner when the batch is full. */
  add(frame: Frame): void {
    if (this.#bytes + frame.length > this.#maxBytes || this.#count >= BATCH_MAX_FRAMES) this.flush()
    if (this.#count > 0) return this.#append(frame, frame.length)
    this.#alone = frame
    this.#queued(frame.length)
  }

  /**
   * Queues the frame held by `encoder`, copying it now, when it fits beside what is queued;
   * false (nothing queued, nothing sent) when it does not. Never sends: the encoder may be a
   * scratch one that whatever a send sets off would overwrite.
   */
  addEncoded(encoder: encoding.Encoder): boolean {
    const length = encoder.cpos
    if (encoder.bufs.length > 0 || length > this.#frameLimit) return false
    if (this.#bytes + length > this.#maxBytes || this.#count >= BATCH_MAX_FRAMES) return false
    this.#append(encoder.cbuf, length)
    return true
  }

  #append(bytes: Uint8Array, length: number): void {
    const alone = this.#alone
    if (alone) {
      this.#alone = undefined
      this.#copy(alone, alone.length)
    }
    this.#copy(bytes, length)
    this.#queued(length)
  }

  #copy(bytes: Uint8Array, length: number): void {
    const need = this.#pos + 3 + length
    if (need > this.#buf.length) {
      const grown = new Uint8Array(Math.max(INITIAL_BYTES, need, 2 * this.#buf.length))
      grown.set(this.#buf.subarray(0, this.#pos))
      this.#buf = grown
    }
    const buf = this.#buf
    let at = writeVarUintAt(buf, this.#pos, length)
    if (length < SHORT_FRAME) for (let i = 0; i < length; i++) buf[at++] = bytes[i] as number
    else {
      buf.set(length === bytes.length ? bytes : bytes.subarray(0, length), at)
      at += length
    }
    this.#pos = at
  }

  #queued(length: number): void {
    this.#bytes += length
    this.#count++
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
    const count = this.#count
    if (count === 0) return
    const buf = this.#buf
    const body = this.#pos
    let out: Frame
    if (this.#alone) out = this.#alone
    else if (count === 1) out = buf.slice(varUintBytes(this.#bytes), body)
    else {
      const head = varUintBytes(MessageType.batch) + varUintBytes(count)
      out = new Uint8Array(head + body)
      writeVarUintAt(out, writeVarUintAt(out, 0, MessageType.batch), count)
      out.set(buf.subarray(0, body), head)
    }
    // Reset first: sending may close the link, which flushes again.
    this.#reset()
    this.#send(out)
  }

  /** Forgets what is queued (the socket is gone). */
  clear(): void {
    this.#reset()
    this.#buf = new Uint8Array(0)
  }

  #reset(): void {
    this.#alone = undefined
    this.#pos = 0
    this.#bytes = 0
    this.#count = 0
  }
}
