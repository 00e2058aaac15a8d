/**
 * Decoder of light-peer frames (y-protocols, as `y-websocket` speaks them; the layout is in
 * the header of protocol.ts). Browser-safe, shared by nodes and `@mesh/client`.
 *
 * A frame normally holds one message; this reads as many as it holds. The `auth` message
 * carries the permission (0 = denied) and the reason the sender gave. `message` and `refused`
 * are Mesh's pub/sub deliveries, sent only to a client that subscribed or published.
 */
import * as decoding from 'lib0/decoding'
import { MessageType, SyncType } from './protocol.js'

/** One decoded light-peer message. */
export type LightFrameMessage =
  | { type: typeof MessageType.sync; sub: (typeof SyncType)[keyof typeof SyncType]; payload: Uint8Array }
  | { type: typeof MessageType.awareness; update: Uint8Array }
  | { type: typeof MessageType.auth; denied: boolean; reason: string }
  | { type: typeof MessageType.queryAwareness }
  | { type: typeof MessageType.message; topic: string; payload: string }
  | { type: typeof MessageType.refused; topic: string; reason: string }

/** Decodes every message in one light-peer frame. Throws on anything malformed or unknown. */
export const decodeLightFrame = (bytes: Uint8Array): LightFrameMessage[] => {
  const d = decoding.createDecoder(bytes)
  const messages: LightFrameMessage[] = []
  do {
    const type = decoding.readVarUint(d)
    switch (type) {
      case MessageType.sync: {
        const sub = decoding.readVarUint(d)
        if (sub !== SyncType.step1 && sub !== SyncType.step2 && sub !== SyncType.update) {
          throw new Error(`unknown sync message ${sub}`)
        }
        messages.push({ type, sub, payload: decoding.readVarUint8Array(d) })
        break
      }
      case MessageType.awareness:
        messages.push({ type, update: decoding.readVarUint8Array(d) })
        break
      case MessageType.auth: {
        const permission = decoding.readVarUint(d)
        messages.push({ type, denied: permission === 0, reason: decoding.readVarString(d) })
        break
      }
      case MessageType.queryAwareness:
        messages.push({ type })
        break
      case MessageType.message:
        messages.push({ type, topic: decoding.readVarString(d), payload: decoding.readVarString(d) })
        break
      case MessageType.refused:
        messages.push({ type, topic: decoding.readVarString(d), reason: decoding.readVarString(d) })
        break
      default:
        throw new Error(`unknown message type ${type}`)
    }
  } while (decoding.hasContent(d))
  return messages
}
