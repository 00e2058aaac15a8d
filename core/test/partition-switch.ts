/**
 * A network switch for partition tests: one TCP port in front of each node, which the node
 * advertises as its URL, so every peer link (joined or found by gossip) crosses the switch.
 * The switch reads the dialer's `hello` (the first WebSocket frame after the upgrade) to learn
 * which node dialed, so it can drop the links between two groups and refuse new ones, like a
 * network split, and let them through again on `heal()`. It calls no node API: what comes
 * back after a heal is what the nodes redial by themselves.
 */
import { connect, createServer, type Server, type Socket } from 'node:net'
import { decodePeer, MessageType } from '../src/replication/index.js'

interface Connection {
  client: Socket
  upstream: Socket
  /** The node behind the port. */
  target: string
  /** The node that dialed, once its hello went through. */
  dialer: string | undefined
}

/** See the file header. */
export interface PartitionSwitch {
  /** Opens a port in front of `port` (node `id`); returns `ws://127.0.0.1:<switch port>/mesh`. */
  front(port: number, id: string): Promise<string>
  /** Drops every link between two different groups (node ids) and refuses new ones. */
  partition(groups: ReadonlyArray<readonly string[]>): void
  /** Lets every link through again. */
  heal(): void
  /** Links the switch dropped or refused since it started. */
  readonly dropped: number
  close(): Promise<void>
}

/** The dialer's node id from the bytes it sent so far, once they hold the upgrade request and one frame. */
const sniffDialer = (bytes: Buffer): string | undefined => {
  const end = bytes.indexOf('\r\n\r\n')
  if (end < 0) return undefined
  let at = end + 4
  if (bytes.length < at + 2) return undefined
  const b1 = bytes[at + 1] ?? 0
  let length = b1 & 0x7f
  at += 2
  if (length === 126) {
    if (bytes.length < at + 2) return undefined
    length = bytes.readUInt16BE(at)
    at += 2
  } else if (length === 127) {
    if (bytes.length < at + 8) return undefined
    length = Number(bytes.readBigUInt64BE(at))
    at += 8
  }
  // Frames from a WebSocket client are always masked.
  if (bytes.length < at + 4 + length) return undefined
  const mask = bytes.subarray(at, at + 4)
  const payload = Buffer.from(bytes.subarray(at + 4, at + 4 + length))
  for (let i = 0; i < payload.length; i++) payload[i] = (payload[i] ?? 0) ^ (mask[i % 4] ?? 0)
  const message = decodePeer(payload)
  if (message.type !== MessageType.hello) throw new Error('first frame is not a hello')
  return message.nodeId
}

/** Starts an empty switch; add nodes with {@link PartitionSwitch.front}. */
export const startSwitch = (): PartitionSwitch => {
  const servers: Server[] = []
  const connections = new Set<Connection>()
  let groups: ReadonlyArray<readonly string[]> = []
  let dropped = 0
  const groupOf = (id: string) => groups.findIndex((g) => g.includes(id))
  const split = (a: string, b: string) => groups.length > 0 && groupOf(a) !== groupOf(b)
  const drop = (c: Connection) => {
    connections.delete(c)
    c.client.destroy()
    c.upstream.destroy()
  }

  const front = async (port: number, id: string): Promise<string> => {
    const server = createServer({ pauseOnConnect: true }, (client) => {
      const upstream = connect({ host: '127.0.0.1', port })
      const c: Connection = { client, upstream, target: id, dialer: undefined }
      connections.add(c)
      client.on('error', () => drop(c)).on('close', () => drop(c))
      upstream.on('error', () => drop(c)).on('close', () => drop(c))
      let sniffed = Buffer.alloc(0)
      client.on('data', (chunk: Buffer) => {
        if (c.dialer === undefined) {
          sniffed = Buffer.concat([sniffed, chunk])
          try {
            c.dialer = sniffDialer(sniffed)
          } catch {
            // Not a peer link (REST, a light peer): passed through untouched.
            c.dialer = ''
          }
          if (c.dialer && split(c.dialer, c.target)) {
            dropped++
            return drop(c)
          }
        }
        upstream.write(chunk)
      })
      upstream.on('data', (chunk: Buffer) => client.write(chunk))
      upstream.once('connect', () => client.resume())
    })
    servers.push(server)
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const address = server.address()
    if (address === null || typeof address === 'string') throw new Error('switch port has no address')
    return `ws://127.0.0.1:${address.port}/mesh`
  }

  return {
    front,
    partition: (next) => {
      groups = next
      for (const c of [...connections]) {
        if (!c.dialer || !split(c.dialer, c.target)) continue
        dropped++
        drop(c)
      }
    },
    heal: () => {
      groups = []
    },
    get dropped() {
      return dropped
    },
    close: async () => {
      for (const c of [...connections]) drop(c)
      await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))))
    },
  }
}
