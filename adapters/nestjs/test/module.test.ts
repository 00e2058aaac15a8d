import 'reflect-metadata'
import { Module, type INestApplication, type ModuleMetadata, type Type } from '@nestjs/common'
import { NestFactory } from '@nestjs/core'
import { afterEach, describe, expect, it } from 'vitest'
import { expectInspectorServed, restCall, waitUntil } from '@mesh/core/testing'
import { MeshModule, MeshService, type MeshModuleOptions } from '@mesh/nestjs'

type Imports = NonNullable<ModuleMetadata['imports']>

// Decorators applied as calls: the test transform does not parse legacy decorator syntax.
const moduleWith = (imports: Imports): Type => {
  // eslint-disable-next-line @typescript-eslint/no-extraneous-class -- a Nest module; @Module() is applied below
  class AppModule {}
  Module({ imports })(AppModule)
  return AppModule
}

const CONFIG = Symbol('config')

describe('@mesh/nestjs MeshModule and MeshService', () => {
  const apps: INestApplication[] = []
  afterEach(async () => {
    for (const app of apps.splice(0).reverse()) await app.close()
  })

  const start = async (imports: Imports) => {
    const app = await NestFactory.create(moduleWith(imports), { logger: false })
    apps.push(app)
    await app.listen(0, '127.0.0.1')
    const url = await app.getUrl()
    return { app, url, mesh: app.get(MeshService) }
  }

  it('forRootAsync resolves options from an imported provider and joins those peers once listening', async () => {
    const first = await start([MeshModule.forRoot({ name: 'first' })])
    await first.mesh.put('from-first', 1)

    // eslint-disable-next-line @typescript-eslint/no-extraneous-class -- a Nest module; @Module() is applied below
    class ConfigModule {}
    const config: Pick<MeshModuleOptions, 'name' | 'join'> = { name: 'second', join: [first.mesh.node.url] }
    Module({ providers: [{ provide: CONFIG, useValue: config }], exports: [CONFIG] })(ConfigModule)
    const second = await start([
      MeshModule.forRootAsync({
        imports: [ConfigModule],
        inject: [CONFIG],
        useFactory: (options: MeshModuleOptions) => options,
      }),
    ])
    expect(second.mesh.node.name).toBe('second')
    expect(second.mesh.node.url).toBe(`${second.url.replace(/^http/, 'ws')}/mesh`)

    await waitUntil('the second app to receive from-first', () => second.mesh.get('from-first') === 1, {
      subscribe: (wake) => second.mesh.on('change', wake),
    })
    await second.mesh.put({ a: 'x', b: [true] })
    await waitUntil('the first app to receive b', () => first.mesh.has('b'), {
      subscribe: (wake) => first.mesh.on('change', wake),
    })
    expect(first.mesh.snapshot()).toEqual({ 'from-first': 1, a: 'x', b: [true] })
    expect(await first.mesh.pop('a')).toBe('x')
    // Options pass through MeshService as through MeshNode.
    await second.mesh.put('lease', { by: 'second' }, { ephemeral: true, ttl: 60_000 })
    expect(second.mesh.data.meta('lease')).toMatchObject({ owner: second.mesh.node.id })
    expect(second.mesh.data.meta('lease')?.expiresAt).toBeGreaterThan(Date.now())

    // Closing the app leaves the mesh: the other side sees a graceful leave.
    const secondId = second.mesh.node.id
    apps.splice(apps.indexOf(second.app), 1)
    await second.app.close()
    expect(second.mesh.node.closed).toBe(true)
    await waitUntil(
      'the first app to list the second as left',
      () => first.mesh.node.members().find((m) => m.id === secondId)?.state === 'left',
      { subscribe: (wake) => first.mesh.on('peer:down', wake) },
    )
  })

  it('leaves the rest of the Nest app alone', async () => {
    const { url } = await start([MeshModule.forRoot({ basePath: '/cluster', isGlobal: true })])
    const nestNotFound = await restCall(`${url}/not-mesh`)
    expect(nestNotFound.status).toBe(404)
    expect(nestNotFound.body).toMatchObject({ statusCode: 404 })
    expect((await restCall(`${url}/cluster/api/health`)).status).toBe(200)
    expect((await restCall(`${url}/mesh/api/health`)).status).toBe(404)
  })

  it('serves the inspector below Nest with inspector: true, and nothing without it', async () => {
    const { url } = await start([MeshModule.forRoot({ basePath: '/cluster', inspector: true })])
    await expectInspectorServed((path) => fetch(`${url}${path}`, { redirect: 'manual' }), '/cluster')

    const plain = await start([MeshModule.forRoot({ name: 'plain' })])
    expect((await restCall(`${plain.url}/mesh/inspector/`)).body).toMatchObject({ statusCode: 404 })
  })

  it('serve: false keeps the endpoints off the HTTP server', async () => {
    const { url, mesh } = await start([MeshModule.forRoot({ serve: false })])
    expect((await restCall(`${url}/mesh/api/health`)).body).toMatchObject({ statusCode: 404 })
    expect(mesh.node.closed).toBe(false)
  })

  it('refuses a join URL that cannot work, at startup', async () => {
    await expect(
      NestFactory.create(moduleWith([MeshModule.forRoot({ join: ['http://127.0.0.1:1/mesh'] })]), {
        logger: false,
        abortOnError: false,
      }),
    ).rejects.toThrow(/ws:\/\/host:port\/mesh/)
  })
})
