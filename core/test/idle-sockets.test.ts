/**
 * What an idle socket and an empty room cost (issue 12: no amplification above 10× from
 * unauthenticated input). A room a light peer opens and leaves empty is never loaded (no
 * `Y.Doc`, no presence, no store) on its node nor on the peers that hear of it, yet it answers
 * as the empty document it is, and content a peer holds still reaches it. Peer sockets that
 * say nothing are capped and timed out without a link being built for them.
 */
import { nodeEvents, waitUntil } from '@mesh/core/testing'
import { afterEach, describe, expect, it, vi } from 'vitest'
import WebSocket from 'ws'
import { WebsocketProvider } from 'y-websocket'
import * as Y from 'yjs'
import { CloseCode, Metrics, type MeshSocket } from '../src/common/index.js'
import { CheckAnswers } from '../src/replication/check-answers.js'
import { CommitLog, EMPTY_SNAPSHOT, Room, encodePeer } from '../src/replication/index.js'
import { PendingHellos } from '../src/security/index.js'
import { memoryLogger, openSocket, servedPerTest, type ServedNode } from './helpers.js'

const { start, cleanups } = servedPerTest()

const linked = async (a: ServedNode, b: ServedNode): Promise<void> => {
  await b.node.join([a.url])
  await waitUntil('a and b linked', () => a.node.status().peers.some((p) => p.link === 'open'), {
    subscribe: nodeEvents(a.node, b.node),
  })
}

/** True once every link of `s` synced `room`. */
const syncedOn = (s: ServedNode, room: string): boolean => {
  const peers = s.node.status().peers
  return peers.length > 0 && peers.every((p) => p.rooms[room]?.state === 'synced')
}

const hex = (frame: Buffer): string => frame.toString('hex')

const client = (s: ServedNode, room: string) => {
  const doc = new Y.Doc()
  const provider = new WebsocketProvider(s.url, room, doc, { WebSocketPolyfill: WebSocket as never, disableBc: true })
  cleanups.push(() => provider.destroy())
  return { doc, provider }
}

const onUpdate = (doc: Y.Doc) => (wake: () => void) => {
  doc.on('update', wake)
  return () => doc.off('update', wake)
}

describe('empty rooms', () => {
  it('a room a light peer opens and leaves empty is never loaded, here or on the peer, and answers as the empty document', async () => {
    const a = await start({ name: 'a' })
    const b = await start({ name: 'b' })
    await linked(a, b)
    const light = await openSocket(`${a.url}/quiet`)
    cleanups.push(() => light.ws.terminate())
    // A stock client's handshake: its SyncStep1, its (empty) SyncStep2, then a query for presence.
    light.ws.send(new Uint8Array([0, 0, 1, 0]))
    light.ws.send(new Uint8Array([0, 1, 2, 0, 0]))
    light.ws.send(new Uint8Array([3]))
    await waitUntil('three frames from a', () => light.messages.length >= 3)
    // The node's SyncStep1 (empty state vector), its SyncStep2 (empty update), no presence.
    expect(light.messages.map(hex)).toEqual(['00000100', '0001020000', '010100'])
    await waitUntil('the room synced on both links', () => syncedOn(a, 'quiet') && syncedOn(b, 'quiet'), {
      subscribe: nodeEvents(a.node, b.node),
    })
    expect(a.node.status().rooms['quiet']).toMatchObject({ loaded: false, lightPeers: 1, stateVector: {}, keys: 0 })
    expect(b.node.status().rooms['quiet']).toMatchObject({ loaded: false })
    // Left empty, it is unloaded at once.
    light.ws.close()
    await waitUntil('a to unload the room', () => a.node.status().rooms['quiet'] === undefined, {
      subscribe: nodeEvents(a.node),
    })
  })

  it('a light peer on a room only a peer holds gets its content, written before and after it came', async () => {
    const a = await start({ name: 'a' })
    const b = await start({ name: 'b' })
    await linked(a, b)
    const notes = b.node.room('notes').doc.getText('t')
    notes.insert(0, 'before')
    const tab = client(a, 'notes')
    const text = tab.doc.getText('t')
    await waitUntil('the tab to get what b held', () => text.toJSON() === 'before', { subscribe: onUpdate(tab.doc) })
    notes.insert(6, ', after')
    await waitUntil('the tab to get what b wrote next', () => text.toJSON() === 'before, after', {
      subscribe: onUpdate(tab.doc),
    })
    expect(a.node.status().rooms['notes']?.loaded).toBe(true)
  })

  it('a room loads with its first presence, and other tabs see it', async () => {
    const a = await start({ name: 'a' })
    const viewer = client(a, 'board')
    viewer.provider.awareness.setLocalState(null)
    await waitUntil('the viewer to sync', () => viewer.provider.synced, {
      subscribe: (wake) => {
        viewer.provider.on('sync', wake)
        return () => viewer.provider.off('sync', wake)
      },
    })
    expect(a.node.status().rooms['board']?.loaded).toBe(false)
    const editor = client(a, 'board')
    editor.provider.awareness.setLocalState({ user: { name: 'editor' } })
    await waitUntil(
      'the viewer to see the editor',
      () => viewer.provider.awareness.getStates().has(editor.doc.clientID),
      {
        subscribe: (wake) => {
          viewer.provider.awareness.on('change', wake)
          return () => viewer.provider.awareness.off('change', wake)
        },
      },
    )
    expect(a.node.status().rooms['board']?.loaded).toBe(true)
  })
})

