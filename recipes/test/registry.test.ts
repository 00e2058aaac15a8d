import { registry, type ServiceInstance } from '@mesh/recipes'
import { waitUntil } from '@mesh/core/testing'
import { describe, expect, it } from 'vitest'
import { startCluster } from './helpers.js'
import { startProcess } from './processes.js'

describe('registry', () => {
  it('registers, looks up and watches instances across nodes; unregister removes them everywhere', async () => {
    const [a, b, c] = await startCluster(3)
    const ra = registry(a!)
    const rb = registry(b!)
    const rc = registry(c!)
    const seen: string[][] = []
    rc.watch('billing', (instances) => seen.push(instances.map((i) => i.url)))
    const one = await ra.register({ service: 'billing', url: 'http://a:1', meta: { zone: 'x' } })
    await rb.register({ service: 'billing', url: 'http://b:1' })
    await rb.register({ service: 'search', url: 'http://b:2' })
    const billing = await waitUntil('c sees both billing instances', () => {
      const found = rc.lookup('billing')
      return found.length === 2 ? found : undefined
    })
    expect(billing.map((i) => i.url).sort()).toEqual(['http://a:1', 'http://b:1'])
    expect(billing.find((i) => i.url === 'http://a:1')).toMatchObject<Partial<ServiceInstance>>({
      service: 'billing',
      meta: { zone: 'x' },
      node: a!.id,
      nodeName: a!.name,
      health: 'alive',
    })
    await waitUntil('c sees the search instance', () => rc.lookup('search').length === 1)
    expect(rc.lookup('search').map((i) => i.url)).toEqual(['http://b:2'])
    expect(seen.at(-1)?.sort()).toEqual(['http://a:1', 'http://b:1'])
    await one.unregister()
    await waitUntil('c sees only b billing', () => rc.lookup('billing').length === 1)
    expect(seen.at(-1)).toEqual(['http://b:1'])
    ra.close()
    rb.close()
    rc.close()
  })

  it('instances of a node that leaves are gone everywhere, and watchers hear it', async () => {
    const [a, b] = await startCluster(2)
    const rb = registry(b!)
    await registry(a!).register({ service: 'api', url: 'http://a' })
    await waitUntil('b sees a', () => rb.lookup('api').length === 1)
    let last: ServiceInstance[] | undefined
    rb.watch('api', (instances) => (last = instances))
    await a!.close()
    await waitUntil('b no longer lists a', () => rb.lookup('api').length === 0 && last?.length === 0)
  })

  it('a SIGKILLed process: its instances disappear once membership declares it dead', async () => {
    const a = await startProcess('a')
    const b = await startProcess('b', { MESH_JOIN: a.peerUrl })
    const reg = await a.http<{ id: string }>('/register', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ service: 'worker', url: 'http://a:9' }),
    })
    expect(reg.status).toBe(200)
    await waitUntil('b lists a', async () => (await b.http<ServiceInstance[]>('/lookup/worker')).body.length === 1, {
      timeoutMs: 10_000,
    })
    await a.kill()
    await waitUntil('b no longer lists a', async () => (await b.http<unknown[]>('/lookup/worker')).body.length === 0, {
      timeoutMs: 15_000,
    })
  })
})
