import { CloseCode, errorText, peerUrlProblem, type Logger } from '../common/index.js'
import { dialHoldMs, silenceBoundMs, type Conflicts, type PeerLinks } from '../replication/index.js'
import { Candidates } from './candidates.js'
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
 * of and addresses discovery offers (up to `maxPeers`), and when one is gone, close a
 * half-open link to it, drop the conflicts nobody can resolve any more and sweep its
 * ephemeral keys. A member judged dead is still redialed (with backoff) until it is
 * forgotten: from here a partition looks the same as a death, and only a dialer left running
 * links the two sides again once it heals.
 */
export class MemberReactions {
  #host: MemberReactionsHost
  #candidates = new Candidates()
  /** When {@link #probe} last dialed (the start counts as one). */
  #probedAt = Date.now()
  /** Probes under way: URL → the members this node knew alive when it dialed it. */
  #probes = new Map<string, Set<string>>()

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
   * This node's heartbeats stalled past the failure bound (Membership's `stalled`): what its
   * links bring was sent during the stall, by peers that may be closing them, so it links again.
   */
  stalled(gapMs: number): void {
    const host = this.#host
    host.logger.warn('heartbeats stalled past the failure bound: linking to every peer again', {
      gapMs,
      deadAfterMs: host.membership.deadAfterMs,
    })
    for (const link of [...host.links.values()]) link.fail(CloseCode.goingAway, 'stalled past the failure bound')
  }

  /**
   * On every heartbeat: dials members it should, and once this turn's I/O ran (frames that a
   * node busy for a while has not read yet are no silence), closes links that received nothing
   * for longer than the silence bound (links.ts) and lists the live ones in this node's record.
   */
  heartbeat(): void {
    this.dialMembers()
    setImmediate(() => {
      const host = this.#host
      try {
        if (host.closed) return
        host.links.closeSilent(Date.now(), silenceBoundMs(host.membership.deadAfterMs, host.membership.heartbeatMs))
        host.membership.refreshLinks(Date.now())
      } catch (error) {
        host.logger.error('internal error caught', { where: 'silent-links', error: errorText(error) })
      }
    })
  }

  /**
   * Addresses a discovery found: remembered, and dialed only as far as `maxPeers` allows
   * (see {@link dialMembers}). Malformed ones are logged and skipped.
   */
  offer(urls: readonly string[]): void {
    const host = this.#host
    if (host.closed) return
    const usable: string[] = []
    for (const raw of urls) {
      const problem = peerUrlProblem(raw)
      if (problem === undefined) usable.push(new URL(raw).toString())
      // Debug: multicast passes on what any host on the LAN announces, every few seconds.
      else host.logger.debug('discovery offered a URL that cannot be dialed', { problem })
    }
    this.#candidates.add(usable)
    this.dialMembers()
    this.#probe()
  }

  /**
   * Dials one offered address that belongs to no member this node knows when it already has
   * `maxPeers` links: two groups that filled their links among themselves before discovery
   * listed both (pods started in batches, a partition that outlasted member retention) would
   * otherwise never link, each side not even knowing the other. At most one every `deadAfterMs`
   * (a split heals about as fast as a death is noticed; a node that just started learns the
   * members from its first links meanwhile), each address only after its backoff, never with
   * `maxPeers` 0; once it reaches a node, its dialer stays (and with it the link, over
   * `maxPeers`) until that member is gone.
   */
  #probe(): void {
    const host = this.#host
    const links = host.links
    const now = Date.now()
    const full = links.size + links.pendingDials(now, dialHoldMs(host.membership.deadAfterMs)) >= host.maxPeers
    if (host.maxPeers === 0 || !full || now - this.#probedAt < host.membership.deadAfterMs) return
    const known = new Set([host.membership.self.url])
    const members = new Set<string>()
    for (const m of host.membership.list()) {
      if (m.state !== 'alive' && m.state !== 'suspect') continue
      known.add(m.url)
      members.add(m.id)
    }
    for (const link of links.values()) if (link.remote?.url) known.add(link.remote.url)
    const reachedKnown = (url: string) => {
      const member = this.#candidates.memberOf(url)
      return member !== undefined && (member === host.id || members.has(member))
    }
    const usable = (url: string) => !known.has(url) && !links.hasDialer(url) && !reachedKnown(url)
    const [url] = this.#candidates.pick(1, usable, { random: Math.random, failed: true, now })
    if (url === undefined) return
    this.#probedAt = now
    this.#probes.set(url, members)
    links.dialDiscovered(url)
  }

  /**
   * Dials until `maxPeers` links exist: first members learned through gossip (known alive), then
   * addresses discovery offered, each in random order, so nodes that learn the same list do not
   * all dial the same few. Before that, drops the dialers gossip started whose member turned out
   * to be linked another way or was forgotten (a member judged dead is redialed until then), and
   * those of discovered addresses that never reached a node (retried only when offered again,
   * or by a node with no link). Links other nodes dialed count too;
   * a dial holds a place only while it may still link soon (PeerLinks.pendingDials: not failed,
   * younger than {@link dialHoldMs}), so dials to dead or unreachable members do not keep the node
   * below `maxPeers` live links. A node with no link and no dial under way dials one discovered
   * address whatever `maxPeers` says (even 0): discovery is how it joins a mesh at all.
   */
  dialMembers(): void {
    const host = this.#host
    if (host.closed) return
    const links = host.links
    links.dropRedundant((id) => host.membership.stateOf(id) !== undefined)
    const now = Date.now()
    const tried = links.dropUnreached()
    this.#candidates.failed(tried.failed, now)
    for (const url of tried.failed) this.#probes.delete(url)
    for (const { url, peerId } of tried.reached) {
      this.#candidates.reached(url, peerId)
      const knownThen = this.#probes.get(url)
      this.#probes.delete(url)
      // A probe that found a member this node knew (under another URL, e.g. a hostname) is no bridge.
      if (peerId !== undefined && knownThen?.has(peerId)) links.forgetDiscovered(peerId, url)
    }
    const pending = links.pendingDials(now, dialHoldMs(host.membership.deadAfterMs))
    let alone = links.size === 0 && pending === 0
    const members = host.membership
      .list()
      .filter((m) => m.id !== host.id && m.state === 'alive' && m.url !== '' && !links.has(m.id))
      .filter((m) => !links.hasDialer(m.url))
    let budget = host.maxPeers - links.size - pending
    while (budget > 0 && members.length > 0) {
      const [member] = members.splice(Math.floor(Math.random() * members.length), 1)
      if (!member) break
      links.dial(member.url, { gossip: member.id })
      budget--
      alone = false
    }
    const count = alone ? Math.max(budget, 1) : budget
    if (count <= 0 || this.#candidates.size === 0) return
    const reached = new Set([host.membership.self.url, ...[...links.values()].map((l) => l.remote?.url)])
    const usable = (url: string) => !reached.has(url) && !links.hasDialer(url)
    // Addresses that failed are tried again only by a node that has nothing else, or once offered again.
    const options = { random: Math.random, failed: alone, now }
    for (const url of this.#candidates.pick(count, usable, options)) links.dialDiscovered(url)
  }
}
