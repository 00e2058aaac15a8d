/**
 * Example: a Hono service sharing state with Mesh.
 *
 *   PORT=3001 MESH_NAME=a npm start -w examples/hono
 *   PORT=3002 MESH_NAME=b MESH_JOIN=ws://127.0.0.1:3001/mesh npm start -w examples/hono
 *
 * `GET /` shows the node's name and data, `GET /join?url=ws://...` joins a peer,
 * `POST /push-data` merges a JSON object into the shared store; the Mesh endpoints and the
 * REST API live under `/mesh`. With the recipes (docs/recipes/): `GET /limited` (the
 * cluster-wide limiter `demo`, MESH_DEMO_LIMIT requests per second, default 100),
 * `POST /work/:item` (one node claims the item), `GET /flags` and `PUT /flags/:name`.
 */
import { hostname } from 'node:os'
import { createAdaptorServer, upgradeWebSocket } from '@hono/node-server'
import { MeshError, MeshNode, type JsonValue, type Logger } from '@mesh/core'
import { mountMesh } from '@mesh/hono'
import { claim, enableLeases, flags, rateLimiter } from '@mesh/recipes'
import { Hono, type Context } from 'hono'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import { WebSocketServer } from 'ws'

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
const STATUS: Partial<Record<MeshError['code'], ContentfulStatusCode>> = {
  bad_request: 400,
  conflict: 409,
  timeout: 504,
  no_owner: 503,
  owner_lost: 502,
  actor_failed: 502,
}
const fail = (c: Context, error: unknown) => {
  if (!(error instanceof MeshError)) throw error
  return c.json({ error: error.message }, STATUS[error.code] ?? 500)
}

const app = new Hono()
app.get('/', (c) => c.json({ name: node.name, data: node.data.toJSON() }))
app.get('/join', async (c) => {
  const url = c.req.query('url')
  if (!url) return c.json({ error: 'add ?url=ws://host:port/mesh' }, 400)
  try {
    await node.join([url], { timeoutMs: 5000 })
    await node.syncUp({ timeoutMs: 5000 })
  } catch (error) {
    return fail(c, error)
  }
  return c.json({ joined: url, name: node.name, data: node.data.toJSON() })
})
app.post('/push-data', async (c) => {
  const body: unknown = await c.req.json().catch(() => undefined)
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return c.json({ error: 'send a JSON object: its keys are merged into the store' }, 400)
  }
  try {
    // Parsed from JSON; the node still validates it and refuses a bad value (bad_request).
    await node.put(body as Record<string, JsonValue>)
  } catch (error) {
    return fail(c, error)
  }
  return c.json({ name: node.name, data: node.data.toJSON() })
})
app.get('/limited', (c) => {
  const { allowed, remaining, resetMs } = limiter.take('all')
  if (!allowed) {
    c.header('retry-after', String(Math.ceil(resetMs / 1000)))
    return c.json({ error: 'rate limited', limit: demoLimit, resetMs }, 429)
  }
  return c.json({ allowed, remaining, resetMs })
})
app.post('/work/:item', async (c) => {
  try {
    const result = await claim(node, 'demo', c.req.param('item'))
    if (result.claimed) return c.json({ claimed: true, token: result.token })
    return c.json({ claimed: false, error: 'claimed by another node', holder: result.holder?.node ?? null }, 409)
  } catch (error) {
    return fail(c, error)
  }
})
app.get('/flags', (c) => c.json(demoFlags.all()))
app.put('/flags/:name', async (c) => {
  const value: unknown = await c.req.json().catch(() => undefined)
  if (value === undefined) return c.json({ error: 'send the flag value as a JSON body' }, 400)
  try {
    await demoFlags.set(c.req.param('name'), value as JsonValue)
  } catch (error) {
    return fail(c, error)
  }
  return c.json({ name: c.req.param('name'), value })
})
mountMesh(app, node, { upgradeWebSocket })

const wss = new WebSocketServer({ noServer: true })
const server = createAdaptorServer({ fetch: app.fetch, websocket: { server: wss } })
server.once('error', (error: Error) => {
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
  setTimeout(() => wss.clients.forEach((ws) => ws.terminate()), 2000).unref()
  server.close(() => process.exit(0))
}
process.once('SIGTERM', () => void stop())
process.once('SIGINT', () => void stop())
