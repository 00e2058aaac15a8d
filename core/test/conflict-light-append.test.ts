/**
 * Reviewer's break of 408e3a6 (w8-conflicts), fixed: a light peer that overwrites a key with a plain
 * `Y.Array` push (no deletion of the old entry; docs/security.md allows any well-formed entry)
 * had synced the old entry before it wrote: a sequential overwrite, not a race. The node that
 * wrote the old entry, under `exception`, quarantines the room anyway: live (both entries are
 * live at once when the relaying node's deletion of the old entry arrives in a transaction of
 * its own) and at a resync (the relay names it as a lost race, protocol version 6). On 84f3504
 * neither was reported. Now the node the light peer wrote through sends its append and the
 * removal it caused as one overwrite, and does not remember it as a lost race (room.ts, kv-index.ts).
 */
import { waitUntil } from '@mesh/core/testing'
import { describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { WebsocketProvider } from 'y-websocket'
import * as Y from 'yjs'
import { servedPerTest } from './helpers.js'

const { start, cleanups } = servedPerTest()

describe('a light peer overwrites a key with a plain push after syncing its entry', () => {
  for (const apart of [false, true]) {
    it(`is no race for the node that wrote the entry (${apart ? 'apart, then a resync' : 'live'})`, async () => {
      const a = await start({ name: 'a', onConflict: 'exception' })
      const b = await start({ name: 'b', onConflict: 'merge' })
      await a.node.join([b.url])
      await a.node.put('k', 'from-a')
      await waitUntil('b has k', () => b.node.get('k') === 'from-a')
      const doc = new Y.Doc()
      const tab = new WebsocketProvider(b.url, 'default', doc, {
        WebSocketPolyfill: WebSocket as never,
        disableBc: true,
      })
      cleanups.push(() => tab.destroy())
      const kv = doc.getArray<{ key: string; val: unknown }>('kv')
      await waitUntil('tab synced', () => kv.toArray().some((e) => e.key === 'k' && e.val === 'from-a'))
      if (apart) {
        a.node.cut(b.node.id)
        b.node.cut(a.node.id)
        await waitUntil('apart', () => a.node.status().peers.every((p) => p.link !== 'open'))
      }
      kv.push([{ key: 'k', val: 'from-tab' }])
      await waitUntil('b took it', () => b.node.get('k') === 'from-tab')
      if (apart) {
        a.node.heal(b.node.id)
        b.node.heal(a.node.id)
      }
      await waitUntil('a took it or raised', () => a.node.get('k') === 'from-tab' || a.node.conflicts().length > 0)
      await a.node.put('after', 1)
      await waitUntil('a settled with b', () => b.node.get('after') === 1 || a.node.conflicts().length > 0)
      expect(a.node.conflicts().map((e) => e.keys.map((k) => k.key))).toEqual([])
    })
  }
})
