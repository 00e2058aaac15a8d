/**
 * Presence of stock y-websocket clients across a reconnect. Stock clients echo every awareness
 * change they receive, other users' removals included; those echoes must never make the echoing
 * socket the owner of someone else's client id (issue 12).
 */
import { afterEach, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { WebsocketProvider } from 'y-websocket'
import * as Y from 'yjs'
import { waitUntil } from '@mesh/core/testing'
import { memoryLogger, serveNode, type ServedNode } from './helpers.js'

const served: ServedNode[] = []
const providers: WebsocketProvider[] = []
afterEach(async () => {
  for (const p of providers.splice(0)) p.destroy()
  for (const s of served.splice(0)) await s.close()
})

const client = (node: ServedNode, room = 'default') => {
  const doc = new Y.Doc()
  // disableBc: otherwise providers in one process sync over BroadcastChannel and skip the server.
  const provider = new WebsocketProvider(node.url, room, doc, {
    WebSocketPolyfill: WebSocket as never,
    disableBc: true,
  })
  providers.push(provider)
  return { doc, provider, awareness: provider.awareness }
}

type Client = ReturnType<typeof client>

const onAwareness = (c: Client) => (wake: () => void) => {
  c.awareness.on('change', wake)
  return () => c.awareness.off('change', wake)
}

const synced = (c: Client, what: string) =>
  waitUntil(`${what} to sync`, () => c.provider.synced, {
    subscribe: (wake) => {
      c.provider.on('sync', wake)
      return () => c.provider.off('sync', wake)
    },
  })

/** Resolves once `viewer` sees `subject`'s state with `field` equal to `value`. */
const sees = (viewer: Client, subject: Client, field: string, value: unknown, what: string) =>
  waitUntil(
    what,
    () => {
      const state = viewer.awareness.getStates().get(subject.doc.clientID)
      expect(state?.[field]).toEqual(value)
      return true
    },
    { subscribe: onAwareness(viewer) },
  )

const dropped = (entries: ReturnType<typeof memoryLogger>['entries']) =>
  entries.filter((e) => e.level === 'warn' && e.message.includes('awareness'))

describe.each([
  { topology: 'two nodes', sameNode: false },
  { topology: 'one node', sameNode: true },
])('presence after a reconnect, stock y-websocket clients on $topology', ({ sameNode }) => {
  it('a tab that drops and comes back is seen again by the other tab, with no warning', async () => {
    const logA = memoryLogger()
    const logB = memoryLogger()
    const a = await serveNode({ name: 'a', logger: logA.logger })
    served.push(a)
    let b = a
    if (!sameNode) {
      b = await serveNode({ name: 'b', logger: logB.logger })
      served.push(b)
      await b.node.join([a.url])
    }
    const ada = client(a)
    const bob = client(b)
    await Promise.all([synced(ada, 'ada'), synced(bob, 'bob')])
    ada.awareness.setLocalStateField('user', { name: 'ada' })
    bob.awareness.setLocalStateField('user', { name: 'bob' })
    await sees(bob, ada, 'user', { name: 'ada' }, 'bob to see ada')
    await sees(ada, bob, 'user', { name: 'bob' }, 'ada to see bob')

    // Ada's socket goes; bob's client learns of the removal and, like every stock client, echoes it.
    ada.provider.disconnect()
    await waitUntil('bob to see ada leave', () => !bob.awareness.getStates().has(ada.doc.clientID), {
      subscribe: onAwareness(bob),
    })
    // Bob's socket is ordered: once his next change is on his node, the echo before it was handled.
    bob.awareness.setLocalStateField('cursor', { x: 1 })
    await waitUntil(
      "bob's node to have handled bob's echo",
      () => {
        const state = b.node.room('default').awareness.getStates().get(bob.doc.clientID) as
          { cursor?: { x: number } } | undefined
        return state?.cursor?.x === 1
      },
      { timeoutMs: 5000 },
    )

    ada.provider.connect()
    await synced(ada, 'ada again')
    // A new awareness clock: the state counts again everywhere (the stock server behaves the same).
    ada.awareness.setLocalStateField('cursor', { x: 7 })
    await sees(bob, ada, 'cursor', { x: 7 }, "bob to see ada's cursor after her reconnect")
    await sees(bob, ada, 'user', { name: 'ada' }, 'bob to see ada by name after her reconnect')
    // And ada, who removed everyone when she dropped, sees bob again.
    bob.awareness.setLocalStateField('cursor', { x: 2 })
    await sees(ada, bob, 'cursor', { x: 2 }, 'ada to see bob after her reconnect')

    expect(dropped(logA.entries)).toEqual([])
    expect(dropped(logB.entries)).toEqual([])
  })
})

describe('presence that predates a link', () => {
  it('a tab already present when a node joins is seen by a tab on the joining node at once', async () => {
    const a = await serveNode({ name: 'a' })
    const b = await serveNode({ name: 'b' })
    served.push(a, b)
    const ada = client(a, 'cursors')
    await synced(ada, 'ada')
    ada.awareness.setLocalStateField('user', { name: 'ada' })
    await waitUntil('a to hold ada', () => a.node.room('cursors').awareness.getStates().has(ada.doc.clientID))
    // The link and room "cursors" on b come up after ada's state was set: nothing else will
    // bring it over before her client renews it (every 15 s).
    await b.node.join([a.url])
    await b.node.syncUp()
    const bob = client(b, 'cursors')
    await synced(bob, 'bob')
    await waitUntil(
      'bob to see ada',
      () =>
        (bob.awareness.getStates().get(ada.doc.clientID) as { user?: { name: string } } | undefined)?.user?.name ===
        'ada',
      { timeoutMs: 1000, subscribe: onAwareness(bob) },
    )
  })
})
