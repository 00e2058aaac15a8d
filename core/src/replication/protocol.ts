/**
 * Mesh wire protocol.
 *
 * Every WebSocket message is one binary frame: `varUint(type)` followed by the payload, all
 * encoded with lib0 (`varUint`, `varString` = varUint length + UTF-8, `varUint8Array` =
 * varUint length + bytes).
 *
 * ## Light-peer sockets (`/mesh/:room`) — y-protocols, compatible with `y-websocket`
 *
 * | type | name            | payload                                                              |
 * |------|-----------------|----------------------------------------------------------------------|
 * | 0    | sync            | `varUint(sub)` + `varUint8Array`: 0 step1 (state vector), 1 step2 (update V1), 2 update (V1) |
 * | 1    | awareness       | `varUint8Array(awareness update)`                                    |
 * | 2    | auth            | `varUint(0)` + `varString(reason)`: permission denied                |
 * | 3    | query awareness | empty                                                                |
 * | 100  | topic           | Mesh pub/sub: `varUint(op)`: 0 subscribe, 1 unsubscribe, `varString(topic)` (client → node) |
 * | 101  | message         | Mesh pub/sub: `varString(topic)`, `varString(payload JSON)`: a publish (client → node) or a delivery (node → client) |
 * | 102  | refused         | Mesh pub/sub: `varString(topic)`, `varString(reason)`: a subscribe or publish the node refused (node → client) |
 *
 * Types 100–102 (pub/sub, docs/routing.md) are Mesh's own: a node sends 101 and 102 only to a
 * socket that sent 100 or 101 first, so stock y-websocket clients never see them.
 *
 * The node speaks first with a step1 and its awareness states, answers every step1 with a
 * step2 (within a per-socket budget for answers that carry state the client lacks; requests
 * beyond it wait and share one answer, see sync-answers.ts), relays updates and awareness,
 * and sends an empty awareness message at least every 15 s so the client's 30 s liveness
 * timer never fires on an idle room.
 *
 * ## Peer links (`/mesh`) — node to node, all rooms multiplexed
 *
 * | type | name      | payload                                                                         |
 * |------|-----------|---------------------------------------------------------------------------------|
 * | 16   | hello     | `varUint(version)`, `varString(nodeId)`, `varString(name)`, `varString(url)`, `varUint(clientId)`, `varString(onConflict)`, `varString(nonce)`, `varString(proof)` |
 * | 17   | state     | `varString(room)`, `varUint(resolution)`, `varUint8Array(snapshot)`: state vector + delete set (`Y.encodeSnapshot`) |
 * | 18   | diff      | `varString(room)`, `varUint8Array(update V2)`, `varString(changed keys JSON)`   |
 * | 19   | updates   | `varString(room)`, `varUint(n)`, n × `varUint8Array(update V1)`                 |
 * | 20   | awareness | `varString(room)`, `varUint8Array(awareness update)`                            |
 * | 21   | hold      | `varString(room)`, `varString(changed keys JSON)`: refuse the merge (quarantine) |
 * | 22, 23    | (retired) | were `fetch` and `full` of the first `accept`; refused as unknown               |
 * | 24   | leave     | `varString(reason)`: graceful leave; close follows                              |
 * | 25   | gossip    | `varString(JSON member records)`: membership and heartbeats, every heartbeat     |
 * | 26   | prove     | `varString(proof)`: proof of the mesh secret over both nonces (dialer first)    |
 * | 27   | check     | `varString(room)`, `varUint8Array(snapshot)`, `varUint(reply)`: anti-entropy, state vector + delete set; reply 1 asks for the receiver's snapshot back |
 * | 28   | repair    | `varString(room)`, `varUint8Array(update V2)`: what a `check` showed the peer lacks |
 * | 29   | part      | `varUint(total)`, `varUint8Array(piece)`: a piece of a frame larger than `PART_BYTES`; the pieces of one frame come in order, nothing between them, and join into it |
 * | 30   | call      | `varUint(callId)`, `varString(capability)`, `varString(id)`, `varString(target node id)`, `varUint(flags)`: 1 cast (no answer), 2 relayed, `varUint(ms left)`, `varString(payload JSON)` |
 * | 31   | answer    | `varUint(callId)`, `varUint(status)`: 0 ok, 1 no_owner, 2 owner_lost, 3 timeout, 4 actor_failed, 5 moved, 6 unreachable, `varString(body)`: the answer's JSON, or the error message |
 * | 32   | publish   | `varString(origin node id)`, `varUint(seq)`, `varString(topic)`, `varString(payload JSON)`: a pub/sub message, flooded (see below) |
 *
 * Conversation (version 2): the dialer sends `hello` with a fresh random nonce; the acceptor
 * checks it and answers with its own `hello` and nonce, **without any proof**. The dialer
 * proves first: `prove` with `HMAC-SHA256(secret, "dialer" | dialer nonce | acceptor nonce |
 * dialer id | acceptor id)`, one per secret it holds, joined with `.` (rotation). The acceptor
 * checks it (4401 otherwise; it accepts nothing before), then proves itself with the secret
 * that matched: `prove` with `HMAC-SHA256(secret, "acceptor" | dialer nonce | acceptor nonce |
 * acceptor id | dialer id)`, which the dialer checks (mutual authentication; 4401 otherwise).
 * So a client that does not know the secret never receives an HMAC it could guess the secret
 * from offline. Nonces are fresh per connection, so a recorded handshake replayed later fails.
 * Without a configured secret both proofs are empty and both sides must have none. The
 * `proof` field of `hello` is always empty since version 2 (version 1 put the acceptor's
 * proof there, before the dialer had proved anything). Then each side sends `state` for every room it hosts. On a peer's `state` a side
 * compares histories (equal, ahead, behind, diverged) and answers with `diff` (what the
 * peer lacks), or on divergence with `onConflict: 'exception'` with `hold` (a node also
 * answers `hold` on every link for a room it quarantined). `accept` exchanges `diff`s like
 * `merge` and then writes back the keys its own writes must yield. A room side is synced
 * once it has applied the peer's `diff`. A `state` whose resolution is not 0 also clears, on
 * the receiver, the conflict the sender's application just resolved.
 * Every heartbeat each side also sends `gossip`: its member table with heartbeat counters.
 * After that, live changes flow as `updates`, coalesced per tick: every update produced in
 * one tick for a room travels in one frame and is applied in one transaction. A node relays
 * what it applies to every other link and light peer, except the one it came from; Yjs
 * drops updates it already has, so nothing that changes nothing is forwarded.
 *
 * A side that receives `state` before it sent its own in the current round answers with its
 * `state` first; this is how a round restarts (after a quarantine is resolved, or for a room
 * created after the handshake). `resolution` is what the sender's application chose for a
 * quarantined room: 0 none, 1 merge, 2 accept (the sender adopts the receiver's state).
 *
 * Anti-entropy: every `antiEntropyMs` each side sends `check` with its snapshot for every room
 * that is live on the link. The receiver compares it with its own snapshot of its previous
 * round; when the peer lacks something the receiver already had then (not merely something
 * still in flight), it answers `repair` with everything the peer's state vector lacks plus
 * its delete set. Yjs ignores what the peer already has, so a gap left by a lost update, or
 * by updates parked as pending structs, heals without a reconnect. Equal replicas exchange
 * only the two snapshots. A `check` with reply 1 (sent by `flush({ replicas })`) is answered
 * at once with the receiver's own `check`: frames are ordered, so that snapshot holds every
 * update the asker sent before it, and the asker counts the peers that hold its writes.
 *
 * Routed calls (docs/routing.md): a node sends `call` to the owner of the id's shard, the
 * `target`; without a direct link to it, to any linked peer, which relays it once (flag 2)
 * and relays the `answer` back under the caller's `callId`. Call ids are the sender's own
 * and unique on the link; an answer to an id nobody waits for (it timed out) is dropped. The
 * target answers `moved` when by its own table the shard belongs to another node (tables
 * differ while membership news spreads) and a relay answers `unreachable` when it has no
 * link to the target: both tell the caller to route again. A relayed call for another node
 * than the receiver is a protocol error. A `cast` gets no answer.
 *
 * Pub/sub (docs/routing.md): `publish` is flooded. The origin sends it on every link; a node
 * that receives it delivers it to its subscribers and forwards it on every other link (split
 * horizon), unless it saw the message id (origin, seq) before: each node keeps a bounded set
 * of the ids it saw, so in a mesh with cycles every node handles each message once. `seq`
 * starts at a random number per process, so a restarted node's ids are new.
 *
 * `changed keys` is sent only on divergence: JSON `[[key, 1, value] | [key, 0], ...]`, the
 * keys whose latest write or removal the other side lacks, so both sides can name the
 * conflicting keys without shipping their whole state.
 */
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'