describe('peer sockets before their hello', () => {
  it('one that stays silent is closed with 4400, by one timer for all', async () => {
    const { logger } = memoryLogger()
    const closes: Array<{ code?: number; reason?: string }> = []
    const socket = (): MeshSocket => ({
      readyState: 1,
      send: () => {},
      close: (code?: number, reason?: string) => void closes.push({ code, reason }),
    })
    let opened = 0
    const hellos = new PendingHellos({
      logger,
      metrics: new Metrics(),
      open: () => {
        opened++
        return { receive: () => {}, close: () => {} }
      },
      timeoutMs: 20,
    })
    hellos.accept(socket())
    const speaks = hellos.accept(socket())
    speaks.receive(new Uint8Array([1]))
    hellos.accept(socket())
    await waitUntil('the silent sockets to be closed', () => closes.length === 2)
    expect(closes).toEqual([
      { code: CloseCode.badMessage, reason: 'handshake not completed in time' },
      { code: CloseCode.badMessage, reason: 'handshake not completed in time' },
    ])
    expect(opened).toBe(1)
    expect(hellos.size).toBe(0)
  })
})

describe("a peer's checks of rooms that are not loaded", () => {
  afterEach(() => {
    vi.useRealTimers()
  })

  /** One link's check answers, over a room that was never loaded. */
  const answersOf = () => {
    const { logger } = memoryLogger()
    const room = new Room('quiet', {
      clientId: 1,
      log: new CommitLog(),
      hooks: { describe: () => ({ origin: 'test', via: 'test' }), onKeys: () => {}, committed: () => {} },
    })
    const sent: Uint8Array[] = []
    const checks = new CheckAnswers({
      link: { peerId: 'b', unsentBytes: 0, sendFrame: (frame) => void sent.push(frame as Uint8Array) },
      host: { logger, metrics: new Metrics(), existingRoom: () => room, progress: () => {} },
      live: () => true,
    })
    return { room, sent, checks }
  }

  it('keep nothing waiting when they ask no reply: every room is checked every round', () => {
    vi.useFakeTimers()
    const { room, sent, checks } = answersOf()
    for (let i = 0; i < 3; i++) checks.onCheck(room, EMPTY_SNAPSHOT, false)
    expect(vi.getTimerCount()).toBe(0)
    expect(sent).toEqual([])
    expect(room.loaded).toBe(false)
  })

  it('lose their waiting answer when the room unloads', () => {
    vi.useFakeTimers()
    const { room, sent, checks } = answersOf()
    checks.onCheck(room, EMPTY_SNAPSHOT, true)
    // Within the interval: one answer waits for it.
    checks.onCheck(room, EMPTY_SNAPSHOT, true)
    expect(vi.getTimerCount()).toBe(1)
    checks.dropRoom('quiet')
    expect(vi.getTimerCount()).toBe(0)
    vi.runAllTimers()
    expect(sent).toEqual([encodePeer.check('quiet', room.encodeSnapshot())])
  })
})
