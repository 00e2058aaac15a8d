import { CloseCode, errorText, type Logger } from '../common/index.js'
import { silenceBoundMs, type Conflicts, type PeerLinks } from '../replication/index.js'
import type { Member, MemberState } from './member-record.js'
import type { Membership } from './membership.js'

/** A member changed state; `previous` is undefined on first sighting. */
export interface MemberEvent {
  member: Member
  previous: MemberState | undefined
}

/** The member events a node emits. */
export type MemberEventName = 'member:join' | 'member:suspect' | 'member:leave' | 'member:dead'

/** What the reactions to membership need of the node around them. */
export interface MemberReactionsHost {
  readonly id: string
  readonly logger: Logger
  readonly closed: boolean
  readonly maxPeers: number
  readonly membership: Membership
  readonly links: PeerLinks
  readonly conflicts: Conflicts
  emit(name: MemberEventName, event: MemberEvent): void
  /** Removes expired keys and the ephemeral keys of members that are gone. */
  sweep(now: number): void
}

/**
 * What a node does when the member table changes: emit the event, dial members it learns
 * of (up to `maxPeers`), and when one is gone, close a half-open link to it, drop the
 * conflicts nobody can resolve any more and sweep its ephemeral keys. A member judged dead is
 * still redialed (with backoff) until it is forgotten: from here a partition looks the same
 * as a death, and only a dialer left running links the two sides again once it heals.
 */
export class MemberReactions {
  #host: MemberReactionsHost

  constructor(host: MemberReactionsHost) {
    this.#host = host
  }

  changed(member: Member, previous: MemberState | undefined): void {
    const host = this.#host
    const event = { member, previous }
    switch (member.state) {
      case 'alive':
        host.logger.info('member joined', { member: member.id, name: member.name })
        host.emit('member:join', event)
        this.dialMembers()
        return
      case 'suspect':
        host.logger.info('member suspect', { member: member.id, name: member.name })
        host.emit('member:suspect', event)
        return
      case 'left':
      case 'dead':
        host.logger.info(member.state === 'left' ? 'member left' : 'member dead', {
          member: member.id,
          name: member.name,
        })
        host.emit(member.state === 'left' ? 'member:leave' : 'member:dead', event)
        if (member.state === 'left') host.links.stopGossipDialer(member.url)
        // A link to a member judged dead is a half-open socket or a paused process: close it, so
        // that a restart (or the same process, once it resumes) links again from scratch.
        if (member.state === 'dead') host.links.get(member.id)?.fail(CloseCode.goingAway, 'peer declared dead')
        host.links.forgetDiscovered(member.id)
        host.conflicts.dropPeer(member.id)
        host.sweep(Date.now())
        return
    }
  }

  /**
   * On every heartbeat: dials members it should, and closes links that received nothing for
   * longer than the silence bound (links.ts), once this turn's I/O ran: frames that a node
   * busy for a while has not read yet are no silence.
   */
  heartbeat(): void {
    this.dialMembers()
    setImmediate(() => {
      const host = this.#host
      try {
        if (!host.closed) host.links.closeSilent(Date.now(), silenceBoundMs(host.membership.deadAfterMs))
      } catch (error) {
        host.logger.error('internal error caught', { where: 'silent-links', error: errorText(error) })
      }
    })
  }

  /**
   * Dials members learned through gossip, in random order, until `maxPeers` links exist, after
   * dropping the dialers gossip started whose member turned out to be linked another way, or
   * was forgotten (a member judged dead is redialed until then).
   */
  dialMembers(): void {
    const host = this.#host
    if (host.closed) return
    const links = host.links
    links.dropRedundant((id) => host.membership.stateOf(id) !== undefined)
    const candidates = host.membership
      .list()
      .filter((m) => m.id !== host.id && m.state === 'alive' && m.url !== '' && !links.has(m.id))
      .filter((m) => !links.hasDialer(m.url))
    let budget = host.maxPeers - links.size - links.dialing()
    while (budget > 0 && candidates.length > 0) {
      const [member] = candidates.splice(Math.floor(Math.random() * candidates.length), 1)
      if (!member) break
      links.dial(member.url, { gossip: member.id })
      budget--
    }
  }
}