/** Protocol version spoken on peer links; a peer with another version is refused. */
export const PROTOCOL_VERSION = 2

/** Message types; see the file header. */
export const MessageType = {
  sync: 0,
  awareness: 1,
  auth: 2,
  queryAwareness: 3,
  hello: 16,
  state: 17,
  diff: 18,
  updates: 19,
  roomAwareness: 20,
  hold: 21,
  leave: 24,
  gossip: 25,
  prove: 26,
  check: 27,
  repair: 28,
  part: 29,
  call: 30,
  answer: 31,
  // Pub/sub (added with issue 15): peer `publish`, light `topic` / `message` / `refused`.
  publish: 32,
  topic: 100,
  message: 101,
  refused: 102,
} as const

/** Operations of a light `topic` message. */
export const TopicOp = { subscribe: 0, unsubscribe: 1 } as const

/** A pub/sub message as it crosses a peer link. */
export interface PublishMessage {
  origin: string
  seq: number
  topic: string
  payload: string
}

/** Flags of a `call` message. */
export const CallFlag = { cast: 1, relayed: 2 } as const

/** Statuses of an `answer` message, by their wire number. */
export const ANSWER_STATUSES = [
  'ok',
  'no_owner',
  'owner_lost',
  'timeout',
  'actor_failed',
  'moved',
  'unreachable',
] as const

