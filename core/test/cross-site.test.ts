/**
 * Issue 12, item 1: a web page on another site must not be able to drive a node. Browsers
 * send an `Origin` on every WebSocket, and let any page POST a `text/plain` or form body
 * without asking (no CORS preflight), so the peer endpoint checks the origin and every REST
 * route that changes state insists on `Content-Type: application/json`.
 */
import { CloseCode } from '@mesh/core'
import { nodeEvents, waitUntil } from '@mesh/core/testing'
import WebSocket from 'ws'
import { afterEach, describe, expect, it } from 'vitest'
import { serveNode, type ServedNode } from './helpers.js'
import { serveRest } from './rest-server.js'

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

const start = async (options: Parameters<typeof serveNode>[0]): Promise<ServedNode> => {
  const served = await serveNode(options)
  cleanups.push(() => served.close())
  return served
}

/** How an upgrade ended: a WebSocket close code, or the HTTP status of a refused upgrade. */
const upgradeOutcome = (url: string, origin?: string): Promise<{ close?: number; http?: number }> =>
  new Promise((resolve, reject) => {
    const ws = new WebSocket(url, origin === undefined ? {} : { origin })
    ws.on('unexpected-response', (req, res) => {
      resolve({ http: res.statusCode })
      req.destroy()
    })
    ws.on('close', (code) => resolve({ close: code }))
    ws.on('error', (error) => reject(error))
  })

/** The REST API of `node` on a bare Node HTTP server, as an adapter would serve it. */

describe('the peer endpoint checks the browser origin', () => {
  it('refuses an Origin not on allowedOrigins with 4403; nodes, which send none, still link', async () => {
    const a = await start({ name: 'a', allowedOrigins: ['https://app.example'] })
    expect(await upgradeOutcome(a.url, 'https://evil.example')).toEqual({ close: CloseCode.forbidden })
    expect(a.node.status().peers).toEqual([])

    const b = await start({ name: 'b' })
    await b.node.join([a.url], { timeoutMs: 5000 })
    await waitUntil(
      'a to list b as an open peer',
      () => a.node.status().peers.some((p) => p.id === b.node.id && p.link === 'open'),
      { subscribe: nodeEvents(a.node) },
    )
  })

  it('refuses every browser Origin when no allow-list is set: no browser is a peer', async () => {
    const a = await start({ name: 'a' })
    for (const origin of ['https://evil.example', 'null', 'http://127.0.0.1:1234']) {
      expect(await upgradeOutcome(a.url, origin), origin).toEqual({ close: CloseCode.forbidden })
    }
    // Light peers (browser tabs) keep the documented default: any origin.
    const light = new WebSocket(`${a.url}/default`, { origin: 'https://evil.example' })
    const first = new Promise((resolve) => light.once('message', resolve))
    await first
    light.close()
  })
})

describe('REST routes that change state need a JSON content type', () => {
  it('a text/plain or form POST /join, as any web page may send, gets 415 and dials nothing', async () => {
    const a = await start({ name: 'a' })
    const api = await serveRest(a.node, cleanups)
    const body = JSON.stringify({ urls: ['ws://127.0.0.1:9/mesh'] })
    for (const type of [undefined, 'text/plain;charset=UTF-8', 'application/x-www-form-urlencoded']) {
      const res = await fetch(`${api}/join`, {
        method: 'POST',
        headers: type === undefined ? {} : { 'content-type': type },
        body,
      })
      expect(res.status, `content-type ${String(type)}`).toBe(415)
      expect(await res.json()).toMatchObject({ error: expect.stringContaining('application/json') })
    }
    const put = await fetch(`${api}/kv/k`, { method: 'PUT', headers: { 'content-type': 'text/plain' }, body: '1' })
    expect(put.status).toBe(415)
    const del = await fetch(`${api}/kv/k`, { method: 'DELETE', headers: { 'content-type': 'text/plain' }, body: 'x' })
    expect(del.status).toBe(415)
    expect(a.node.status().peers).toEqual([])
    expect(a.node.has('k')).toBe(false)
  })

  it('the same calls with application/json still work', async () => {
    const a = await start({ name: 'a' })
    const b = await start({ name: 'b' })
    const api = await serveRest(a.node, cleanups)
    const json = { 'content-type': 'application/json; charset=utf-8' }
    const put = await fetch(`${api}/kv/k`, { method: 'PUT', headers: json, body: '1' })
    expect(put.status).toBe(200)
    // A DELETE without a body needs no content type.
    expect((await fetch(`${api}/kv/k`, { method: 'DELETE' })).status).toBe(200)
    const join = await fetch(`${api}/join`, { method: 'POST', headers: json, body: JSON.stringify({ urls: [b.url] }) })
    expect(join.status).toBe(200)
    await waitUntil('a linked to b', () => a.node.status().peers.some((p) => p.id === b.node.id), {
      subscribe: nodeEvents(a.node),
    })
  })
})
