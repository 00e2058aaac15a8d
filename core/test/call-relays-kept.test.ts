import * as encoding from 'lib0/encoding'
import { describe, expect, it } from 'vitest'
import { decodePeer, MessageType, type CallMessage } from '../src/replication/index.js'
import { CallRelays, MAX_HELD_PAYLOAD_CHARS } from '../src/routing/call-relays.js'
import type { CallLink } from '../src/routing/pending-call.js'
import { MAX_KEPT_ANSWERS } from '../src/routing/served-calls.js'

/** A link to one process of `peer` that records the calls and answers sent on it. */
const fakeLink = (peer: string) => {
  const calls: number[] = []
  const answers: Array<{ callId: number; body: string }> = []
  const link: CallLink & { isOpen: boolean } = {
    peerId: peer,
    remote: { nodeId: peer, clientId: 7 },
    isOpen: true,
    draining: false,
    sendFrame: () => {},
    sendEncoded: (encoder: encoding.Encoder) => {
      const message = decodePeer(encoding.toUint8Array(encoder))
      if (message.type === MessageType.call) calls.push(message.callId)
      if (message.type === MessageType.answer) answers.push({ callId: message.callId, body: message.body })
    },
  }
  return { link, calls, answers }
}

const call = (callId: number): CallMessage => ({
  callId,
  capability: 'counter',
  id: 'k',
  target: 'owner',
  flags: 0,
  timeoutMs: 10_000,
  payload: '1',
})

/** Relays whose open link to each peer is the one set in `links`. */
const relaysWithLinks = () => {
  const links = new Map<string, CallLink>()
  return { links, relays: new CallRelays({ link: (peer) => links.get(peer) }) }
}

describe('CallRelays: calls whose link from the caller closed', () => {
  it('join the copy the caller sends again, keep the answer they could not send on it, and stay bounded', () => {
    const { links, relays } = relaysWithLinks()
    const old = fakeLink('caller')
    const owner = fakeLink('owner')
    const count = MAX_KEPT_ANSWERS + 1
    for (let i = 1; i <= count; i++) relays.forward(call(i), old.link, owner.link, 1000 + i, 10_000)
    expect(owner.calls).toHaveLength(count)
    old.link.isOpen = false
    relays.linkDown(old.link)
    const now = fakeLink('caller')
    links.set('caller', now.link)
    // The oldest call past the bound is forgotten: its answer is nobody's, its copy a new call.
    expect(relays.answer({ callId: 1001, status: 'ok', body: '"a1"' }, owner.link)).toBe(false)
    // Answered before the copy came: sent on the new link, and kept for the copy.
    expect(relays.answer({ callId: 1002, status: 'ok', body: '"a2"' }, owner.link)).toBe(true)
    expect(now.answers).toEqual([{ callId: 2, body: '"a2"' }])
    relays.forward(call(2), now.link, owner.link, 5000, 10_000)
    expect(now.answers).toEqual([
      { callId: 2, body: '"a2"' },
      { callId: 2, body: '"a2"' },
    ])
    // The copy before the answer: joined, no second call to the owner; the answer goes to the copy's link.
    relays.forward(call(3), now.link, owner.link, 5001, 10_000)
    expect(owner.calls).toHaveLength(count)
    expect(relays.answer({ callId: 1003, status: 'ok', body: '"a3"' }, owner.link)).toBe(true)
    expect(now.answers.at(-1)).toEqual({ callId: 3, body: '"a3"' })
    // The copy of the call forgotten past the bound goes on as a new call (it runs again).
    relays.forward(call(1), now.link, owner.link, 5002, 10_000)
    expect(owner.calls.at(-1)).toBe(5002)
  })
})

describe('CallRelays: payloads held to send calls again', () => {
  it('are held up to MAX_HELD_PAYLOAD_CHARS; past it a call whose owner link is replaced is answered owner_lost', () => {
    const { links, relays } = relaysWithLinks()
    const caller = fakeLink('caller')
    const old = fakeLink('owner')
    const big = (callId: number): CallMessage => ({ ...call(callId), payload: 'x'.repeat(MAX_HELD_PAYLOAD_CHARS / 2) })
    // Two fill the bound; the third goes on without its payload held.
    for (const id of [1, 2, 3]) relays.forward(big(id), caller.link, old.link, 1000 + id, 10_000)
    // The owner answers the first: its payload is let go, so a fourth fits.
    expect(relays.answer({ callId: 1001, status: 'ok', body: '"a1"' }, old.link)).toBe(true)
    relays.forward(big(4), caller.link, old.link, 1004, 10_000)
    // The link to the owner is replaced: held calls go again on the new one, the other is lost.
    const now = fakeLink('owner')
    links.set('owner', now.link)
    old.link.isOpen = false
    relays.linkDown(old.link)
    expect(now.calls.sort()).toEqual([1002, 1004])
    expect(caller.answers).toEqual([
      { callId: 1, body: '"a1"' },
      { callId: 3, body: 'the link to the owner closed' },
    ])
  })
})
