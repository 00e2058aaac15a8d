import * as encoding from 'lib0/encoding'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { decodePeer, MessageType } from '../src/replication/index.js'
import type { CallLink } from '../src/routing/pending-call.js'
import { ServedCalls } from '../src/routing/served-calls.js'

/** A link to one caller process that records the answers sent on it. */
const fakeLink = () => {
  const answers: Array<{ callId: number; body: string }> = []
  const link: CallLink & { isOpen: boolean } = {
    peerId: 'caller',
    remote: { nodeId: 'caller', clientId: 7 },
    isOpen: true,
    draining: false,
    sendFrame: () => {},
    sendEncoded: (encoder: encoding.Encoder) => {
      const message = decodePeer(encoding.toUint8Array(encoder))
      if (message.type === MessageType.answer) answers.push({ callId: message.callId, body: message.body })
    },
  }
  return { link, answers }
}

/** Calls `ids` started on a link that then closed; the link that replaced it is `now`. */
const answeredAfterReplace = (options: { maxKept?: number; maxKeptChars?: number }, bodies: string[]) => {
  const old = fakeLink()
  const now = fakeLink()
  const served = new ServedCalls({ link: () => now.link, ...options })
  const calls = bodies.map((_, i) => served.start(i + 1, old.link, Date.now() + 10_000)!)
  old.link.isOpen = false
  calls.forEach((call, i) => served.answer(call, { status: 'ok', body: bodies[i]! }))
  return { served, old, now }
}

afterEach(() => {
  vi.useRealTimers()
})

describe('ServedCalls: answers kept for the copies of calls whose link was replaced', () => {
  it('sends the answer on the new link, keeps it for a copy, and answers that copy with it', () => {
    const { served, old, now } = answeredAfterReplace({}, ['"one"', '"two"'])
    expect(old.answers).toEqual([])
    expect(now.answers).toEqual([
      { callId: 1, body: '"one"' },
      { callId: 2, body: '"two"' },
    ])
    expect(served.size).toBe(0)
    expect(served.kept).toBe(2)
    expect(served.start(2, now.link, Date.now() + 10_000)).toBeUndefined()
    expect(now.answers.at(-1)).toEqual({ callId: 2, body: '"two"' })
    // Answered once more on an open link: remembered for a further copy (should this link close too).
    expect(served.kept).toBe(1)
    expect(served.start(2, now.link, Date.now() + 10_000)).toBeUndefined()
    expect(now.answers.at(-1)).toEqual({ callId: 2, body: '"two"' })
  })

  it('keeps at most maxKept answers: the oldest go first, and their copies run again', () => {
    const { served, now } = answeredAfterReplace({ maxKept: 3 }, ['1', '2', '3', '4', '5'])
    expect(served.kept).toBe(3)
    expect(served.start(1, now.link, Date.now() + 10_000)).toBeDefined()
    expect(served.start(2, now.link, Date.now() + 10_000)).toBeDefined()
    for (const callId of [3, 4, 5]) expect(served.start(callId, now.link, Date.now() + 10_000)).toBeUndefined()
    expect(served.kept).toBe(0)
  })

  it('keeps at most maxKeptChars of answers, and no answer larger than that', () => {
    const { served, now } = answeredAfterReplace({ maxKeptChars: 10 }, ['aaaaaa', 'bbbbbb', 'c'.repeat(11)])
    expect(served.kept).toBe(1)
    expect(served.start(2, now.link, Date.now() + 10_000)).toBeUndefined()
    expect(served.start(1, now.link, Date.now() + 10_000)).toBeDefined()
    expect(served.start(3, now.link, Date.now() + 10_000)).toBeDefined()
  })

  it('forgets a kept answer after a minute', () => {
    vi.useFakeTimers()
    const { served, now } = answeredAfterReplace({}, ['1'])
    vi.advanceTimersByTime(59_000)
    expect(served.kept).toBe(1)
    vi.advanceTimersByTime(1_100)
    expect(served.kept).toBe(0)
    expect(served.start(1, now.link, Date.now() + 10_000)).toBeDefined()
  })

  it('keeps no `moved` answer: the call did not run, so its copy may run', () => {
    const old = fakeLink()
    const now = fakeLink()
    const served = new ServedCalls({ link: () => now.link })
    const call = served.start(1, old.link, Date.now() + 10_000)!
    old.link.isOpen = false
    served.answer(call, { status: 'moved', body: '' })
    expect(now.answers).toEqual([{ callId: 1, body: '' }])
    expect(served.kept).toBe(0)
  })

  it('resends an answer its link could not send (closed as a duplicate) to a copy relayed through this node', () => {
    const old = fakeLink()
    const now = fakeLink()
    const served = new ServedCalls({ link: () => now.link })
    // A relay's answer to the caller's call 5, written as the caller's close came in.
    served.unsent(5, old.link, { status: 'ok', body: '"five"' })
    Object.assign(old.link, { isOpen: false, draining: true })
    served.linkDown(old.link)
    expect(served.kept).toBe(1)
    expect(served.resend(6, now.link)).toBe(false)
    expect(served.resend(5, now.link)).toBe(true)
    expect(now.answers).toEqual([{ callId: 5, body: '"five"' }])
    expect(served.kept).toBe(0)
  })

  it('keeps an answer its link could not send when the caller closed it (a cut), not only a duplicate', () => {
    const old = fakeLink()
    const now = fakeLink()
    const served = new ServedCalls({ link: () => now.link })
    served.unsent(5, old.link, { status: 'ok', body: '"five"' })
    old.link.isOpen = false
    served.linkDown(old.link)
    expect(served.kept).toBe(1)
    expect(served.resend(5, now.link)).toBe(true)
    expect(now.answers).toEqual([{ callId: 5, body: '"five"' }])
  })

  it('keeps an answer for a copy when no link to the caller is up (the link was cut under the call)', () => {
    const old = fakeLink()
    const served = new ServedCalls({ link: () => undefined })
    const call = served.start(1, old.link, Date.now() + 10_000)!
    old.link.isOpen = false
    served.answer(call, { status: 'ok', body: '1' })
    expect(old.answers).toEqual([])
    expect(served.kept).toBe(1)
    const now = fakeLink()
    expect(served.start(1, now.link, Date.now() + 10_000)).toBeUndefined()
    expect(now.answers).toEqual([{ callId: 1, body: '1' }])
  })

  it('remembers the latest answers sent on open links: a link going down keeps those it carried for their copies', () => {
    const link = fakeLink()
    const other = fakeLink()
    Object.assign(other.link, { remote: { nodeId: 'other', clientId: 1 }, peerId: 'other' })
    const served = new ServedCalls({ link: () => undefined, maxRecent: 2 })
    for (const callId of [1, 2, 3]) {
      served.answer(served.start(callId, link.link, Date.now() + 10_000)!, { status: 'ok', body: `${callId}` })
    }
    served.answer(served.start(9, other.link, Date.now() + 10_000)!, { status: 'ok', body: '9' })
    expect(link.answers.map((a) => a.callId)).toEqual([1, 2, 3])
    expect(served.kept).toBe(0)
    link.link.isOpen = false
    served.linkDown(link.link)
    // Of the two latest (3 and 9), only 3 went on the link that closed; 1 and 2 were forgotten.
    expect(served.kept).toBe(1)
    const copy = fakeLink()
    expect(served.start(3, copy.link, Date.now() + 10_000)).toBeUndefined()
    expect(copy.answers).toEqual([{ callId: 3, body: '3' }])
    expect(served.start(2, copy.link, Date.now() + 10_000)).toBeDefined()
  })
})
