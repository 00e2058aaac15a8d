/**
 * Encoders and decoders of peer-link messages (`/mesh`, node to node): the layout of each
 * is in the header of protocol.ts.
 */
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import {
  ANSWER_STATUSES,
  BATCH_MAX_FRAMES,
  encodeFrame,
  MessageType,
  PROTOCOL_VERSION,
  RESOLUTIONS,
  type AnswerStatus,
  type CallMessage,
  type PublishMessage,
  type Resolution,
} from './protocol.js'
import { BATCH_FRAME_BYTES, varUintBytes, writeVarUintAt } from './frame-batch.js'
import { lastCapability, lastTarget, readRepeated, writeString } from './short-strings.js'

/** One frame as consecutive byte ranges, joined only when it is sent (see `splitFrame`). */
export type FrameSegments = readonly Uint8Array[]

/** Handshake contents exchanged on a peer link. */
export interface Hello {
  version: number
  nodeId: string
  name: string
  url: string
  clientId: number
  onConflict: string
  /** Random per connection; the other side's proof must cover it. */
  nonce: string
  /** Always empty since protocol version 2: proofs travel in `prove` (see the file header). */
  proof: string
}

/** A decoded peer-link message. */
export type PeerMessage =
  | ({ type: typeof MessageType.hello } & Hello)
  | { type: typeof MessageType.state; room: string; resolution: Resolution; snapshot: Uint8Array }
  | { type: typeof MessageType.diff; room: string; update: Uint8Array; changed: string }
  | { type: typeof MessageType.updates; room: string; updates: Uint8Array[] }
  | { type: typeof MessageType.roomAwareness; room: string; update: Uint8Array }
  | { type: typeof MessageType.hold; room: string; changed: string }
  | { type: typeof MessageType.leave; reason: string }
  | { type: typeof MessageType.gossip; json: string }
  | { type: typeof MessageType.prove; proof: string }
  | { type: typeof MessageType.check; room: string; snapshot: Uint8Array; reply: boolean }
  | { type: typeof MessageType.repair; room: string; update: Uint8Array }
  | { type: typeof MessageType.part; total: number; piece: Uint8Array }
  | ({ type: typeof MessageType.call } & CallMessage)
  | { type: typeof MessageType.answer; callId: number; status: AnswerStatus; body: string }
  | ({ type: typeof MessageType.publish } & PublishMessage)
  | { type: typeof MessageType.relays; room: string; peers: string[]; want: Uint8Array }
  /** `count` frames (each `varUint(length)` and the frame) that `frames` is positioned at: see `decodeBatched`. */
  | { type: typeof MessageType.batch; frames: decoding.Decoder; count: number }

/**
 * Writers of the frames calls send, into a given encoder: a peer link copies them from a
 * scratch encoder straight into its batch (`PeerLink.sendEncoded`), so a call or an answer
 * makes no frame of its own. Each returns the encoder.
 */
export const writePeer = {
  call: (e: encoding.Encoder, c: CallMessage): encoding.Encoder => {
    encoding.writeVarUint(e, MessageType.call)
    encoding.writeVarUint(e, c.callId)
    writeString(e, c.capability)
    writeString(e, c.id)
    writeString(e, c.target)
    encoding.writeVarUint(e, c.flags)
    encoding.writeVarUint(e, c.timeoutMs)
    writeString(e, c.payload)
    return e
  },
  answer: (e: encoding.Encoder, callId: number, status: AnswerStatus, body: string): encoding.Encoder => {
    encoding.writeVarUint(e, MessageType.answer)
    encoding.writeVarUint(e, callId)
    encoding.writeVarUint(e, ANSWER_STATUSES.indexOf(status))
    writeString(e, body)
    return e
  },
}

