/**
 * Light-peer load: many WebSockets to one room of one node, each speaking the y-websocket
 * protocol (y-protocols sync, one message per frame): it answers the node's SyncStep1 with
 * a SyncStep2, sends its own SyncStep1, and counts the sync updates it receives. It does not
 * apply them: the figure is when the node's fan-out reached the socket, not this process's
 * Yjs speed. When every socket of this process has update number `i`, it emits `fanout`.
 */
import { WebSocket } from 'ws'
import * as Y from 'yjs'
import { now } from './clock.js'
import { emitEvent, serveIpc } from './ipc.js'
import type { LightEvents, LightOps } from './worker-ops.js'

const varUint = (n: number): number[] => {
  const out: number[] = []
  while (n > 0x7f) {
    out.push(0x80 | (n & 0x7f))
    n >>>= 7
  }
  out.push(n)
  return out
}

/** `sync` message: `varUint(0) varUint(sub) varUint8Array(payload)`. */
const syncMessage = (sub: number, payload: Uint8Array): Buffer =>
  Buffer.from([0, sub, ...varUint(payload.length), ...payload])

const empty = new Y.Doc()
const ownStep1 = syncMessage(0, Y.encodeStateVector(empty))
const step2Reply = syncMessage(1, Y.encodeStateAsUpdate(empty))

const sockets: WebSocket[] = []
/** How many sockets have received update number i. */
const reached: number[] = []

const openOne = (url: string): Promise<void> =>
  new Promise((resolve, reject) => {
    const ws = new WebSocket(url)
    ws.binaryType = 'nodebuffer'
    let received = 0
    let synced = false
    ws.on('message', (data: Buffer) => {
      if (data[0] !== 0) return
      switch (data[1]) {
        case 0:
          ws.send(step2Reply)
          return
        case 1:
          if (!synced) {
            synced = true
            resolve()
          }
          return
        case 2: {
          const index = received++
          const count = (reached[index] ?? 0) + 1
          reached[index] = count
          if (count === sockets.length) emitEvent<LightEvents, 'fanout'>('fanout', { index, lastAt: now() })
          return
        }
      }
    })
    ws.once('open', () => ws.send(ownStep1))
    ws.once('error', reject)
    ws.once('close', (code) => {
      if (!synced) reject(new Error(`socket closed with ${code} before the sync handshake`))
    })
    sockets.push(ws)
  })

serveIpc<LightOps>({
  now: () => now(),
  open: async ({ url, sockets: n }) => {
    for (let i = 0; i < n; i += 50) {
      await Promise.all(Array.from({ length: Math.min(50, n - i) }, () => openOne(url)))
    }
    return null
  },
  close: () => {
    for (const ws of sockets) ws.terminate()
    process.exit(0)
  },
})
