import { MeshClient, MeshClientError } from '@mesh/client'
import type { JsonValue } from '@mesh/core'
import { waitUntil } from '@mesh/core/testing'
import { afterEach, describe, expect, it } from 'vitest'
import { nodeClient, serveNode, wakeOn, type ServedNode } from './helpers.js'

const served: ServedNode[] = []
const clients: MeshClient[] = []
afterEach(async () => {
  for (const c of clients.splice(0)) c.close()
  for (const s of served.splice(0)) await s.close()
})

const start = async (options: Parameters<typeof serveNode>[0] = {}) => {
  const s = await serveNode(options)
  served.push(s)
  return s
}
const client = (options: Parameters<typeof nodeClient>[0]) => {
  const c = nodeClient(options)
  clients.push(c)
  return c
}

describe('MeshClient pub/sub', () => {
  it('subscribes and publishes across two nodes, renews subscriptions on reconnect, reports refusals', async () => {
    const authenticate = ({ token }: { token: string | undefined }) =>
      token === 'listener' ? { allow: true as const, publish: false } : true
    const a = await start({ name: 'a', authenticate })
    const b = await start({ name: 'b', authenticate })
    await b.node.join([a.url])
    const talker = client({ urls: [a.url] })
    const listener = client({ urls: [`${b.url}?token=listener`] })
    await Promise.all([talker.synced, listener.synced])
    const heard: JsonValue[] = []
    const off = listener.subscribe('chat', (payload, { topic }) => heard.push([topic, payload]))
    const fromNode: JsonValue[] = []
    b.node.subscribe('chat', (payload) => fromNode.push(payload))

    // The subscription frame may still be on its way: publish until the listener hears one.
    await waitUntil('the listener hears the talker', () => talker.publish('chat', 'hello') && heard.length > 0, {
      subscribe: wakeOn(listener),
    })
    expect(heard[0]).toEqual(['chat', 'hello'])

    const errors: MeshClientError[] = []
    listener.on('error', (e) => errors.push(e))
    expect(listener.publish('chat', 'me too')).toBe(true)
    await waitUntil('refused', () => errors.length === 1, { subscribe: wakeOn(listener) })
    expect(errors[0]).toMatchObject({ code: 'forbidden', reason: 'publish on "chat" is not allowed' })
    expect(fromNode).not.toContain('me too')

    // After a reconnect the subscription is renewed without the application doing anything.
    listener.disconnect()
    expect(listener.publish('chat', 'offline')).toBe(false)
    listener.connect()
    await listener.synced
    heard.length = 0
    await waitUntil('heard again after reconnect', () => talker.publish('chat', 'back') && heard.length > 0, {
      subscribe: wakeOn(listener),
    })
    off()
    expect(() => listener.subscribe('', () => {})).toThrow(expect.objectContaining({ code: 'bad_request' }))
  })
})
