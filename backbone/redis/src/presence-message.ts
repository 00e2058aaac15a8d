/**
 * The messages that carry light peers' presence (y-protocols awareness) over Redis Pub/Sub.
 * Binary, one per PUBLISH:
 *
 * - `1` states: node id (u8 length + UTF-8), room (u16 length + UTF-8), then the awareness update.
 * - `2` query: node id, a u16 count of rooms (0: every room), each room as above. Every node
 *   answers with the states its light peers own in those rooms.
 * - `3` leave: node id. The node is closing; the others drop the states it sent.
 */
export type PresenceMessage =
  | { kind: 'states'; node: string; room: string; update: Uint8Array }
  | { kind: 'query'; node: string; rooms: string[] }
  | { kind: 'leave'; node: string }

const KIND = { states: 1, query: 2, leave: 3 } as const

/** A presence message that does not parse. */
export class PoisonPresence extends Error {
  override readonly name = 'PoisonPresence'
}

const text = (value: string, max: number): Buffer => {
  const bytes = Buffer.from(value, 'utf8')
  if (bytes.length > max) throw new RangeError(`presence field longer than ${max} bytes`)
  return bytes
}

/** Encodes a presence message. */
export const encodePresence = (message: PresenceMessage): Buffer => {
  const node = text(message.node, 0xff)
  const head = Buffer.from([KIND[message.kind], node.length])
  const parts: Buffer[] = [head, node]
  const short = (value: string): void => {
    const bytes = text(value, 0xffff)
    const length = Buffer.alloc(2)
    length.writeUInt16BE(bytes.length)
    parts.push(length, bytes)
  }
  if (message.kind === 'states') {
    short(message.room)
    parts.push(Buffer.from(message.update.buffer, message.update.byteOffset, message.update.byteLength))
  } else if (message.kind === 'query') {
    const count = Buffer.alloc(2)
    count.writeUInt16BE(message.rooms.length)
    parts.push(count)
    for (const room of message.rooms) short(room)
  }
  return Buffer.concat(parts)
}

/** Decodes a presence message; throws {@link PoisonPresence} when it does not parse. */
export const decodePresence = (bytes: Buffer): PresenceMessage => {
  let at = 0
  const take = (n: number): Buffer => {
    if (at + n > bytes.length) throw new PoisonPresence('presence message ends early')
    const part = bytes.subarray(at, at + n)
    at += n
    return part
  }
  const short = (): string => take(take(2).readUInt16BE()).toString('utf8')
  const kind = take(1)[0]
  const node = take(take(1)[0] ?? 0).toString('utf8')
  if (node === '') throw new PoisonPresence('presence message without a node id')
  switch (kind) {
    case KIND.states: {
      const room = short()
      return { kind: 'states', node, room, update: bytes.subarray(at) }
    }
    case KIND.query: {
      const count = take(2).readUInt16BE()
      const rooms: string[] = []
      for (let i = 0; i < count; i++) rooms.push(short())
      if (at !== bytes.length) throw new PoisonPresence('trailing bytes after a presence query')
      return { kind: 'query', node, rooms }
    }
    case KIND.leave:
      if (at !== bytes.length) throw new PoisonPresence('trailing bytes after a presence leave')
      return { kind: 'leave', node }
    default:
      throw new PoisonPresence(`unknown presence message kind ${String(kind)}`)
  }
}
