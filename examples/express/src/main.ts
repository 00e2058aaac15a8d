/**
 * Example: an Express service sharing state with Mesh.
 *
 *   PORT=3001 MESH_NAME=a npm start -w examples/express
 *   PORT=3002 MESH_NAME=b MESH_JOIN=ws://127.0.0.1:3001/mesh npm start -w examples/express
 *
 * `GET /` shows the node's name and data, `GET /join?url=ws://...` joins a peer,
 * `POST /push-data` merges a JSON object into the shared store; the Mesh endpoints and the
 * REST API live under `/mesh`. With the recipes (docs/recipes/): `GET /limited` (the
 * cluster-wide limiter `demo`, MESH_DEMO_LIMIT requests per second, default 100),
 * `POST /work/:item` (one node claims the item), `GET /flags` and `PUT /flags/:name`.
 */
import { createServer } from 'node:http'
import { hostname } from 'node:os'
import { MeshError, MeshNode, type JsonValue, type Logger } from '@mesh/core'
import { mountMesh } from '@mesh/express'
import { claim, enableLeases, flags, rateLimiter } from '@mesh/recipes'
import express, { type ErrorRequestHandler, type Response } from 'express'

const stderr: Logger = {
  debug: () => {},
  info: () => {},
  warn: (message, fields) => console.error(`warn: ${message}`, fields ?? ''),
  error: (message, fields) => console.error(`error: ${message}`, fields ?? ''),
}

const port = Number(process.env.PORT ?? 3000)
const host = process.env.HOST ?? '127.0.0.1'
const join = (process.env.MESH_JOIN ?? '')
  .split(',')
  .map((url) => url.trim())
  .filter(Boolean)
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

const node = new MeshNode({ name: process.env.MESH_NAME || undefined, logger: stderr })
const limiter = rateLimiter(node, { name: 'demo', limit: demoLimit, windowMs: 1000 })
const demoFlags = flags(node)
// Every node takes its share of the claims' leases from the start.
enableLeases(node)
const STATUS: Partial<Record<MeshError['code'], number>> = {
  bad_request: 400,
  conflict: 409,
  timeout: 504,
  no_owner: 503,
  owner_lost: 502,
  actor_failed: 502,
}
const fail = (res: Response, error: unknown) => {
  if (!(error instanceof MeshError)) throw error
  res.status(STATUS[error.code] ?? 500).json({ error: error.message })
}

const app = express()
const server = createServer(app)
app.get('/', (_req, res) => void res.json({ name: node.name, data: node.data.toJSON() }))
app.get('/join', async (req, res) => {
  const url = req.query.url
  if (typeof url !== 'string' || !url) return void res.status(400).json({ error: 'add ?url=ws://host:port/mesh' })
  try {
    await node.join([url], { timeoutMs: 5000 })
    await node.syncUp({ timeoutMs: 5000 })
  } catch (error) {
    fail(res, error)
    return
  }
  res.json({ joined: url, name: node.name, data: node.data.toJSON() })
})
app.post('/push-data', express.json(), async (req, res) => {
  const body: unknown = req.body
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return void res.status(400).json({ error: 'send a JSON object: its keys are merged into the store' })
  }
  try {
    // Parsed from JSON; the node still validates it and refuses a bad value (bad_request).
    await node.put(body as Record<string, JsonValue>)
  } catch (error) {
    fail(res, error)
    return
  }
  res.json({ name: node.name, data: node.data.toJSON() })
})
app.get('/limited', (_req, res) => {
  const { allowed, remaining, resetMs } = limiter.take('all')
  if (!allowed) {
    res.set('retry-after', String(Math.ceil(resetMs / 1000)))
    return void res.status(429).json({ error: 'rate limited', limit: demoLimit, resetMs })
  }
  res.json({ allowed, remaining, resetMs })
})
app.post('/work/:item', async (req, res) => {
  try {
    const result = await claim(node, 'demo', req.params.item)
    if (result.claimed) return void res.json({ claimed: true, token: result.token })
    res.status(409).json({ claimed: false, error: 'claimed by another node', holder: result.holder?.node ?? null })
  } catch (error) {
    fail(res, error)
  }
})
app.get('/flags', (_req, res) => void res.json(demoFlags.all()))
// `strict: false`: a flag may be any JSON value, `true` or `42` as well as an object.
app.put('/flags/:name', express.json({ strict: false }), async (req, res) => {
  const value: unknown = req.body
  if (value === undefined || !req.is('application/json')) {
    return void res.status(400).json({ error: 'send the flag value as a JSON body' })
  }
  try {
    await demoFlags.set(req.params.name, value as JsonValue)
  } catch (error) {
    fail(res, error)
    return
  }
  res.json({ name: req.params.name, value })
})
const detach = mountMesh(app, server, { node })
// Body-parser errors (bad JSON) as JSON, like every other error here.
// eslint-disable-next-line @typescript-eslint/no-unused-vars -- Express tells an error handler by its four parameters
const jsonErrors: ErrorRequestHandler = (error: { status?: number; message?: string }, _req, res, _next) => {
  res.status(error.status ?? 500).json({ error: error.message ?? 'internal error' })
}
app.use(jsonErrors)

server.once('error', (error) => {
  console.error(`cannot listen on ${host}:${port}: ${error.message}`)
  process.exit(1)
})
server.listen(port, host, () => {
  const address = server.address()
  const realPort = typeof address === 'object' && address ? address.port : port
  node.url = `ws://${host === '0.0.0.0' || host === '::' ? hostname() : host}:${realPort}/mesh`
  console.log(`mesh: ${node.name} listening on http://${host}:${realPort}`)
  if (join.length === 0) return
  node.join(join).catch((error: unknown) => {
    if (error instanceof MeshError && error.code === 'bad_request') {
      console.error(`MESH_JOIN: ${error.message}`)
      process.exit(1)
    }
    if (!node.closed) stderr.warn(`${String(error)}; retrying in the background`)
  })
})

const stop = async (): Promise<void> => {
  await node.close()
  // Mesh sockets finish their close handshake first; whatever does not in 2 s is cut.
  setTimeout(detach, 2000).unref()
  server.close(() => process.exit(0))
}
process.once('SIGTERM', () => void stop())
process.once('SIGINT', () => void stop())
