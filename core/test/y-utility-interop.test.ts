import { restCall, waitUntil } from '@mesh/core/testing'
import { afterEach, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { YKeyValue } from 'y-utility/y-keyvalue'
import { WebsocketProvider } from 'y-websocket'
import * as Y from 'yjs'
import { internalRoom, serveNode, type ServedNode } from './helpers.js'
import { createRestHandler } from '@mesh/core'
import http from 'node:http'
import type { AddressInfo } from 'node:net'

const served: ServedNode[] = []
const providers: WebsocketProvider[] = []
const servers: http.Server[] = []
afterEach(async () => {
  for (const p of providers.splice(0)) p.destroy()
  for (const s of served.splice(0)) await s.close()
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r))
})

/** REST of a node on its own port, as `mesh serve` mounts it. */
const rest = async (node: ServedNode['node']) => {
  const handler = createRestHandler(node)
  const serve = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://x')
    const chunks: Buffer[] = []
    for await (const chunk of req) chunks.push(chunk as Buffer)
    const answer = await handler({
      method: req.method ?? 'GET',
      path: url.pathname,
      query: url.searchParams,
      body: () => Promise.resolve(Buffer.concat(chunks).toString()),
      header: (name: string) => req.headers[name.toLowerCase()] as string | undefined,
    })
    res.writeHead(answer.status, { 'content-type': answer.contentType ?? 'application/json' })
    res.end(typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body))
  }
  const server = http.createServer((req, res) => void serve(req, res))
  servers.push(server)
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

describe("a Yjs app using y-utility's YKeyValue reads and writes the same store as REST", () => {
  it('both ways across two nodes, including offline edits that merge on reconnect', async () => {
    const a = await serveNode({ name: 'a' })
    const b = await serveNode({ name: 'b' })
    served.push(a, b)
    await b.node.join([a.url])
    const api = await rest(b.node)
    await restCall(`${api}/kv/seeded`, {
      method: 'PUT',
      body: JSON.stringify({ by: 'rest' }),
      headers: { 'content-type': 'application/json' },
    })

    const doc = new Y.Doc()
    const provider = new WebsocketProvider(a.url, 'default', doc, {
      WebSocketPolyfill: WebSocket as never,
      disableBc: true,
    })
    providers.push(provider)
    const kv = new YKeyValue<unknown>(doc.getArray('kv'))
    const onDoc = (wake: () => void) => {
      doc.on('update', wake)
      return () => doc.off('update', wake)
    }
    await waitUntil('the app sees the REST write', () => JSON.stringify(kv.get('seeded')) === '{"by":"rest"}', {
      subscribe: onDoc,
    })

    kv.set('from-app', [1, 'two'])
    await waitUntil('REST on b sees the app write', async () => {
      const reply = await restCall(`${api}/kv/from-app`)
      return reply.status === 200 && JSON.stringify(reply.body) === '[1,"two"]'
    })

    // Offline: the tab edits while REST on b changes the same and other keys.
    provider.disconnect()
    kv.set('offline', 'tab')
    kv.set('seeded', 'tab wins or loses, but one value everywhere')
    kv.delete('from-app')
    await restCall(`${api}/kv/rest-while-offline`, {
      method: 'PUT',
      body: '1',
      headers: { 'content-type': 'application/json' },
    })
    await restCall(`${api}/kv/seeded`, {
      method: 'PUT',
      body: '"rest"',
      headers: { 'content-type': 'application/json' },
    })
    provider.connect()
    await waitUntil(
      'tab and nodes agree',
      async () => {
        const reply = await restCall(`${api}/kv`)
        const nodeView = reply.body as Record<string, unknown>
        const appView = Object.fromEntries([...kv.map.entries()].map(([k, v]) => [k, v.val]))
        return (
          JSON.stringify(Object.entries(nodeView).sort()) === JSON.stringify(Object.entries(appView).sort()) && nodeView
        )
      },
      { subscribe: onDoc, timeoutMs: 8000 },
    )
    expect(a.node.get('offline')).toBe('tab')
    expect(a.node.get('rest-while-offline')).toBe(1)
    expect(a.node.has('from-app')).toBe(false)
    expect(['rest', 'tab wins or loses, but one value everywhere']).toContain(a.node.get('seeded'))
    expect(kv.get('seeded')).toBe(a.node.get('seeded'))
    // Every replica deleted the losing duplicate: one live entry per key in the array.
    const live = internalRoom(a.node).kv.array.toArray() as Array<{ key: string }>
    expect(live.filter((e) => e.key === 'seeded')).toHaveLength(1)
  })
})
