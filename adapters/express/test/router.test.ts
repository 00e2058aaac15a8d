import { once } from 'node:events'
import { createServer, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Duplex } from 'node:stream'
import express, { type Application } from 'express'
import { WebSocketServer } from 'ws'
import { afterEach, describe, expect, it } from 'vitest'
import { MeshNode } from '@mesh/core'
import {
  closeApp,
  expectInspectorServed,
  openRawSocket,
  restCall,
  runAdapterTests,
  waitUntil,
  withTimeout,
} from '@mesh/core/testing'
import { mountMesh } from '@mesh/express'

const listen = async (app: Application, basePath?: string, inspector?: boolean) => {
  const node = new MeshNode({ name: 'express-options' })
  const server = createServer(app)
  const detach = mountMesh(app, server, { node, basePath, inspector })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  const teardown = () => closeApp(node, server, detach)
  return { url: `http://127.0.0.1:${port}`, node, server, teardown }
}

runAdapterTests('@mesh/express under a custom base path', () => listen(express(), '/cluster/'), {
  basePath: '/cluster',
})

describe('@mesh/express next to other parts of an app', () => {
  const cleanups: Array<() => Promise<void>> = []
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup()
  })

  it('leaves upgrades on other paths to their own listener', async () => {
    const app = await listen(express())
    const echo = new WebSocketServer({ noServer: true })
    const onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer): void => {
      if (request.url !== '/other') return
      echo.handleUpgrade(request, socket, head, (ws) => ws.on('message', (data) => ws.send(data)))
    }
    app.server.on('upgrade', onUpgrade)
    cleanups.push(async () => {
      for (const ws of echo.clients) ws.terminate()
      echo.close()
      await app.teardown()
    })

    const other = await openRawSocket(`${app.url.replace(/^http/, 'ws')}/other`)
    const reply = new Promise<string>((resolve) =>
      other.socket.once('message', (data: Buffer) => resolve(String(data))),
    )
    other.socket.send('ping')
    expect(await withTimeout(reply, 5000, 'the echo on /other')).toBe('ping')
    other.socket.close()

    const peer = new MeshNode({ name: 'peer' })
    cleanups.unshift(() => peer.close())
    await peer.join([`${app.url.replace(/^http/, 'ws')}/mesh`], { timeoutMs: 5000 })
    await waitUntil('the app to list the joined peer', () => app.node.members().some((m) => m.id === peer.id), {
      subscribe: (wake) => app.node.on('peer:up', wake),
    })
  })

  it('still reads bodies a global express.json() already parsed', async () => {
    const web = express()
    web.use(express.json())
    const app = await listen(web)
    cleanups.push(app.teardown)
    const object = await restCall(`${app.url}/mesh/api/kv/parsed`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ a: [1, 2] }),
    })
    expect(object.status).toBe(200)
    expect(app.node.get('parsed')).toEqual({ a: [1, 2] })
    // A JSON body under another content type is refused (415), as a cross-site form would be.
    const text = await restCall(`${app.url}/mesh/api/kv/raw`, { method: 'PUT', body: '42' })
    expect(text.status).toBe(415)
    expect(app.node.has('raw')).toBe(false)
  })

  it('serves the inspector with inspector: true, and nothing without it', async () => {
    const app = await listen(express(), '/cluster', true)
    cleanups.push(app.teardown)
    await expectInspectorServed((path) => fetch(`${app.url}${path}`, { redirect: 'manual' }), '/cluster')

    const plain = await listen(express())
    cleanups.push(plain.teardown)
    expect((await fetch(`${plain.url}/mesh/inspector/`)).status).toBe(404)
  })
})