/** Encoders for peer-link frames. */
export const encodePeer = {
  hello: (h: Omit<Hello, 'version'>) =>
    encodeFrame((e) => {
      encoding.writeVarUint(e, MessageType.hello)
      encoding.writeVarUint(e, PROTOCOL_VERSION)
      encoding.writeVarString(e, h.nodeId)
      encoding.writeVarString(e, h.name)
      encoding.writeVarString(e, h.url)
      encoding.writeVarUint(e, h.clientId)
      encoding.writeVarString(e, h.onConflict)
      encoding.writeVarString(e, h.nonce)
      encoding.writeVarString(e, h.proof)
    }),
  prove: (proof: string) =>
    encodeFrame((e) => {
      encoding.writeVarUint(e, MessageType.prove)
      encoding.writeVarString(e, proof)
    }),
  state: (room: string, snapshot: Uint8Array, resolution: Resolution = 'none') =>
    encodeFrame((e) => {
      encoding.writeVarUint(e, MessageType.state)
      encoding.writeVarString(e, room)
      encoding.writeVarUint(e, RESOLUTIONS.indexOf(resolution))
      encoding.writeVarUint8Array(e, snapshot)
    }),
  diff: (room: string, update: Uint8Array, changed: string) =>
    encodeFrame((e) => {
      encoding.writeVarUint(e, MessageType.diff)
      encoding.writeVarString(e, room)
      encoding.writeVarUint8Array(e, update)
      encoding.writeVarString(e, changed)
    }),
  /**
   * The `diff` frame as its byte ranges, the update itself untouched: a room's whole state (tens
   * of MB at a million keys) is then copied once, into the pieces it is sent in, rather than
   * into the frame and again into each piece.
   */
  diffSegments: (room: string, update: Uint8Array, changed: string): FrameSegments => [
    encodeFrame((e) => {
      encoding.writeVarUint(e, MessageType.diff)
      encoding.writeVarString(e, room)
      encoding.writeVarUint(e, update.length)
    }),
    update,
    encodeFrame((e) => encoding.writeVarString(e, changed)),
  ],
  updates: (room: string, updates: readonly Uint8Array[]) =>
    encodeFrame((e) => {
      encoding.writeVarUint(e, MessageType.updates)
      encoding.writeVarString(e, room)
      encoding.writeVarUint(e, updates.length)
      for (const u of updates) encoding.writeVarUint8Array(e, u)
    }),
  roomAwareness: (room: string, update: Uint8Array) =>
    encodeFrame((e) => {
      encoding.writeVarUint(e, MessageType.roomAwareness)
      encoding.writeVarString(e, room)
      encoding.writeVarUint8Array(e, update)
    }),
  hold: (room: string, changed: string) =>
    encodeFrame((e) => {
      encoding.writeVarUint(e, MessageType.hold)
      encoding.writeVarString(e, room)
      encoding.writeVarString(e, changed)
    }),
  leave: (reason: string) =>
    encodeFrame((e) => {
      encoding.writeVarUint(e, MessageType.leave)
      encoding.writeVarString(e, reason)
    }),
  gossip: (json: string) =>
    encodeFrame((e) => {
      encoding.writeVarUint(e, MessageType.gossip)
      encoding.writeVarString(e, json)
    }),
  check: (room: string, snapshot: Uint8Array, reply = false) =>
    encodeFrame((e) => {
      encoding.writeVarUint(e, MessageType.check)
      encoding.writeVarString(e, room)
      encoding.writeVarUint8Array(e, snapshot)
      encoding.writeVarUint(e, reply ? 1 : 0)
    }),
  repair: (room: string, update: Uint8Array) =>
    encodeFrame((e) => {
      encoding.writeVarUint(e, MessageType.repair)
      encoding.writeVarString(e, room)
      encoding.writeVarUint8Array(e, update)
    }),
  /** The `repair` frame as its byte ranges (see `diffSegments`). */
  repairSegments: (room: string, update: Uint8Array): FrameSegments => [
    encodeFrame((e) => {
      encoding.writeVarUint(e, MessageType.repair)
      encoding.writeVarString(e, room)
      encoding.writeVarUint(e, update.length)
    }),
    update,
  ],
  part: (total: number, piece: Uint8Array) =>
    encodeFrame((e) => {
      encoding.writeVarUint(e, MessageType.part)
      encoding.writeVarUint(e, total)
      encoding.writeVarUint8Array(e, piece)
    }),
  /** What a `part` frame holds before its piece's bytes. */
  partHead: (total: number, length: number) =>
    encodeFrame((e) => {
      encoding.writeVarUint(e, MessageType.part)
      encoding.writeVarUint(e, total)
      encoding.writeVarUint(e, length)
    }),
  call: (c: CallMessage) => encodeFrame((e) => writePeer.call(e, c)),
  answer: (callId: number, status: AnswerStatus, body: string) =>
    encodeFrame((e) => writePeer.answer(e, callId, status, body)),
  /** `want`: the sender's state vector, when it lost a synced peer (relay-horizon.ts). */
  relays: (room: string, peers: readonly string[], want: Uint8Array = new Uint8Array(0)) =>
    encodeFrame((e) => {
      encoding.writeVarUint(e, MessageType.relays)
      encoding.writeVarString(e, room)
      encoding.writeVarUint(e, peers.length)
      for (const peer of peers) encoding.writeVarString(e, peer)
      encoding.writeVarUint8Array(e, want)
    }),
  publish: (m: PublishMessage) =>
    encodeFrame((e) => {
      encoding.writeVarUint(e, MessageType.publish)
      encoding.writeVarString(e, m.origin)
      encoding.writeVarUint(e, m.seq)
      encoding.writeVarString(e, m.topic)
      encoding.writeVarString(e, m.payload)
    }),
  /** Sized up front and copied frame by frame: a batch is tens of frames, every tick, on every busy link. */
  batch: (frames: readonly Uint8Array[]) => {
    let size = varUintBytes(MessageType.batch) + varUintBytes(frames.length)
    for (const frame of frames) size += varUintBytes(frame.length) + frame.length
    const out = new Uint8Array(size)
    let at = writeVarUintAt(out, 0, MessageType.batch)
    at = writeVarUintAt(out, at, frames.length)
    for (const frame of frames) {
      at = writeVarUintAt(out, at, frame.length)
      out.set(frame, at)
      at += frame.length
    }
    return out
  },
}

