import WebSocket from 'ws'
import { WebsocketProvider } from 'y-websocket'
import * as Y from 'yjs'
import { YKeyValue } from 'y-utility/y-keyvalue'
import { afterEach, describe, expect, it } from 'vitest'
import { waitUntil } from '@mesh/core/testing'
import { E2E_WAIT_MS, put, request, startNode, stopAll, waitForValue, type MeshProcess } from './harness.js'

interface MemberJson {
  id: string
  name: string
  state: string
}

const memberState = async (observer: MeshProcess, name: string): Promise<string | undefined> => {
  const res = await observer.api<MemberJson[]>('/members')
  // A restarted node is a new member with the same name; the newest entry is the last one.
  return res.body.filter((m) => m.name === name).at(-1)?.state
}

/** a ← b ← c: b joins a, c joins b. */
const chain = async (): Promise<[MeshProcess, MeshProcess, MeshProcess]> => {
  const a = await startNode({ name: 'a' })
  const b = await startNode({ name: 'b', join: [a.peerUrl] })
  const c = await startNode({ name: 'c', join: [b.peerUrl] })
  return [a, b, c]
}

afterEach(stopAll)

describe('a cluster of mesh serve processes', () => {
  it('converges both ways along a chain a–b–c, deletes included', async () => {
    const [a, b, c] = await chain()
    await put(a, 'from-a', { n: 1 })
    await waitForValue(c, 'from-a', { n: 1 })
    await put(c, 'from-c', [1, 2, 3])
    await waitForValue(a, 'from-c', [1, 2, 3])
    await waitForValue(b, 'from-c', [1, 2, 3])

    const removed = await a.api('/kv/from-c', { method: 'DELETE' })
    expect(removed).toMatchObject({ status: 200, body: [1, 2, 3] })
    await waitForValue(c, 'from-c', undefined)
    const all = await c.api('/kv')
    expect(all.body).toEqual({ 'from-a': { n: 1 } })
  })

  it('serves the curl flow of the issue: PUT on a, GET on b returns "blue"', async () => {
    const a = await startNode({ name: 'a' })
    const b = await startNode({ name: 'b', join: [a.peerUrl] })
    const res = await request(`${a.url}/mesh/api/kv/color`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: '"blue"',
    })
    expect(res.status).toBe(200)
    await waitForValue(b, 'color', 'blue')
    const got = await request(`${b.url}/mesh/api/kv/color`)
    expect(got).toMatchObject({ status: 200, body: 'blue' })
    expect(got.contentType).toContain('application/json')
  })

  it('lets a killed node rejoin and catch up on what it missed', async () => {
    const [a, b, c] = await chain()
    await put(a, 'before', 1)
    await waitForValue(c, 'before', 1)

    const exit = await c.stop('SIGKILL')
    expect(exit.signal).toBe('SIGKILL')
    await put(a, 'while-down-a', 'x')
    await put(b, 'while-down-b', 'y')
    await a.api('/kv/before', { method: 'DELETE' })

    const c2 = await startNode({ name: 'c', join: [b.peerUrl] })
    await waitForValue(c2, 'while-down-a', 'x')
    await waitForValue(c2, 'while-down-b', 'y')
    await waitForValue(c2, 'before', undefined)
    await put(c2, 'after-restart', true)
    await waitForValue(a, 'after-restart', true)
    expect((await a.api('/kv')).body).toEqual((await c2.api('/kv')).body)
  })

  it('stops gracefully on SIGTERM: exit code 0, the peer reports it as left, its ephemeral keys go', async () => {
    const a = await startNode({ name: 'a' })
    const b = await startNode({ name: 'b', join: [a.peerUrl] })
    await waitUntil('a never listed b as alive', async () => (await memberState(a, 'b')) === 'alive', {
      timeoutMs: E2E_WAIT_MS,
    })
    const lease = await b.api('/kv/lease?ephemeral=true', {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: '"b holds it"',
    })
    expect(lease.status).toBe(200)
    await put(b, 'durable', 1)
    await waitForValue(a, 'lease', 'b holds it')
    await waitForValue(a, 'durable', 1)

    const exit = await b.stop('SIGTERM')
    expect(exit).toEqual({ code: 0, signal: null })
    expect(b.stderr).not.toMatch(/ERROR/)
    await waitUntil('a never reported b as left', async () => (await memberState(a, 'b')) === 'left', {
      timeoutMs: E2E_WAIT_MS,
    })
    await waitForValue(a, 'lease', undefined)
    expect((await a.api('/kv')).body).toEqual({ durable: 1 })
    expect((await a.api('/health')).status).toBe(200)
  })

  it('serves y-websocket light peers on /mesh/:room and closes text frames with 4400', async () => {
    const a = await startNode({ name: 'a' })
    const b = await startNode({ name: 'b', join: [a.peerUrl] })
    await put(a, 'color', 'blue')

    const doc = new Y.Doc()
    const provider = new WebsocketProvider(`ws://127.0.0.1:${b.port}/mesh`, 'default', doc, {
      WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
      disableBc: true,
    })
    try {
      const kv = new YKeyValue<unknown>(doc.getArray('kv'))
      await waitUntil('the light peer on b never got color', () => kv.get('color') === 'blue', {
        timeoutMs: E2E_WAIT_MS,
      })
      kv.set('from-light', 'hello')
      await waitForValue(a, 'from-light', 'hello')
    } finally {
      provider.destroy()
      doc.destroy()
    }

    const socket = new WebSocket(`ws://127.0.0.1:${b.port}/mesh/default`)
    const closed = new Promise<number>((resolve) => socket.on('close', (code) => resolve(code)))
    socket.on('open', () => socket.send('not binary'))
    expect(await closed).toBe(4400)
    expect((await b.api('/health')).status).toBe(200)
  })
})
