import type { Connection, MeshNode, MeshSocket } from '@mesh/core'

/** One end of an in-memory socket; what it sends is queued for the other end. */
class MemorySocket implements MeshSocket {
  readyState = 1
  peer!: MemorySocket
  connection: Connection | undefined
  inbox: Uint8Array[] = []
  closeCode: number | undefined
  closeReason: string | undefined
  #net: MemoryNet

  constructor(net: MemoryNet) {
    this.#net = net
  }

  send(data: Uint8Array<ArrayBuffer>): void {
    if (this.readyState !== 1) return
    // Copy: a real socket would, and senders may reuse buffers.
    this.peer.inbox.push(data.slice())
  }

  close(code?: number, reason?: string): void {
    if (this.readyState === 3) return
    this.closeCode = code
    this.closeReason = reason
    this.#net.cut(this)
  }
}

/** A pair of connected sockets between two nodes. */
export interface MemoryLink {
  from: MeshNode
  to: MeshNode
  dialer: MemorySocket
  acceptor: MemorySocket
}

/**
 * In-memory network for deterministic tests: each socket is a FIFO queue, and the test
 * decides which queue delivers next, so delivery order across links is random but seeded.
 */
export class MemoryNet {
  links = new Set<MemoryLink>()

  /** Opens a peer link from `from` (dialer) to `to` (acceptor). */
  connect(from: MeshNode, to: MeshNode): MemoryLink {
    const dialer = new MemorySocket(this)
    const acceptor = new MemorySocket(this)
    dialer.peer = acceptor
    acceptor.peer = dialer
    acceptor.connection = to.accept(acceptor)
    dialer.connection = from.connect(dialer)
    const link = { from, to, dialer, acceptor }
    this.links.add(link)
    return link
  }

  /** Closes both ends of the link `socket` belongs to, dropping anything in flight. */
  cut(socket: MemorySocket): void {
    for (const link of this.links) {
      if (link.dialer !== socket && link.acceptor !== socket) continue
      this.links.delete(link)
      for (const end of [link.dialer, link.acceptor]) {
        end.readyState = 3
        end.inbox = []
      }
      link.dialer.connection?.close()
      link.acceptor.connection?.close()
    }
  }

  /** Links whose messages wait undelivered, as to and from a frozen process (see {@link hold}). */
  #held = new Set<MemoryLink>()

  /** Sockets with something to deliver. */
  busy(): MemorySocket[] {
    const out: MemorySocket[] = []
    for (const link of this.links) {
      if (this.#held.has(link)) continue
      if (link.dialer.inbox.length > 0) out.push(link.dialer)
      if (link.acceptor.inbox.length > 0) out.push(link.acceptor)
    }
    return out
  }

  /** Stops delivering on `link` (it stays open): a peer that does not answer. */
  hold(link: MemoryLink): void {
    this.#held.add(link)
  }

  /** Delivers on `link` again, what waited first (see {@link hold}). */
  release(link: MemoryLink): void {
    this.#held.delete(link)
  }

  /** Loses the oldest message of one socket, as a faulty network would. */
  drop(socket: MemorySocket): void {
    socket.inbox.shift()
  }

  /** Delivers the oldest message of one socket. */
  deliver(socket: MemorySocket): void {
    const message = socket.inbox.shift()
    if (message && socket.readyState === 1) socket.connection?.receive(message)
  }

  /** Delivers everything, choosing the next socket with `pick`, until all queues and room batches are empty. */
  async drain(pick: (n: number) => number = () => 0): Promise<void> {
    for (;;) {
      await new Promise((resolve) => setImmediate(resolve))
      const busy = this.busy()
      if (busy.length === 0) {
        await new Promise((resolve) => setImmediate(resolve))
        if (this.busy().length === 0) return
        continue
      }
      while (this.busy().length > 0) {
        const sockets = this.busy()
        this.deliver(sockets[pick(sockets.length)]!)
      }
    }
  }
}
