/**
 * Mesh wire protocol.
 *
 * Every WebSocket message is one binary frame: `varUint(type)` followed by the payload, all
 * encoded with lib0 (`varUint`, `varString` = varUint length + UTF-8, `varUint8Array` =
 * varUint length + bytes).
 *
 * This file names the messages and documents them; peer-messages.ts encodes and decodes the
 * peer-link messages, light-messages.ts the light-peer ones.
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
 * | 25   | gossip    | `varString(JSON member records)`: records that changed, the whole table on link-up and every 30 heartbeats to one random peer, `[]` as a beat from the dialer every other heartbeat, answered by the acceptor (version 8) |
 * | 26   | prove     | `varString(proof)`: proof of the mesh secret over both nonces (dialer first)    |
 * | 27   | check     | `varString(room)`, `varUint8Array(snapshot)`, `varUint(reply)`: anti-entropy, state vector + delete set; reply 1 asks for the receiver's snapshot back |
 * | 28   | repair    | `varString(room)`, `varUint8Array(update V2)`: what a `check` showed the peer lacks |
 * | 29   | part      | `varUint(total)`, `varUint8Array(piece)`: a piece of a frame larger than `PART_BYTES`; the pieces of one frame come in order, nothing between them, and join into it |
 * | 30   | call      | `varUint(callId)`, `varString(capability)`, `varString(id)`, `varString(target node id)`, `varUint(flags)`: 1 cast (no answer), 2 relayed, `varUint(ms left)`, `varString(payload JSON)` |
 * | 31   | answer    | `varUint(callId)`, `varUint(status)`: 0 ok, 1 no_owner, 2 owner_lost, 3 timeout, 4 actor_failed, 5 moved, 6 unreachable, `varString(body)`: the answer's JSON, or the error message |
 * | 32   | publish   | `varString(origin node id)`, `varUint(seq)`, `varString(topic)`, `varString(payload JSON)`: a pub/sub message, flooded (see below) |
 * | 33   | relays    | `varString(room)`, `varUint(n)`, n × `varString(node id)`, `varUint8Array(state vector)`: the peers the sender is synced with for the room (see below); the state vector is empty unless the sender just lost one of them (version 4) |
 * | 40   | batch     | `varUint(n)`, n × `varUint8Array(frame)`: the small frames (≤ 16 KiB) one tick sent, in order, at most 1,024; never `hello`, `prove`, `part` or another `batch` (version 3) |
 *
 * Conversation (versions 2 to 4; 3 added `batch`, 4 `relays`): the dialer sends `hello` with a fresh random nonce; the acceptor
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
 * Every other heartbeat each side also sends an empty `gossip`, a beat (membership.ts);
 * records travel when they change, and every 30 heartbeats a node sends its whole table to
 * one random peer.
 * After that, live changes flow as `updates`, coalesced per tick: every update produced in
 * one tick for a room travels in one frame and is applied in one transaction. A node relays
 * what it applies to every other link and light peer, except the one it came from; Yjs
 * drops updates it already has, so nothing that changes nothing is forwarded.
 *
 * Relays without duplicates (version 4, relay-horizon.ts): a side sends `relays` on a link when
 * the room goes live on it, and on every live link whenever the set of peers it is synced with
 * both ways changes. An update that came from link A is not relayed to link C when A's node
 * said (on A's link, so in order with the update) it is synced with C's node and C's node said
 * it is synced with A's: C gets it from A. A side that loses a synced peer sends `relays` with
 * its state vector; each receiver whose room is live on that link answers with `repair` (what
 * the state vector lacks) and relays that peer's updates again, so what the lost link dropped
 * comes from a node that had skipped it. An update applied while the room held pending structs
 * is relayed to every link but its origin. A received update the room already holds entirely
 * is counted as a duplicate and not applied.
 *
 * A side that receives `state` before it sent its own in the current round answers with its
 * `state` first; this is how a round restarts (after a quarantine is resolved, or for a room
 * created after the handshake). `resolution` is what the sender's application chose for a
 * quarantined room: 0 none, 1 merge, 2 accept (the sender adopts the receiver's state).
 *
 * Anti-entropy: every `antiEntropyMs` each side sends `check` with its snapshot for every room
 * that is live on the link, when its snapshot changed since its last check there, or the
 * peer's last check held something it lacked, or 12 rounds passed (version 8; before, every
 * round). The receiver compares it with its own snapshot of its previous
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
 * horizon), unless it saw the message id (origin, seq) before: each node keeps a bounded window
 * of the ids it saw per origin, so in a mesh with cycles every node handles each message once.
 * `seq` starts from the clock (ms × 2048) per process, so a restarted node's ids are new and
 * higher; a seq more than the window below the highest seen is a late copy and is dropped.
 *
 * `changed keys` is JSON `[[key, 1, value] | [key, 0] | [key, 2, lc, lk, wc, wk], ...]`. On
 * divergence it lists the keys whose latest write or removal the other side lacks, so both
 * sides can name the conflicting keys without shipping their whole state. With any `diff`
 * (version 6) it also lists, as `[key, 2, ...]`, the races the sender's index resolved that the
 * receiver has not seen: the loser's id (client, clock), which the receiver holds undeleted,
 * and the winner's, which it lacks (lost-races.ts).
 */
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'

