import type { Connection, MeshSocket } from '../common/index.js'

/**
 * Message data as WebSocket runtimes hand it over: text, bytes in any buffer or view, or a
 * Blob. Hono's `WSMessageReceive` is one of these; runtimes differ in which they use.
 */
export type RuntimeFrame = string | ArrayBufferLike | ArrayBufferView | Blob

/** A {@link Connection} that takes any {@link RuntimeFrame}; see {@link acceptFrames}. */
export interface FrameConnection {
  /** Hands one received message to core, in order with the others. */
  receive(data: RuntimeFrame): void
  /** Tells core the socket is gone; only the first call counts. */
  close(): void
}

/** Text stays a string so core refuses it (4400); a view keeps only its own bytes. */
const toFrame = (data: RuntimeFrame): Uint8Array | ArrayBuffer | string | Promise<ArrayBuffer> => {
  if (typeof data === 'string' || data instanceof ArrayBuffer) return data
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
  return data instanceof Blob ? data.arrayBuffer() : new Uint8Array(data)
}

/**
 * Wraps what `node.accept` returned for adapters whose runtime hands over message data in
 * varying shapes. A Blob is read asynchronously, so frames after it wait behind it and reach
 * core in the order they arrived; a Blob that cannot be read closes the socket with 1011.
 * `close` is safe to call from several handlers: the connection is closed once.
 *
 * @example
 * const connection = acceptFrames(node.accept(ws, { room, request }), ws)
 * ws.onmessage = (event) => connection.receive(event.data)
 */
export const acceptFrames = (connection: Connection, socket: Pick<MeshSocket, 'close'>): FrameConnection => {
  let open = true
  let queue: Promise<void> | undefined
  return {
    receive: (data) => {
      if (!open) return
      const frame = toFrame(data)
      if (!queue && !(frame instanceof Promise)) return connection.receive(frame)
      const tail: Promise<void> = (queue ?? Promise.resolve())
        .then(async () => {
          const bytes = await frame
          if (open) connection.receive(bytes)
        })
        .catch(() => socket.close(1011, 'could not read frame'))
        .then(() => {
          if (queue === tail) queue = undefined
        })
      queue = tail
    },
    close: () => {
      if (!open) return
      open = false
      connection.close()
    },
  }
}
