import { flags, type FlagChange } from '@mesh/recipes'
import { waitUntil } from '@mesh/core/testing'
import { describe, expect, it } from 'vitest'
import { startCluster } from './helpers.js'

describe('flags', () => {
  it('a set on one node reaches every node, typed by the fallback, with listeners and an audit trail', async () => {
    const [a, b, c] = await startCluster(3)
    const fa = flags(a!)
    const fb = flags(b!)
    const fc = flags(c!)
    expect(fc.get('dark-mode', false)).toBe(false)
    const heard: FlagChange[] = []
    fc.on('dark-mode', (change) => heard.push(change))
    await fa.set('dark-mode', true)
    await waitUntil('c sees dark-mode', () => fc.get('dark-mode', false))
    expect(heard.at(-1)).toMatchObject({ name: 'dark-mode', value: true, previous: undefined, by: a!.id, byName: 'n0' })
    await fb.set('dark-mode', false)
    await fb.set('limit', 250)
    await waitUntil('c sees the second change', () => heard.length === 2 && fc.get('limit', 0) === 250)
    expect(heard.at(-1)).toMatchObject({ value: false, previous: true, by: b!.id, byName: 'n1' })
    // A value of another type than the fallback answers the fallback.
    expect(fc.get('limit', 'high')).toBe('high')
    expect(fc.get('limit', 100)).toBe(250)
    expect(fc.all()).toEqual({ 'dark-mode': false, limit: 250 })

    const trail = fc.audit('dark-mode')
    expect(trail.map((e) => [e.by, e.byName])).toEqual([
      [a!.id, 'n0'],
      [b!.id, 'n1'],
    ])
    expect(trail[0]!.at).toBeLessThanOrEqual(trail[1]!.at)
    expect(trail.every((e) => e.via.startsWith('peer:'))).toBe(true)
    expect(fc.audit().map((e) => e.name)).toEqual(['dark-mode', 'dark-mode', 'limit'])

    await fa.remove('limit')
    await waitUntil('c no longer has limit', () => fc.get('limit', 7) === 7)
    for (const f of [fa, fb, fc]) f.close()
  })
})
