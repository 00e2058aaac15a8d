import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import express from 'express'
import { MeshNode } from '@mesh/core'
import { closeApp, runAdapterTests } from '@mesh/core/testing'
import { mountMesh } from '@mesh/express'

runAdapterTests('@mesh/express', async () => {
  const node = new MeshNode({ name: 'express-under-test' })
  const app = express()
  // As an application would: `app.listen(port)` binds every interface and no url is given.
  const server = app.listen(0)
  const detach = mountMesh(app, server, { node })
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  // Mesh sockets finish their close handshake first; detaching ends any that would not.
  return { url: `http://127.0.0.1:${port}`, node, teardown: () => closeApp(node, server, detach) }
})
