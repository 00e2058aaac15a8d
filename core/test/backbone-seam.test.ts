import { describe, expect, it, vi } from 'vitest'
import * as Y from 'yjs'
import { Awareness, encodeAwarenessUpdate } from 'y-protocols/awareness'
import { MeshNode, type Backbone, type BackboneHost, type UpdateSource } from '@mesh/core'
import { waitUntil } from '@mesh/core/testing'
import { MemoryNet } from './memory-net.js'

/** A shared in-process log: the smallest backbone, publishing what a node originated. */
class MemoryLog {
  entries: Array<{ from: string; room: string; update: Uint8Array }> = []
  #readers = new Set<() => void>()

  backbone(): Backbone & { sources: UpdateSource[] } {
    const entries = this.entries
    const readers = this.#readers
    let host: BackboneHost | undefined
    let position = 0
    const sources: UpdateSource[] = []
    const read = (): void => {
      if (!host || host.closed) return
      for (; position < entries.length; position++) {
        const entry = entries[position]
        if (entry && entry.from !== host.id) host.apply(entry.room, entry.update, 'v1')
      }
    }
    return {
      sources,
      start(h) {
        host = h
        readers.add(read)
        h.onUpdate((room, update, source) => {
          sources.push(source)
          if (source.kind === 'local') {
            entries.push({ from: h.id, room, update })
            queueMicrotask(() => {
              for (const reader of readers) reader()
            })
          }
        })
        read()
      },
      close: () => {
        readers.delete(read)
        return Promise.resolve()
      },
    }
  }
}

describe('the backbone seam', () => {
  it('hands each node its own updates once, and applies the others without handing them back', async () => {
    const log = new MemoryLog()
    const [a, b] = [log.backbone(), log.backbone()]
    const nodeA = new MeshNode({ name: 'a', backbone: a })
    const nodeB = new MeshNode({ name: 'b', backbone: b })
    try {
      await nodeA.put('from-a', 1)
      await nodeB.put('from-b', 2)
      await waitUntil('both nodes hold both keys', () => nodeA.get('from-b') === 2 && nodeB.get('from-a') === 1, {
        subscribe: (wake) => {
          const offs = [nodeA.on('change', wake), nodeB.on('change', wake)]
          return () => offs.forEach((off) => off())
        },
      })
      expect(log.entries.map((e) => e.from)).toEqual([nodeA.id, nodeB.id])
      expect(a.sources).toEqual([{ kind: 'local' }])
      expect(b.sources).toEqual([{ kind: 'local' }])
      expect(nodeB.history({ key: 'from-a' })[0]?.via).toBe('backbone')
    } finally {
      await Promise.all([nodeA.close(), nodeB.close()])
    }
  })

  it('reports updates a peer link relayed with the peer, so a bridge can publish them once', async () => {
    const log = new MemoryLog()
    const onLog = log.backbone()
    const bridge = new MeshNode({ name: 'bridge', backbone: onLog })
    const meshOnly = new MeshNode({ name: 'mesh-only' })
    const net = new MemoryNet()
    net.connect(meshOnly, bridge)
    try {
      const deliver = async (): Promise<void> => {
        for (let busy = net.busy(); busy.length > 0; busy = net.busy()) {
          for (const socket of busy) {
            const frame = socket.inbox.shift()
            if (frame) socket.connection?.receive(frame)
          }
          await new Promise((resolve) => setImmediate(resolve))
        }
      }
      await deliver()
      await meshOnly.put('relayed', true)
      await waitUntil(
        'the bridge holds the relayed key',
        async () => {
          await deliver()
          return bridge.get('relayed') === true
        },
        { timeoutMs: 5000 },
      )
      expect(onLog.sources).toContainEqual({ kind: 'peer', peer: meshOnly.id })
    } finally {
      await Promise.all([bridge.close(), meshOnly.close()])
    }
  })

  it("runs the backbone's periodic work on the node's heartbeat, the rooms' awareness check included", async () => {
    let host: BackboneHost | undefined
    const beats: number[] = []
    const backbone: Backbone = {
      start(h) {
        host = h
        h.onHeartbeat((now) => beats.push(now))
      },
      close: () => Promise.resolve(),
    }
    const node = new MeshNode({ name: 'a', backbone, membership: { heartbeatMs: 10, deadAfterMs: 100 } })
    try {
      await waitUntil('three heartbeats reached the backbone', () => beats.length >= 3)
      expect(beats).toEqual([...beats].sort((x, y) => x - y))
      // A state another node published, never renewed: y-protocols drops it after 30 s.
      const doc = new Y.Doc()
      const other = new Awareness(doc)
      other.setLocalState({ user: 'ada' })
      host?.applyAwareness('default', encodeAwarenessUpdate(other, [other.clientID]), 'node-b')
      other.destroy()
      const states = node.room('default').awareness.getStates()
      expect(states.has(other.clientID)).toBe(true)
      // 31 s later by the clock: the next heartbeat's check finds it outdated (the rooms' own 3 s timer is off).
      const later = Date.now() + 31_000
      vi.spyOn(Date, 'now').mockImplementation(() => later)
      await waitUntil('the outdated state is gone', () => !states.has(other.clientID))
    } finally {
      vi.restoreAllMocks()
      await node.close()
    }
  })
})
