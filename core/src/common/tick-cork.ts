import type { MeshSocket } from './socket.js'

/** A stream whose writes can be held and then written together (a Node `net.Socket`). */
interface Corkable {
  cork(): void
  uncork(): void
}

/**
 * The TCP socket under a `ws` WebSocket (its `_socket`, also behind Hono's WSContext `raw`);
 * undefined for any other socket, which then writes each frame as it comes.
 */
const corkableOf = (socket: MeshSocket): Corkable | undefined => {
  const ws = socket as { _socket?: Partial<Corkable>; raw?: { _socket?: Partial<Corkable> } }
  const tcp = ws._socket ?? ws.raw?._socket
  return typeof tcp?.cork === 'function' && typeof tcp.uncork === 'function' ? (tcp as Corkable) : undefined
}

/**
 * Lets the frames a socket is sent in one tick leave in one write. Calls, answers and pub/sub
 * messages are small frames, and one TCP write apiece was most of what they cost.
 */
export class TickCork {
  #tcp: Corkable | undefined
  #held = false

  constructor(socket: MeshSocket) {
    this.#tcp = corkableOf(socket)
  }

  /** Holds what is sent from now on until this tick ends, then writes it together. */
  hold(): void {
    const tcp = this.#tcp
    if (this.#held || !tcp) return
    this.#held = true
    tcp.cork()
    process.nextTick(() => {
      this.#held = false
      tcp.uncork()
    })
  }
}
