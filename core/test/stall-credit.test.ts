import { describe, expect, it } from 'vitest'
import { Membership, type MemberRecord } from '../src/membership/index.js'

/**
 * Review of the pause exemption (w7-heal): on resume, libuv may run the I/O that arrived during
 * the stall before the late heartbeat timer. A member heard in that I/O (frames it, or a relay,
 * sent before it died) must not also be credited the whole stall: that would let a member that
 * really died during the stall look alive for stall + deadAfterMs after resume.
 */
describe('stall exemption (simulated time)', () => {
  it('a member heard after the stall, before the late timer fired, is judged from that moment on', () => {
    const events: string[] = []
    const membership = new Membership(
      { id: 'b', name: 'b', url: 'ws://b', capabilities: [], meta: {}, startedAt: 0 },
      {
        broadcast: () => {},
        changed: (member) => events.push(`${member.id}:${member.state}`),
        tick: () => {},
        random: () => 0.5,
      },
      { heartbeatMs: 100, deadAfterMs: 1000 },
    )
    const record = (heartbeat: number): MemberRecord => ({
      id: 'k',
      name: 'k',
      url: 'ws://k',
      capabilities: [],
      meta: {},
      startedAt: 0,
      incarnation: 'k1',
      heartbeat,
      leaving: false,
    })
    membership.receive([record(1)], 0)
    // b stopped at 50 for 4000 ms; k sent one more heartbeat, then died. On resume (4050) the
    // buffered frame is read first, then the heartbeat timer fires 4000 ms late.
    membership.receive([record(2)], 4050)
    membership.resumed(4000, 4050)
    membership.tick(4051)
    // k silent for 1200 ms of running time since it was last heard: past deadAfterMs.
    membership.tick(4050 + 700)
    membership.tick(4050 + 1200)
    expect(membership.stateOf('k')).toBe('dead')
    expect(events).toEqual(['k:alive', 'k:suspect', 'k:dead'])
  })
})
