import 'reflect-metadata'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Module } from '@nestjs/common'
import { NestFactory } from '@nestjs/core'
import { runAdapterTests } from '@mesh/core/testing'
import { MeshModule, MeshService } from '@mesh/nestjs'

// Decorators applied as calls: the test transform does not parse legacy decorator syntax.
// eslint-disable-next-line @typescript-eslint/no-extraneous-class -- a Nest module; @Module() is applied below
class AppModule {}
Module({ imports: [MeshModule.forRoot({ name: 'nest-under-test' })] })(AppModule)

runAdapterTests('@mesh/nestjs', async () => {
  const app = await NestFactory.create(AppModule, { logger: false })
  // As the README does: `app.listen(port)` binds every interface and no url is given.
  await app.listen(0)
  const { node } = app.get(MeshService)
  const { port } = (app.getHttpServer() as Server).address() as AddressInfo
  return { url: `http://127.0.0.1:${port}`, node, teardown: () => app.close() }
})