/** Protocol version spoken on peer links; a peer with another version is refused. */
export const PROTOCOL_VERSION = 8

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
  // Which peers a side is synced with, per room (protocol version 4, relay-horizon.ts).
  relays: 33,
  // Several small frames of one tick in one message (protocol version 3).
  batch: 40,
  topic: 100,
  message: 101,
  refused: 102,
} as const

/** Most frames one peer `batch` message may carry: a receiver refuses more. */
export const BATCH_MAX_FRAMES = 1024

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

/** Resolutions by their wire number. */
export const RESOLUTIONS: readonly Resolution[] = ['none', 'merge', 'accept']

/** Narrows what Yjs and lib0 return to the type WebSocket `send` accepts (always an ArrayBuffer here). */
export const asSendable = (bytes: Uint8Array): Uint8Array<ArrayBuffer> => bytes as Uint8Array<ArrayBuffer>

/** The first buffer of the scratch encoder of {@link directEncoder}. */
const BATCHED_FRAME_ROOM = 4096
/** The scratch buffer {@link encodeFrame} keeps between frames, at most this large. */
const SCRATCH_MAX_BYTES = 64 * 1024
const scratch = encoding.createEncoder()
let scratchBusy = false

/**
 * One frame: what `write` puts after the message type, as a sendable buffer. Frames are
 * written into one scratch encoder and copied out at their exact size: a fresh lib0 encoder
 * starts with a 100-byte buffer, which V8 allocates off the heap, and that allocation was a
 * good part of what a small frame (a call, an answer) cost.
 */
export const encodeFrame = (write: (encoder: encoding.Encoder) => void): Uint8Array<ArrayBuffer> => {
  // A frame encoded while another is (never today) gets an encoder of its own.
  if (scratchBusy) return asSendable(encoding.encode(write))
  scratchBusy = true
  try {
    write(scratch)
    return asSendable(encoding.toUint8Array(scratch))
  } finally {
    scratch.cpos = 0
    scratch.bufs.length = 0
    if (scratch.cbuf.length > SCRATCH_MAX_BYTES) scratch.cbuf = new Uint8Array(SCRATCH_MAX_BYTES)
    scratchBusy = false
  }
}

const direct = encoding.createEncoder()
// Room for any frame a batch takes whole, so that one never spills into a second buffer.
direct.cbuf = new Uint8Array(BATCHED_FRAME_ROOM)

/**
 * An empty scratch encoder for a frame that is copied out of it at once (a call or an answer,
 * into a link's batch: see `writePeer`). Whatever it holds is gone at the next call.
 */
export const directEncoder = (): encoding.Encoder => {
  direct.cpos = 0
  direct.bufs.length = 0
  if (direct.cbuf.length > SCRATCH_MAX_BYTES) direct.cbuf = new Uint8Array(BATCHED_FRAME_ROOM)
  return direct
}

/** Refuses a frame with bytes after its last field: every message is read to its end. */
export const assertFrameEnd = (d: decoding.Decoder): void => {
  if (decoding.hasContent(d)) throw new Error('trailing bytes after message')
}
