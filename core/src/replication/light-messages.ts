/**
 * Encoders and decoders of light-peer messages (`/mesh/:room`, y-protocols as `y-websocket`
 * speaks them): the layout is in the header of protocol.ts. A node reads one message per
 * frame; light-frame.ts reads every message of a frame, for `@mesh/client`.
 */
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import { assertFrameEnd, encodeFrame, MessageType, SyncType, TopicOp } from './protocol.js'

/** A decoded light-peer (y-protocols) message. */
export type LightMessage =
  | { type: typeof MessageType.sync; sub: (typeof SyncType)[keyof typeof SyncType]; payload: Uint8Array }
  | { type: typeof MessageType.awareness; update: Uint8Array }
  | { type: typeof MessageType.auth }
  | { type: typeof MessageType.queryAwareness }
  | { type: typeof MessageType.topic; subscribe: boolean; topic: string }
  | { type: typeof MessageType.message; topic: string; payload: string }

/** Decodes one light-peer frame. Throws on anything malformed or unknown. */
export const decodeLight = (bytes: Uint8Array): LightMessage => {
  const d = decoding.createDecoder(bytes)
  const type = decoding.readVarUint(d)
  let message: LightMessage
  switch (type) {
    case MessageType.sync: {
      const sub = decoding.readVarUint(d)
      if (sub !== SyncType.step1 && sub !== SyncType.step2 && sub !== SyncType.update) {
        throw new Error(`unknown sync message ${sub}`)
      }
      message = { type, sub, payload: decoding.readVarUint8Array(d) }
      break
    }
    case MessageType.awareness:
      message = { type, update: decoding.readVarUint8Array(d) }
      break
    case MessageType.auth:
      // Clients have nothing to say here; read and ignore the permission payload.
      decoding.readVarUint(d)
      decoding.readVarString(d)
      message = { type }
      break
    case MessageType.queryAwareness:
      message = { type }
      break
    case MessageType.topic: {
      const op = decoding.readVarUint(d)
      if (op !== TopicOp.subscribe && op !== TopicOp.unsubscribe) throw new Error(`unknown topic operation ${op}`)
      message = { type, subscribe: op === TopicOp.subscribe, topic: decoding.readVarString(d) }
      break
    }
    case MessageType.message:
      message = { type, topic: decoding.readVarString(d), payload: decoding.readVarString(d) }
      break
    default:
      throw new Error(`unknown message type ${type}`)
  }
  assertFrameEnd(d)
  return message
}

/** Encoders for light-peer frames. */
export const encodeLight = {
  sync: (sub: (typeof SyncType)[keyof typeof SyncType], payload: Uint8Array) =>
    encodeFrame((e) => {
      encoding.writeVarUint(e, MessageType.sync)
      encoding.writeVarUint(e, sub)
      encoding.writeVarUint8Array(e, payload)
    }),
  awareness: (update: Uint8Array) =>
    encodeFrame((e) => {
      encoding.writeVarUint(e, MessageType.awareness)
      encoding.writeVarUint8Array(e, update)
    }),
  permissionDenied: (reason: string) =>
    encodeFrame((e) => {
      encoding.writeVarUint(e, MessageType.auth)
      encoding.writeVarUint(e, 0)
      encoding.writeVarString(e, reason)
    }),
  topic: (subscribe: boolean, topic: string) =>
    encodeFrame((e) => {
      encoding.writeVarUint(e, MessageType.topic)
      encoding.writeVarUint(e, subscribe ? TopicOp.subscribe : TopicOp.unsubscribe)
      encoding.writeVarString(e, topic)
    }),
  message: (topic: string, payload: string) =>
    encodeFrame((e) => {
      encoding.writeVarUint(e, MessageType.message)
      encoding.writeVarString(e, topic)
      encoding.writeVarString(e, payload)
    }),
  refused: (topic: string, reason: string) =>
    encodeFrame((e) => {
      encoding.writeVarUint(e, MessageType.refused)
      encoding.writeVarString(e, topic)
      encoding.writeVarString(e, reason)
    }),
}

/** An awareness message with no entries: a cheap keepalive the y-websocket client accepts. */
export const lightKeepalive = encodeLight.awareness(new Uint8Array([0]))
