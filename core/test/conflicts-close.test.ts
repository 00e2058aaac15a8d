/**
 * A write that waits for a conflict resolution round is judged once the round is over; once
 * the node closed, nothing is judged any more and no timer keeps looking.
 */
import { afterEach, expect, it, vi } from 'vitest'
import { Conflicts, type ConflictsHost, type PeerLink } from '../src/replication/index.js'
import { memoryLogger } from './helpers.js'

afterEach(() => {
  vi.useRealTimers()
})

const hostWith = (link: { resolving: (room: string) => boolean }): ConflictsHost => ({
  logger: memoryLogger().logger,
  existingRoom: () => undefined,
  link: () => undefined,
  links: () => [link as unknown as PeerLink],
  conflict: () => {},
  merge: () => {},
  progress: () => {},
})

it('judges a waiting write once the round is over, and nothing after close', () => {
  vi.useFakeTimers()
  let resolving = true
  const conflicts = new Conflicts(hostWith({ resolving: () => resolving }))
  const judged: string[] = []
  conflicts.waitFor('default', () => judged.push('before close'))
  resolving = false
  vi.advanceTimersByTime(1000)
  expect(judged).toEqual(['before close'])

  resolving = true
  conflicts.waitFor('default', () => judged.push('waited across close'))
  conflicts.close()
  conflicts.waitFor('default', () => judged.push('after close'))
  resolving = false
  vi.advanceTimersByTime(10_000)
  expect(judged).toEqual(['before close'])
  expect(vi.getTimerCount()).toBe(0)
})
