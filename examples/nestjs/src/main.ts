/**
 * Example: a NestJS service sharing state with Mesh.
 *
 *   PORT=3001 MESH_NAME=a npm start -w examples/nestjs
 *   PORT=3002 MESH_NAME=b MESH_JOIN=ws://127.0.0.1:3001/mesh npm start -w examples/nestjs
 *
 * `GET /` shows the node's name and data, `GET /join?url=ws://...` joins a peer,
 * `POST /push-data` merges a JSON object into the shared store; the Mesh endpoints and the
 * REST API live under `/mesh`. With the recipes (docs/recipes/): `GET /limited` (the
 * cluster-wide limiter `demo`, MESH_DEMO_LIMIT requests per second, default 100),
 * `POST /work/:item` (one node claims the item), `GET /flags` and `PUT /flags/:name`.
 */
import 'reflect-metadata'
import {
  BadRequestException,
  Body,
  ConflictException,
  Controller,
  GatewayTimeoutException,
  Get,
  HttpCode,
  HttpException,
  HttpStatus,
  Inject,
  Module,
  Param,
  Post,
  Put,
  Query,
  Res,
  ServiceUnavailableException,
} from '@nestjs/common'
import { NestFactory } from '@nestjs/core'
import type { NestExpressApplication } from '@nestjs/platform-express'
import { MeshError, type JsonValue, type Logger } from '@mesh/core'
import { MeshModule, MeshService } from '@mesh/nestjs'
import { claim, enableLeases, flags, rateLimiter, type Flags, type RateLimiter } from '@mesh/recipes'
import type { Response } from 'express'

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
const demoLimit = Number(process.env.MESH_DEMO_LIMIT ?? 100)
if (!Number.isInteger(demoLimit) || demoLimit < 1) {
  console.error(
    `MESH_DEMO_LIMIT must be a whole number of requests per second; got "${process.env.MESH_DEMO_LIMIT ?? ''}"`,
  )
  process.exit(1)
}

const toHttpError = (error: unknown): unknown => {
  if (!(error instanceof MeshError)) return error
  const body = { error: error.message }
  if (error.code === 'conflict') return new ConflictException(body)
  if (error.code === 'timeout') return new GatewayTimeoutException(body)
  if (error.code === 'no_owner') return new ServiceUnavailableException(body)
  if (error.code === 'owner_lost' || error.code === 'actor_failed')
    return new HttpException(body, HttpStatus.BAD_GATEWAY)
  return new BadRequestException(body)
}

@Controller()
class AppController {
  #mesh: MeshService
  #limiter: RateLimiter
  #flags: Flags

  constructor(@Inject(MeshService) mesh: MeshService) {
    this.#mesh = mesh
    this.#limiter = rateLimiter(mesh.node, { name: 'demo', limit: demoLimit, windowMs: 1000 })
    this.#flags = flags(mesh.node)
    // Every node takes its share of the claims' leases from the start.
    enableLeases(mesh.node)
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

  @Get('limited')
  limited(@Res({ passthrough: true }) res: Response): Record<string, JsonValue> {
    const { allowed, remaining, resetMs } = this.#limiter.take('all')
    if (!allowed) {
      res.status(429).set('retry-after', String(Math.ceil(resetMs / 1000)))
      return { error: 'rate limited', limit: demoLimit, resetMs }
    }
    return { allowed, remaining, resetMs }
  }

  @Post('work/:item')
  @HttpCode(200)
  async work(@Param('item') item: string): Promise<{ claimed: true; token: number }> {
    try {
      const result = await claim(this.#mesh.node, 'demo', item)
      if (result.claimed) return { claimed: true, token: result.token }
      throw new ConflictException({
        claimed: false,
        error: 'claimed by another node',
        holder: result.holder?.node ?? null,
      })
    } catch (error) {
      throw toHttpError(error)
    }
  }

  @Get('flags')
  allFlags(): Record<string, JsonValue> {
    return this.#flags.all()
  }

  @Put('flags/:name')
  async setFlag(@Param('name') name: string, @Body() value: unknown): Promise<{ name: string; value: JsonValue }> {
    if (value === undefined) throw new BadRequestException({ error: 'send the flag value as a JSON body' })
    try {
      await this.#flags.set(name, value as JsonValue)
    } catch (error) {
      throw toHttpError(error)
    }
    return { name, value: value as JsonValue }
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

// `bodyParser: false` and a JSON parser with `strict: false`: a flag may be any JSON value (`true`, `42`).
// eslint-disable-next-line @typescript-eslint/no-unsafe-class-instance-assignment -- Nest documents its options as literals
const app = await NestFactory.create<NestExpressApplication>(AppModule, {
  logger: ['error', 'warn'],
  bodyParser: false,
})
app.useBodyParser('json', { strict: false })
// SIGTERM/SIGINT run the shutdown hooks (the node leaves the mesh), then exit 0.
app.enableShutdownHooks(['SIGTERM', 'SIGINT'], { useProcessExit: true })
try {
  await app.listen(port, host)
} catch (error) {
  console.error(`cannot listen on ${host}:${port}: ${(error as Error).message}`)
  process.exit(1)
}
const address = app.getHttpServer().address()
const realPort = typeof address === 'object' && address ? address.port : port
console.log(`mesh: ${app.get(MeshService).node.name} listening on http://${host}:${realPort}`)
