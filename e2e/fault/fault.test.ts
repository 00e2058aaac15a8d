import { createServer, connect, type Server, type Socket } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { waitUntil } from '@mesh/core/testing'
import { E2E_WAIT_MS, put, stopAll, waitForValue } from '../harness.js'
import { startCluster, type MeshCluster } from './cluster.js'
import { startProxy, type FaultProxy } from './proxy.js'

/** A TCP server that echoes every byte back. */
const echoServer = async (): Promise<{ server: Server; port: number }> => {
  const server = createServer((socket) => {
    socket.on('error', () => {})
    socket.pipe(socket)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('no port')
  return { server, port: address.port }
}

/** A client socket that collects what it receives and whether it was closed. */
const client = async (port: number) => {
  const socket: Socket = connect({ host: '127.0.0.1', port })
  let received = ''
  let closed = false
  socket.setEncoding('utf8').on('data', (chunk: string) => (received += chunk))
  socket.on('error', () => {})
  socket.on('close', () => (closed = true))
  await new Promise<void>((resolve) => socket.once('connect', resolve))
  return {
    socket,
    get received() {
      return received
    },
    get closed() {
      return closed
    },
  }
}

const cleanups: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
  await stopAll()
})

const proxyTo = async (): Promise<FaultProxy> => {
  const echo = await echoServer()
  const proxy = await startProxy({ name: 'test', target: echo.port })
  cleanups.push(() => new Promise<void>((resolve) => echo.server.close(() => resolve())))
  cleanups.push(() => proxy.close())
  return proxy
}

describe('fault proxy', () => {
  it('forwards both ways, and delays without reordering', async () => {
    const proxy = await proxyTo()
    const c = await client(proxy.port)
    cleanups.push(() => void c.socket.destroy())
    c.socket.write('hello')
    await waitUntil('echo through the proxy', () => c.received === 'hello', { timeoutMs: E2E_WAIT_MS })
    proxy.delay(150)
    const sent = Date.now()
    c.socket.write('a')
    c.socket.write('b')
    await waitUntil('delayed echo', () => c.received === 'helloab', { timeoutMs: E2E_WAIT_MS })
    // Both directions are delayed: at least two delays for the round trip.
    expect(Date.now() - sent).toBeGreaterThanOrEqual(280)
    expect(proxy.describe()).toBe('delay 150ms')
  })

  it('holds one direction while cut and delivers on heal', async () => {
    const proxy = await proxyTo()
    const c = await client(proxy.port)
    cleanups.push(() => void c.socket.destroy())
    proxy.cut('backward')
    c.socket.write('ping')
    // The forward direction still flows: the echo server got it (the bytes are counted).
    await waitUntil('forward bytes through a backward cut', () => proxy.stats().bytesForward === 4, {
      timeoutMs: E2E_WAIT_MS,
    })
    expect(c.received).toBe('')
    proxy.heal()
    await waitUntil('held bytes delivered on heal', () => c.received === 'ping', { timeoutMs: E2E_WAIT_MS })
  })

  it('resets and refuses connections when cut both ways, and accepts again after heal', async () => {
    const proxy = await proxyTo()
    const c = await client(proxy.port)
    proxy.cut('both')
    await waitUntil('existing connection reset by cut', () => c.closed, { timeoutMs: E2E_WAIT_MS })
    const refused = await client(proxy.port)
    await waitUntil('new connection refused while cut', () => refused.closed, { timeoutMs: E2E_WAIT_MS })
    expect(proxy.stats().refused).toBe(1)
    proxy.heal()
    const again = await client(proxy.port)
    cleanups.push(() => void again.socket.destroy())
    again.socket.write('back')
    await waitUntil('echo after heal', () => again.received === 'back', { timeoutMs: E2E_WAIT_MS })
  })

  it('blackholes: accepts, delivers nothing; heal with reset closes what it held', async () => {
    const proxy = await proxyTo()
    proxy.blackhole()
    const c = await client(proxy.port)
    c.socket.write('lost?')
    const fence = await client(proxy.port)
    fence.socket.write('x')
    expect(proxy.stats()).toMatchObject({ accepted: 2, active: 2, bytesForward: 0, bytesBackward: 0 })
    proxy.heal({ reset: true })
    await waitUntil('blackholed connections reset on heal', () => c.closed && fence.closed, { timeoutMs: E2E_WAIT_MS })
    expect(c.received).toBe('')
  })

  it('parks connections while blackholed and connects them on heal', async () => {
    const proxy = await proxyTo()
    proxy.blackhole()
    const c = await client(proxy.port)
    cleanups.push(() => void c.socket.destroy())
    c.socket.write('late')
    proxy.heal()
    await waitUntil('parked connection delivered after heal', () => c.received === 'late', { timeoutMs: E2E_WAIT_MS })
  })

  it('refuses connections while it has no target', async () => {
    const proxy = await startProxy({ name: 'untargeted' })
    cleanups.push(() => proxy.close())
    const c = await client(proxy.port)
    await waitUntil('connection refused without a target', () => c.closed, { timeoutMs: E2E_WAIT_MS })
    expect(proxy.describe()).toBe('no target')
  })
})

describe('cluster wired through proxies', () => {
  let cluster: MeshCluster | undefined
  afterEach(async () => {
    await cluster?.close()
    cluster = undefined
  })

  it('holds a partition, converges on heal, and lets a killed node rejoin empty and catch up', async () => {
    cluster = await startCluster({ size: 3, prefix: 'p' })
    await cluster.waitLinked()
    const [a, b, c] = cluster.nodes.map((n) => n.current)
    if (!a || !b || !c) throw new Error('three nodes expected')

    cluster.partition([[0], [1, 2]])
    await put(a, 'alone', 1)
    await put(b, 'fence', 2)
    await waitForValue(c, 'fence', 2)
    // No path from a to the others exists, so a's write cannot be there.
    expect((await c.api('/kv/alone')).status).toBe(404)

    cluster.healLinks()
    await waitForValue(c, 'alone', 1)
    await waitForValue(a, 'fence', 2)

    await cluster.kill(2)
    await put(a, 'while-dead', 3)
    const restarted = await cluster.restart(2)
    await waitForValue(restarted, 'while-dead', 3)
    await waitForValue(restarted, 'alone', 1)
    await cluster.waitLinked()
    expect(cluster.crashes()).toEqual([])
    expect(cluster.nodes[2]?.incarnations.map((i) => i.endedBy)).toEqual(['SIGKILL', undefined])
  })
})
