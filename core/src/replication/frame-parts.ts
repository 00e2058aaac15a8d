import type { asSendable } from './protocol.js'
import { encodePeer, type FrameSegments } from './peer-messages.js'

type Frame = ReturnType<typeof asSendable>

/**
 * Largest piece of a frame on a peer link. A room's state crosses a link as one message (a
 * `diff` or a `repair`), as large as the room; cut into pieces it needs no frame limit as
 * large as the largest room, and other frames of the link wait behind one piece at most.
 */
export const PART_BYTES = 1024 * 1024

/** What `part` framing adds to a piece at most (type, total, piece length). */
const PART_OVERHEAD = 32

/** Size of the pieces `splitFrame` cuts a frame into, under a frame limit of `maxBytes`. */
export const pieceBytes = (maxBytes: number): number => Math.min(PART_BYTES, maxBytes) - PART_OVERHEAD

/** Bytes in a frame given as segments. */
export const frameLength = (segments: FrameSegments): number => segments.reduce((n, s) => n + s.length, 0)

/** Copies `length` bytes of the frame `segments`, from byte `from` of the frame, into `target` at `at`. */
const copyRange = (segments: FrameSegments, from: number, length: number, target: Uint8Array, at: number): void => {
  let start = 0
  for (const segment of segments) {
    const end = start + segment.length
    if (length > 0 && from < end) {
      const n = Math.min(end - from, length)
      target.set(segment.subarray(from - start, from - start + n), at)
      at += n
      from += n
      length -= n
    }
    start = end
  }
}

/** The frame `segments` in one buffer. */
export const joinSegments = (segments: FrameSegments): Frame => {
  const frame = new Uint8Array(frameLength(segments))
  copyRange(segments, 0, frame.length, frame, 0)
  return frame
}

/**
 * Cuts a frame larger than `maxBytes` into `part` messages of at most `maxBytes` each, to be
 * sent in order with nothing between them; a frame that fits goes whole. A frame given as
 * segments is never joined when it needs pieces: each piece is copied from the segments once.
 */
export const splitFrame = (frame: Frame | FrameSegments, maxBytes: number): Frame[] => {
  const segments = frame instanceof Uint8Array ? [frame] : frame
  const total = frameLength(segments)
  if (total <= maxBytes) return [frame instanceof Uint8Array ? frame : joinSegments(segments)]
  const size = pieceBytes(maxBytes)
  if (size < 1) throw new Error(`a frame limit of ${maxBytes} bytes leaves no room for pieces`)
  const parts = []
  for (let at = 0; at < total; at += size) {
    const length = Math.min(size, total - at)
    const head = encodePeer.partHead(total, length)
    const part = new Uint8Array(head.length + length)
    part.set(head)
    copyRange(segments, at, length, part, head.length)
    parts.push(part)
  }
  return parts
}

/**
 * Joins the pieces of one frame on a peer link. Throws (the link closes) on a piece that does
 * not continue the frame under way, or a frame larger than `maxBytes`.
 */
export class FrameAssembler {
  #maxBytes: number
  #minPiece: number
  #total = 0
  #pieces: Uint8Array[] = []
  #received = 0

  /** `minPiece`: fewest bytes in a piece other than the last. */
  constructor(options: { maxBytes: number; minPiece: number }) {
    this.#maxBytes = options.maxBytes
    this.#minPiece = options.minPiece
  }

  /** Adds a piece; returns the whole frame once its last piece arrived. */
  add(total: number, piece: Uint8Array): Uint8Array | undefined {
    if (this.#pieces.length === 0) {
      if (total > this.#maxBytes) throw new Error(`a frame of ${total} bytes in pieces exceeds ${this.#maxBytes}`)
      this.#total = total
    } else if (total !== this.#total) throw new Error('a piece of another frame before the last one was whole')
    if (piece.length === 0 || this.#received + piece.length > total) throw new Error('pieces beyond the frame size')
    // Pieces cost memory beyond their bytes: only the last may be small.
    if (this.#received + piece.length < total && piece.length < this.#minPiece) {
      throw new Error(`a piece of ${piece.length} bytes before the last (at least ${this.#minPiece})`)
    }
    this.#pieces.push(piece)
    this.#received += piece.length
    if (this.#received < total) return undefined
    const whole = new Uint8Array(total)
    let at = 0
    for (const p of this.#pieces) {
      whole.set(p, at)
      at += p.length
    }
    this.#pieces = []
    this.#received = 0
    return whole
  }
}