/** Decodes one peer-link frame. Throws on anything malformed, unknown or with trailing bytes. */
export const decodePeer = (bytes: Uint8Array): PeerMessage => decodeUntil(decoding.createDecoder(bytes), bytes.length)

/**
 * Decodes the next frame of a `batch` (see `PeerMessage`), in place: `d` reads the batch and
 * stops after the frame. Throws on a frame that is malformed, too large, or a `batch` or `part`.
 */
export const decodeBatched = (d: decoding.Decoder): PeerMessage => {
  const length = decoding.readVarUint(d)
  if (length > BATCH_FRAME_BYTES) throw new Error(`a frame of ${length} bytes in a batch`)
  const inner = decodeUntil(d, d.pos + length)
  if (inner.type === MessageType.batch || inner.type === MessageType.part)
    throw new Error('a batch or part inside a batch')
  return inner
}

/** Decodes the message `d` is at, which must end exactly at `end`. */
const decodeUntil = (d: decoding.Decoder, end: number): PeerMessage => {
  const bytes = d.arr
  const type = decoding.readVarUint(d)
  let message: PeerMessage
  switch (type) {
    case MessageType.hello:
      message = {
        type,
        version: decoding.readVarUint(d),
        nodeId: decoding.readVarString(d),
        name: decoding.readVarString(d),
        url: decoding.readVarString(d),
        clientId: decoding.readVarUint(d),
        onConflict: decoding.readVarString(d),
        nonce: decoding.readVarString(d),
        proof: decoding.readVarString(d),
      }
      break
    case MessageType.prove:
      message = { type, proof: decoding.readVarString(d) }
      break
    case MessageType.state: {
      const room = decoding.readVarString(d)
      const resolution = RESOLUTIONS[decoding.readVarUint(d)]
      if (resolution === undefined) throw new Error('unknown resolution')
      message = { type, room, resolution, snapshot: decoding.readVarUint8Array(d) }
      break
    }
    case MessageType.diff:
      message = {
        type,
        room: decoding.readVarString(d),
        update: decoding.readVarUint8Array(d),
        changed: decoding.readVarString(d),
      }
      break
    case MessageType.updates: {
      const room = decoding.readVarString(d)
      const n = decoding.readVarUint(d)
      // Each update takes at least one byte, so a count beyond the frame is a lie.
      if (n > bytes.length) throw new Error('update count exceeds frame size')
      const updates: Uint8Array[] = []
      for (let i = 0; i < n; i++) updates.push(decoding.readVarUint8Array(d))
      message = { type, room, updates }
      break
    }
    case MessageType.roomAwareness:
      message = { type, room: decoding.readVarString(d), update: decoding.readVarUint8Array(d) }
      break
    case MessageType.hold:
      message = { type, room: decoding.readVarString(d), changed: decoding.readVarString(d) }
      break
    case MessageType.leave:
      message = { type, reason: decoding.readVarString(d) }
      break
    case MessageType.gossip:
      message = { type, json: decoding.readVarString(d) }
      break
    case MessageType.check:
      message = {
        type,
        room: decoding.readVarString(d),
        snapshot: decoding.readVarUint8Array(d),
        reply: decoding.readVarUint(d) === 1,
      }
      break
    case MessageType.repair:
      message = { type, room: decoding.readVarString(d), update: decoding.readVarUint8Array(d) }
      break
    case MessageType.part:
      message = { type, total: decoding.readVarUint(d), piece: decoding.readVarUint8Array(d) }
      break
    case MessageType.call:
      message = {
        type,
        callId: decoding.readVarUint(d),
        capability: readRepeated(d, lastCapability),
        id: decoding.readVarString(d),
        target: readRepeated(d, lastTarget),
        flags: decoding.readVarUint(d),
        timeoutMs: decoding.readVarUint(d),
        payload: decoding.readVarString(d),
      }
      break
    case MessageType.answer: {
      const callId = decoding.readVarUint(d)
      const status = ANSWER_STATUSES[decoding.readVarUint(d)]
      if (status === undefined) throw new Error('unknown answer status')
      message = { type, callId, status, body: decoding.readVarString(d) }
      break
    }
    case MessageType.publish:
      message = {
        type,
        origin: decoding.readVarString(d),
        seq: decoding.readVarUint(d),
        topic: decoding.readVarString(d),
        payload: decoding.readVarString(d),
      }
      break
    case MessageType.relays: {
      const room = decoding.readVarString(d)
      const n = decoding.readVarUint(d)
      // Each id takes at least one byte, so a count beyond the frame is a lie.
      if (n > bytes.length) throw new Error('peer count exceeds frame size')
      const peers: string[] = []
      for (let i = 0; i < n; i++) peers.push(decoding.readVarString(d))
      message = { type, room, peers, want: decoding.readVarUint8Array(d) }
      break
    }
    case MessageType.batch: {
      const count = decoding.readVarUint(d)
      if (count > BATCH_MAX_FRAMES) throw new Error(`a batch of ${count} frames (at most ${BATCH_MAX_FRAMES})`)
      // Only checked here; the frames are decoded in place as they are handled (`decodeBatched`).
      const at = d.pos
      for (let i = 0; i < count; i++) {
        const length = decoding.readVarUint(d)
        if (length > end - d.pos) throw new Error('a batch frame runs past the end')
        d.pos += length
      }
      const frames = decoding.createDecoder(bytes)
      frames.pos = at
      message = { type, frames, count }
      break
    }
    default:
      throw new Error(`unknown peer message type ${type}`)
  }
  if (d.pos !== end)
    throw new Error(d.pos > end ? 'a field runs past the end of the message' : 'trailing bytes after message')
  return message
}
