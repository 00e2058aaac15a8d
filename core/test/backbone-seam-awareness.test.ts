/**
 * The presence half of the backbone seam, with no Redis: a backbone sees the states its node's
 * tabs own (never what it applied itself), and what it applies is owned by the publishing node,
 * filtered like peer input and dropped when that node is gone.
 */
import { describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { WebsocketProvider } from 'y-websocket'
import * as Y from 'yjs'
import { Awareness, encodeAwarenessUpdate } from 'y-protocols/awareness'
import type { Backbone, BackboneHost } from '@mesh/core'
import { waitUntil } from '@mesh/core/testing'
import { servedPerTest } from './helpers.js'

const { start, cleanups } = servedPerTest()

/** A backbone that only records the presence its node hands over and keeps the host. */
const recorder = () => {
  const handed: Array<{ room: string; update: Uint8Array }> = []
  let host: BackboneHost | undefined
  const backbone: Backbone = {
    start(h) {
      host = h
      h.onAwareness((room, update) => handed.push({ room, update }))
    },
    close: () => Promise.resolve(),
  }
  return {
    backbone,
    handed,
    get host(): BackboneHost {
      if (!host) throw new Error('not started')
      return host
    },
  }
}

/** An awareness update holding `state` for each id at `clock` (null state: a removal). */
const update = (ids: number[], state: Record<string, unknown> | null, clock: number): Uint8Array => {
  const doc = new Y.Doc()
  const awareness = new Awareness(doc)
  for (const id of ids) {
    if (state) awareness.states.set(id, state)
    awareness.meta.set(id, { clock, lastUpdated: Date.now() })
  }
  const bytes = encodeAwarenessUpdate(awareness, ids)
  awareness.destroy()
  doc.destroy()
  return bytes
}

describe('the backbone seam: presence', () => {
  it("hands over its tabs' states, applies others' with a per-node owner, and filters and drops them", async () => {
    const r = recorder()
    const served = await start({ name: 'a', backbone: r.backbone })
    const doc = new Y.Doc()
    const provider = new WebsocketProvider(served.url, 'default', doc, {
      WebSocketPolyfill: WebSocket as never,
      disableBc: true,
    })
    cleanups.push(() => provider.destroy())
    provider.awareness.setLocalStateField('user', 'ada')
    const host = r.host
    await waitUntil('the tab state was handed over', () => host.lightAwareness('default') !== undefined)
    await waitUntil('the change was reported', () => r.handed.length > 0)
    expect(r.handed[0]?.room).toBe('default')
    const room = served.node.room('default')
    const before = r.handed.length

    // Another node's tabs: applied, never handed back; its removal is its own only.
    expect(host.applyAwareness('default', update([7, 8], { user: 'remote' }, 1), 'node-x')).toBe(0)
    expect(room.awareness.getStates().get(7)).toEqual({ user: 'remote' })
    expect(host.applyAwareness('default', update([7], null, 1), 'node-y')).toBe(0)
    expect(room.awareness.getStates().has(7)).toBe(true)
    // A state for the tab's own id is left out.
    expect(host.applyAwareness('default', update([doc.clientID], { user: 'evil' }, 99), 'node-x')).toBe(1)
    expect(room.awareness.getStates().get(doc.clientID)).toEqual({ user: 'ada' })
    expect(() => host.applyAwareness('default', Uint8Array.of(9, 9), 'node-x')).toThrow()
    // A room this node does not host: nothing happens.
    expect(host.applyAwareness('elsewhere', update([9], { user: 'x' }, 1), 'node-x')).toBe(0)

    expect(host.dropAwareness('node-y')).toBe(0)
    expect(host.dropAwareness('node-x')).toBe(2)
    expect(room.awareness.getStates().has(7)).toBe(false)
    await new Promise((resolve) => setImmediate(resolve))
    expect(r.handed.length).toBe(before)
    expect(room.awareness.getStates().get(doc.clientID)).toEqual({ user: 'ada' })

    // The tab leaves: its removal is handed over, and nothing of it is left to give.
    provider.disconnect()
    await waitUntil('the removal was handed over', () => r.handed.length > before)
    expect(host.lightAwareness('default')).toBeUndefined()
  })
})
