/**
 * Example: a NestJS service sharing state with Mesh.
 *
 *   PORT=3001 MESH_NAME=a npm start -w examples/nestjs
 *   PORT=3002 MESH_NAME=b MESH_JOIN=ws://127.0.0.1:3001/mesh npm start -w examples/nestjs
 *
 * `GET /` shows the node's name and data, `GET /join?url=ws://...` joins a peer,
 * `POST /push-data` merges a JSON object into the shared store; the Mesh endpoints and the
 * REST API live under `/mesh`.
 */
import 'reflect-metadata'
import type { Server } from 'node:http'
import {
  BadRequestException,
  Body,
  ConflictException,
  Controller,
  GatewayTimeoutException,
  Get,
  HttpCode,
  Inject,
  Module,
  Post,
  Query,
} from '@nestjs/common'
import { NestFactory } from '@nestjs/core'
import { MeshError, type JsonValue, type Logger } from '@mesh/core'
import { MeshModule, MeshService } from '@mesh/nestjs'

const stderr: Logger = {
  debug: () => {},
  info: () => {},
  warn: (message, fields) => console.error(`warn: ${message}`, fields ?? ''),
  error: (message, fields) => console.error(`error: ${message}`, fields ?? ''),
}

const port = Number(process.env.PORT ?? 3000)
const host = process.env.HOST ?? '127.0.0.1'
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`PORT must be an integer from 0 to 65535; got "${process.env.PORT ?? ''}"`)
  process.exit(1)
}

const toHttpError = (error: unknown): unknown => {
  if (!(error instanceof MeshError)) return error
  const body = { error: error.message }
  if (error.code === 'conflict') return new ConflictException(body)
  if (error.code === 'timeout') return new GatewayTimeoutException(body)
  return new BadRequestException(body)
}

@Controller()
class AppController {
  #mesh: MeshService

  constructor(@Inject(MeshService) mesh: MeshService) {
    this.#mesh = mesh
  }

  @Get()
  root(): { name: string; data: Record<string, JsonValue> } {
    return { name: this.#mesh.node.name, data: this.#mesh.snapshot() }
  }

  @Get('join')
  async join(@Query('url') url?: string): Promise<{ joined: string; name: string; data: Record<string, JsonValue> }> {
    if (!url) throw new BadRequestException({ error: 'add ?url=ws://host:port/mesh' })
    try {
      await this.#mesh.join([url], { timeoutMs: 5000 })
      await this.#mesh.node.syncUp({ timeoutMs: 5000 })
    } catch (error) {
      throw toHttpError(error)
    }
    return { joined: url, ...this.root() }
  }

  @Post('push-data')
  @HttpCode(200)
  async pushData(@Body() body: unknown): Promise<{ name: string; data: Record<string, JsonValue> }> {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new BadRequestException({ error: 'send a JSON object: its keys are merged into the store' })
    }
    try {
      // Validated as JSON by the node; a bad value is refused with a bad_request MeshError.
      await this.#mesh.put(body as Record<string, JsonValue>)
    } catch (error) {
      throw toHttpError(error)
    }
    return this.root()
  }
}

@Module({
  imports: [
    MeshModule.forRootAsync({
      useFactory: () => ({
        name: process.env.MESH_NAME || undefined,
        join: (process.env.MESH_JOIN ?? '')
          .split(',')
          .map((url) => url.trim())
          .filter(Boolean),
        logger: stderr,
      }),
    }),
  ],
  controllers: [AppController],
})
class AppModule {}

// eslint-disable-next-line @typescript-eslint/no-unsafe-class-instance-assignment -- Nest documents its options as literals
const app = await NestFactory.create(AppModule, { logger: ['error', 'warn'] })
// SIGTERM/SIGINT run the shutdown hooks (the node leaves the mesh), then exit 0.
app.enableShutdownHooks(['SIGTERM', 'SIGINT'], { useProcessExit: true })
try {
  await app.listen(port, host)
} catch (error) {
  console.error(`cannot listen on ${host}:${port}: ${(error as Error).message}`)
  process.exit(1)
}
const address = (app.getHttpServer() as Server).address()
const realPort = typeof address === 'object' && address ? address.port : port
console.log(`mesh: ${app.get(MeshService).node.name} listening on http://${host}:${realPort}`)