/** The status of an `answer`: `ok`, one of the typed call errors, or `moved`/`unreachable` (route again). */
export type AnswerStatus = (typeof ANSWER_STATUSES)[number]

/** A routed call as it crosses a peer link. */
export interface CallMessage {
  callId: number
  capability: string
  id: string
  target: string
  flags: number
  /** Milliseconds the caller still waits. */
  timeoutMs: number
  payload: string
}

/** y-protocols sync sub-messages. */
export const SyncType = { step1: 0, step2: 1, update: 2 } as const

/** Resolution carried in `state` flags when a quarantined room is released. */
export type Resolution = 'none' | 'merge' | 'accept'

const resolutions: Resolution[] = ['none', 'merge', 'accept']

/** Narrows what Yjs and lib0 return to the type WebSocket `send` accepts (always an ArrayBuffer here). */
export const asSendable = (bytes: Uint8Array): Uint8Array<ArrayBuffer> => bytes as Uint8Array<ArrayBuffer>

const frame = (write: (encoder: encoding.Encoder) => void): Uint8Array<ArrayBuffer> => {
  const encoder = encoding.createEncoder()
  write(encoder)
  return asSendable(encoding.toUint8Array(encoder))
}

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

/** Encoders for peer-link frames. */
export const encodePeer = {
  hello: (h: Omit<Hello, 'version'>) =>
    frame((e) => {
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
    frame((e) => {
      encoding.writeVarUint(e, MessageType.prove)
      encoding.writeVarString(e, proof)
    }),
  state: (room: string, snapshot: Uint8Array, resolution: Resolution = 'none') =>
    frame((e) => {
      encoding.writeVarUint(e, MessageType.state)
      encoding.writeVarString(e, room)
      encoding.writeVarUint(e, resolutions.indexOf(resolution))
      encoding.writeVarUint8Array(e, snapshot)
    }),
  diff: (room: string, update: Uint8Array, changed: string) =>
    frame((e) => {
      encoding.writeVarUint(e, MessageType.diff)
      encoding.writeVarString(e, room)
      encoding.writeVarUint8Array(e, update)
      encoding.writeVarString(e, changed)
    }),
  updates: (room: string, updates: readonly Uint8Array[]) =>
    frame((e) => {
      encoding.writeVarUint(e, MessageType.updates)
      encoding.writeVarString(e, room)
      encoding.writeVarUint(e, updates.length)
      for (const u of updates) encoding.writeVarUint8Array(e, u)
    }),
  roomAwareness: (room: string, update: Uint8Array) =>
    frame((e) => {
      encoding.writeVarUint(e, MessageType.roomAwareness)
      encoding.writeVarString(e, room)
      encoding.writeVarUint8Array(e, update)
    }),
  hold: (room: string, changed: string) =>
    frame((e) => {
      encoding.writeVarUint(e, MessageType.hold)
      encoding.writeVarString(e, room)
      encoding.writeVarString(e, changed)
    }),
  leave: (reason: string) =>
    frame((e) => {
      encoding.writeVarUint(e, MessageType.leave)
      encoding.writeVarString(e, reason)
    }),
  gossip: (json: string) =>
    frame((e) => {
      encoding.writeVarUint(e, MessageType.gossip)
      encoding.writeVarString(e, json)
    }),
  check: (room: string, snapshot: Uint8Array, reply = false) =>
    frame((e) => {
      encoding.writeVarUint(e, MessageType.check)
      encoding.writeVarString(e, room)
      encoding.writeVarUint8Array(e, snapshot)
      encoding.writeVarUint(e, reply ? 1 : 0)
    }),
  repair: (room: string, update: Uint8Array) =>
    frame((e) => {
      encoding.writeVarUint(e, MessageType.repair)
      encoding.writeVarString(e, room)
      encoding.writeVarUint8Array(e, update)
    }),
  part: (total: number, piece: Uint8Array) =>
    frame((e) => {
      encoding.writeVarUint(e, MessageType.part)
      encoding.writeVarUint(e, total)
      encoding.writeVarUint8Array(e, piece)
    }),
  call: (c: CallMessage) =>
    frame((e) => {
      encoding.writeVarUint(e, MessageType.call)
      encoding.writeVarUint(e, c.callId)
      encoding.writeVarString(e, c.capability)
      encoding.writeVarString(e, c.id)
      encoding.writeVarString(e, c.target)
      encoding.writeVarUint(e, c.flags)
      encoding.writeVarUint(e, c.timeoutMs)
      encoding.writeVarString(e, c.payload)
    }),
  answer: (callId: number, status: AnswerStatus, body: string) =>
    frame((e) => {
      encoding.writeVarUint(e, MessageType.answer)
      encoding.writeVarUint(e, callId)
      encoding.writeVarUint(e, ANSWER_STATUSES.indexOf(status))
      encoding.writeVarString(e, body)
    }),
  publish: (m: PublishMessage) =>
    frame((e) => {
      encoding.writeVarUint(e, MessageType.publish)
      encoding.writeVarString(e, m.origin)
      encoding.writeVarUint(e, m.seq)
      encoding.writeVarString(e, m.topic)
      encoding.writeVarString(e, m.payload)
    }),
}

const assertEnd = (d: decoding.Decoder): void => {
  if (decoding.hasContent(d)) throw new Error('trailing bytes after message')
}

/** Decodes one peer-link frame. Throws on anything malformed, unknown or with trailing bytes. */
export const decodePeer = (bytes: Uint8Array): PeerMessage => {
  const d = decoding.createDecoder(bytes)
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
      const resolution = resolutions[decoding.readVarUint(d)]
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
        capability: decoding.readVarString(d),
        id: decoding.readVarString(d),
        target: decoding.readVarString(d),
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
    default:
      throw new Error(`unknown peer message type ${type}`)
  }
  assertEnd(d)
  return message
}

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
  assertEnd(d)
  return message
}

