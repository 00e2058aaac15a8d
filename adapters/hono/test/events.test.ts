import { upgradeWebSocket } from '@hono/node-server'
import { MeshNode, type Connection } from '@mesh/core'
import { expectInspectorServed } from '@mesh/core/testing'
import { meshApi, meshEvents, mountMesh } from '@mesh/hono'
import { Hono, type Context } from 'hono'
import type { WSContext, WSMessageReceive } from 'hono/ws'
import { afterEach, describe, expect, it } from 'vitest'

const nodes: MeshNode[] = []
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.close()))
})

/** A node whose `accept` records what the adapter hands to core. */
const recordingNode = () => {
  const frames: unknown[] = []
  const accepted: Array<{ room?: string; readOnly?: boolean }> = []
  let closed = 0
  const connection: Connection = {
    receive: (data) => {
      frames.push(data)
    },
    close: () => {
      closed++
    },
  }
  const node = {
    accept: (_socket: unknown, options: { room?: string; readOnly?: boolean }) => {
      accepted.push(options)
      return connection
    },
  } as unknown as MeshNode
  return { node, frames, accepted, closed: () => closed }
}

const context = (room?: string) =>
  ({ req: { param: () => room, raw: new Request('http://localhost/mesh') } }) as unknown as Context
const socket = { send: () => {}, close: () => {}, readyState: 1 } as unknown as WSContext
// Some runtimes hand over a Uint8Array although the type does not say so.
const message = (data: WSMessageReceive | Uint8Array) =>
  new MessageEvent<WSMessageReceive>('message', { data: data as WSMessageReceive })
// Node 20 has no global CloseEvent.
const closeEvent = () => new Event('close') as CloseEvent

describe('meshEvents', () => {
  it('passes the room and readOnly to accept, and closes the connection on close', () => {
    const rec = recordingNode()
    const events = meshEvents(rec.node, { readOnly: (_c, room) => room === 'docs' })(context('docs'))
    events.onOpen?.(new Event('open'), socket)
    events.onClose?.(closeEvent(), socket)
    events.onClose?.(closeEvent(), socket)
    expect(rec.accepted).toEqual([expect.objectContaining({ room: 'docs', readOnly: true })])
    expect(rec.closed()).toBe(1)

    const peer = recordingNode()
    meshEvents(peer.node)(context(undefined)).onOpen?.(new Event('open'), socket)
    expect(peer.accepted).toEqual([expect.objectContaining({ room: undefined, readOnly: undefined })])
  })

  it('hands over every data shape in order, text as a string', async () => {
    const rec = recordingNode()
    const events = meshEvents(rec.node)(context('default'))
    events.onOpen?.(new Event('open'), socket)
    const buffer = new Uint8Array([1, 2]).buffer
    const big = new Uint8Array([9, 9, 3, 4, 9])
    events.onMessage?.(message(buffer), socket)
    events.onMessage?.(message(new Blob([new Uint8Array([5])])), socket)
    events.onMessage?.(message(big.subarray(2, 4)), socket)
    events.onMessage?.(message('text'), socket)
    await expect.poll(() => rec.frames.length).toBe(4)
    const bytes = rec.frames.map((f) => (typeof f === 'string' ? f : [...new Uint8Array(f as ArrayBuffer)]))
    expect(bytes).toEqual([[1, 2], [5], [3, 4], 'text'])
  })
})

describe('meshApi', () => {
  it('serves routes relative to wherever it is mounted, keys still percent-encoded', async () => {
    const node = new MeshNode({ name: 'api' })
    nodes.push(node)
    const app = new Hono().route('/deep/x/api', meshApi(node))
    const json = { 'content-type': 'application/json' }
    const put = await app.request('/deep/x/api/kv/a%2Fb%25', { method: 'PUT', headers: json, body: '"v"' })
    expect(put.status).toBe(200)
    expect(node.get('a/b%')).toBe('v')
    const get = await app.request('/deep/x/api/kv')
    expect(await get.json()).toEqual({ 'a/b%': 'v' })
    const bad = await app.request('/deep/x/api/kv/k', { method: 'PUT', headers: json, body: '{' })
    expect(bad.status).toBe(400)
    expect(await bad.json()).toMatchObject({ error: expect.any(String) })
  })

  it('answers a body over the limit with 413, after reading and dropping the rest', async () => {
    const node = new MeshNode({ name: 'api' })
    nodes.push(node)
    const app = meshApi(node, { maxBodyBytes: 10 })
    let pulled = 0
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (pulled++ < 8) controller.enqueue(new TextEncoder().encode(JSON.stringify('x'.repeat(100))))
        else controller.close()
      },
    })
    const res = await app.request('/kv/k', {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body,
      duplex: 'half',
    } as RequestInit)
    expect(res.status).toBe(413)
    // Read to the end, the connection stays usable: no need to close it on the client.
    expect(pulled).toBe(9)
    expect(res.headers.get('connection')).toBeNull()
    expect(node.has('k')).toBe(false)
  })
})

describe('mountMesh inspector option', () => {
  it('serves the inspector under the base path with inspector: true, and nothing without it', async () => {
    const node = new MeshNode({ name: 'inspector' })
    nodes.push(node)
    const app = mountMesh(new Hono(), node, { upgradeWebSocket, basePath: '/cluster', inspector: true })
    await expectInspectorServed(async (path) => app.request(path), '/cluster')

    const plain = mountMesh(new Hono(), node, { upgradeWebSocket, basePath: '/cluster' })
    expect((await plain.request('/cluster/inspector/')).status).toBe(404)
  })
})
