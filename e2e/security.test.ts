import WebSocket from 'ws'
import { afterAll, describe, expect, it } from 'vitest'
import { waitUntil } from '@mesh/core/testing'
import { E2E_WAIT_MS, put, startNode, stopAll, waitForValue } from './harness.js'

interface StatusJson {
  peers: Array<{ name: string | null; link: string; error?: string }>
}

afterAll(stopAll)

describe('mesh serve security flags', () => {
  it('--secret: nodes that share it link, a node without it is kept out', async () => {
    const a = await startNode({ name: 'a', args: ['--secret', 'correct horse battery'] })
    const b = await startNode({
      name: 'b',
      join: [a.peerUrl],
      args: [],
      env: { MESH_SECRET: 'old-secret-1,correct horse battery' },
    })
    const stranger = await startNode({ name: 'stranger', join: [a.peerUrl] })
    await put(a, 'private', 1)
    await waitForValue(b, 'private', 1)
    await waitUntil('the refused handshake is logged', () => /unauthorized|secret/i.test(stranger.stderr + a.stderr), {
      timeoutMs: E2E_WAIT_MS,
    })
    const status = (await stranger.api<StatusJson>('/status')).body
    expect(status.peers.every((p) => p.link !== 'open')).toBe(true)
    expect((await stranger.api('/kv/private')).status).toBe(404)
  })

  it('--allowed-origin: a browser from another origin is refused with 4403', async () => {
    const a = await startNode({ name: 'a', args: ['--allowed-origin', 'https://app.example'] })
    const closeCode = (origin: string) =>
      new Promise<number>((resolve, reject) => {
        const ws = new WebSocket(`${a.peerUrl}/default`, { headers: { origin } })
        ws.on('message', () => ws.close(1000))
        ws.on('close', (code) => resolve(code))
        ws.on('error', reject)
      })
    expect(await closeCode('https://evil.example')).toBe(4403)
    expect(await closeCode('https://app.example')).toBe(1000)
  })
})
