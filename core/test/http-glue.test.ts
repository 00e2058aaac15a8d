import { once } from 'node:events'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import {
  acceptFrames,
  checkPeerUrl,
  createFetchHandler,
  lineLogger,
  MeshNode,
  serveNode,
  type Connection,
  type ServedNode,
} from '@mesh/core'
import { restCall, waitUntil } from '@mesh/core/testing'
import { afterEach, describe, expect, it } from 'vitest'

const cleanups: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

const newNode = (name: string): MeshNode => {
  const node = new MeshNode({ name })
  cleanups.push(() => node.close())
  return node
}

describe('createFetchHandler', () => {
  it('serves the REST API below the base and an outer prefix, 426 on a plain GET of an endpoint, nothing else', async () => {
    const node = newNode('fetch')
    const mesh = createFetchHandler(node, { basePath: '/cluster/' })
    const put = await mesh(
      new Request('http://h/outer/cluster/api/kv/a%2Fb', {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: '"v"',
      }),
      '/outer',
    )
    expect(put?.status).toBe(200)
    expect(node.get('a/b')).toBe('v')
    for (const path of ['/cluster', '/cluster/default']) {
      const plain = await mesh(new Request(`http://h${path}`))
      expect(plain?.status).toBe(426)
      expect(plain?.headers.get('upgrade')).toBe('websocket')
      expect(await mesh(new Request(`http://h${path}`, { headers: { upgrade: 'websocket' } }))).toBeUndefined()
    }
    for (const path of ['/', '/other', '/cluster/a/b', '/cluster/inspector/']) {
      expect(await mesh(new Request(`http://h${path}`)), path).toBeUndefined()
    }
  })
})

describe('acceptFrames', () => {
  it('keeps frame order behind a Blob, closes the connection once, and drops frames after close', async () => {
    const frames: unknown[] = []
    let closed = 0
    const inner: Connection = {
      receive: (data) => {
        frames.push(data)
      },
      close: () => {
        closed++
      },
    }
    const connection = acceptFrames(inner, { close: () => {} })
    connection.receive(new Blob([new Uint8Array([1])]))
    connection.receive(new Uint8Array([9, 2, 9]).subarray(1, 2))
    await waitUntil('both frames', () => frames.length === 2)
    expect(frames.map((f) => [...new Uint8Array(f as ArrayBuffer)])).toEqual([[1], [2]])
    connection.close()
    connection.close()
    connection.receive('late')
    expect([closed, frames.length]).toEqual([1, 2])
  })
})

describe('serveNode', () => {
  const start = async (options: Parameters<typeof serveNode>[2] = {}) => {
    const node = newNode('plain')
    const server = http.createServer((_req, res) => res.writeHead(418).end())
    const served: ServedNode = serveNode(node, server, options)
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    cleanups.push(async () => {
      await served.close()
      served.detach()
      await new Promise((resolve) => server.close(resolve))
    })
    return { node, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }
  }

  it('serves Mesh ahead of the server’s own listener, advertises, and joins once listening', async () => {
    const first = await start()
    expect(first.node.url).toBe(`${first.url.replace(/^http/, 'ws')}/mesh`)
    expect((await restCall(`${first.url}/mesh/api/health`)).status).toBe(200)
    expect((await restCall(`${first.url}/elsewhere`)).status).toBe(418)
    const second = await start({ join: [first.node.url] })
    await waitUntil('the first node to see the second', () => first.node.members().some((m) => m.id === second.node.id))
  })

  it('refuses a join URL that cannot work before serving anything', () => {
    expect(() => serveNode(newNode('bad'), undefined, { join: ['http://h:1/mesh'] })).toThrow(/ws:\/\/host:port\/mesh/)
  })
})

describe('checkPeerUrl and lineLogger', () => {
  it('checkPeerUrl says which URL to use instead', () => {
    expect(checkPeerUrl('ws://h:1/mesh')).toBe('ws://h:1/mesh')
    expect(() => checkPeerUrl('nope')).toThrow(/is not a URL/)
    expect(() => checkPeerUrl('wss://h:1')).toThrow(/has no path; .* e\.g\. wss:\/\/h:1\/mesh/)
  })

  it('node.join refuses the same URLs at once, as bad_request', async () => {
    const node = new MeshNode()
    cleanups.push(() => node.close())
    await expect(node.join(['ws://h:1'], { wait: false })).rejects.toMatchObject({
      code: 'bad_request',
      message: expect.stringMatching(/has no path; .* e\.g\. ws:\/\/h:1\/mesh/),
    })
    await expect(node.join(['http://h:1/mesh'], { wait: false })).rejects.toMatchObject({ code: 'bad_request' })
    expect(node.status().peers).toEqual([])
  })

  it('lineLogger writes the fields after the message as JSON', () => {
    const lines: string[] = []
    const logger = lineLogger((level, line) => lines.push(`${level}: ${line}`))
    logger.warn('slow', { ms: 5 })
    logger.info('up')
    expect(lines).toEqual(['warn: slow {"ms":5}', 'info: up'])
  })
})