/** Encoders for light-peer frames. */
export const encodeLight = {
  sync: (sub: (typeof SyncType)[keyof typeof SyncType], payload: Uint8Array) =>
    frame((e) => {
      encoding.writeVarUint(e, MessageType.sync)
      encoding.writeVarUint(e, sub)
      encoding.writeVarUint8Array(e, payload)
    }),
  awareness: (update: Uint8Array) =>
    frame((e) => {
      encoding.writeVarUint(e, MessageType.awareness)
      encoding.writeVarUint8Array(e, update)
    }),
  permissionDenied: (reason: string) =>
    frame((e) => {
      encoding.writeVarUint(e, MessageType.auth)
      encoding.writeVarUint(e, 0)
      encoding.writeVarString(e, reason)
    }),
  topic: (subscribe: boolean, topic: string) =>
    frame((e) => {
      encoding.writeVarUint(e, MessageType.topic)
      encoding.writeVarUint(e, subscribe ? TopicOp.subscribe : TopicOp.unsubscribe)
      encoding.writeVarString(e, topic)
    }),
  message: (topic: string, payload: string) =>
    frame((e) => {
      encoding.writeVarUint(e, MessageType.message)
      encoding.writeVarString(e, topic)
      encoding.writeVarString(e, payload)
    }),
  refused: (topic: string, reason: string) =>
    frame((e) => {
      encoding.writeVarUint(e, MessageType.refused)
      encoding.writeVarString(e, topic)
      encoding.writeVarString(e, reason)
    }),
}

/** An awareness message with no entries: a cheap keepalive the y-websocket client accepts. */
export const lightKeepalive = encodeLight.awareness(new Uint8Array([0]))
