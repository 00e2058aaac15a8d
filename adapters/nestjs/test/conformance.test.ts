import 'reflect-metadata'
import { Module } from '@nestjs/common'
import { NestFactory } from '@nestjs/core'
import { runAdapterTests } from '@mesh/core/testing'
import { MeshModule, MeshService } from '@mesh/nestjs'

// Decorators applied as calls: the test transform does not parse legacy decorator syntax.
class AppModule {}
Module({ imports: [MeshModule.forRoot({ name: 'nest-under-test' })] })(AppModule)

runAdapterTests('@mesh/nestjs', async () => {
  const app = await NestFactory.create(AppModule, { logger: false })
  await app.listen(0, '127.0.0.1')
  const { node } = app.get(MeshService)
  return { url: await app.getUrl(), node, teardown: () => app.close() }
})
