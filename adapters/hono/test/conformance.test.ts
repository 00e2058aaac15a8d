import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import { createAdaptorServer, upgradeWebSocket } from '@hono/node-server'
import { advertiseWhenListening, MeshNode } from '@mesh/core'
import { closeApp, runAdapterTests } from '@mesh/core/testing'
import { mountMesh } from '@mesh/hono'
import { Hono } from 'hono'
import { WebSocketServer } from 'ws'

runAdapterTests('@mesh/hono', async () => {
  const node = new MeshNode({ name: 'hono-under-test' })
  const app = mountMesh(new Hono(), node, { upgradeWebSocket })
  const wss = new WebSocketServer({ noServer: true })
  const server = createAdaptorServer({ fetch: app.fetch, websocket: { server: wss } })
  // As the README does: Hono does not know its server, so the app hands it over for the URL.
  advertiseWhenListening(server, { node })
  server.listen(0)
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  // Mesh sockets finish their close handshake first; terminating ends any that would not.
  const cut = () => {
    for (const ws of wss.clients) ws.terminate()
    wss.close()
  }
  return { url: `http://127.0.0.1:${port}`, node, teardown: () => closeApp(node, server, cut) }
})
