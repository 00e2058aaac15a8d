/**
 * The light-peer wire protocol, client side: y-protocols over one WebSocket per room,
 * exactly what the standard `y-websocket` client speaks.
 *
 * Every message is one binary frame: lib0 `varUint(type)` + payload (`varUint8Array` =
 * varUint length + bytes, `varString` = varUint length + UTF-8).
 *
 * | type | name            | payload                                                         |
 * |------|-----------------|-----------------------------------------------------------------|
 * | 0    | sync            | `varUint(sub)` + `varUint8Array`: sub 0 step1 (state vector), 1 step2 (update), 2 update |
 * | 1    | awareness       | `varUint8Array(awareness update)`                               |
 * | 2    | auth            | `varUint(0)` + `varString(reason)`: permission denied           |
 * | 3    | query awareness | empty: "send me every awareness state you know"                 |
 * | 100  | topic           | Mesh pub/sub: `varUint(op)` 0 subscribe, 1 unsubscribe, `varString(topic)` |
 * | 101  | message         | Mesh pub/sub: `varString(topic)`, `varString(payload JSON)`: publish / delivery |
 * | 102  | refused         | Mesh pub/sub: `varString(topic)`, `varString(reason)`           |
 *
 * Conversation: the node speaks first with a step1 and the awareness states it knows. On
 * open the client sends its own step1 and its awareness state. Each side answers a step1
 * with a step2 holding exactly what the other lacks, so edits made offline travel in the
 * client's step2 and nothing is sent twice. The client counts as synced once the step2
 * answering its step1 is applied. After that both sides send `update`s as they happen.
 * A node that refuses a write (read-only light peer) answers it with `auth` instead of
 * applying it. The node sends something at least every 15 s, so silence for 30 s means the
 * connection is dead.
 *
 * Types 100–102 are Mesh's pub/sub (docs/routing.md): the client sends `topic` on every
 * connection for each topic it subscribes to; a node sends `message` and `refused` only to a
 * socket that subscribed or published.
 *
 * Updates use the V1 encoding, as y-websocket does. A frame normally holds one message;
 * the decoder (`decodeLightFrame` of `@mesh/core/browser`, shared with the nodes) reads as
 * many as the frame holds.
 */
/** Encoders for the frames a client sends: the same y-protocols encoders the nodes use. */
export { encodeLight as encodeMessage } from '@mesh/core/browser'

/** The state vector of an empty document: a step1 with it asks for the whole room. */
export const EMPTY_STATE_VECTOR = new Uint8Array([0])

/** The bytes of a received frame, or `undefined` for a text frame (not part of the protocol). */
export const frameBytes = (data: unknown): Uint8Array | undefined => {
  if (data instanceof ArrayBuffer) return new Uint8Array(data)
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
  return undefined
}
