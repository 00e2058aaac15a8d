import {
  CloseCode,
  MeshError,
  peerUrlProblem,
  type Connection,
  type Logger,
  type MeshSocket,
  type Progress,
  unrefTimer,
} from '../common/index.js'
import { PendingHellos } from '../security/index.js'
import { MAX_DRAIN_MS } from './link-bounds.js'
import { PeerDialer, type BackoffOptions, type DialerHost } from './peer-dialer.js'
import type { LinkHostOf } from './link-host.js'
import { PeerLink } from './peer-link.js'
import type { Hello } from './peer-messages.js'

/** What a peer link needs from the node that owns it. */
export type LinkHost = LinkHostOf<PeerLink>

/** A connected peer, as events report it. */
export interface PeerEvent {
  id: string
  name: string
  url: string
  /** On `peer:down`: true when the peer said it was leaving. */
  graceful?: boolean
}

/** What the link set needs of the node around it. */
export interface PeerLinksHost {
  readonly id: string
  readonly logger: Logger
  readonly closed: boolean
  readonly maxMessageBytes: number
  readonly backoff: BackoffOptions | undefined
  readonly progress: Progress
  /** The host every link of this node talks to. */
  readonly linkHost: LinkHost
  /** A link opened: record its peer (membership, commit authors) and greet it. */
  linked(link: PeerLink, remote: Hello): void
  peerUp(event: PeerEvent): void
  peerDown(event: PeerEvent): void
}

/**
 * The peer links of a node, open and in handshake, the dialers that keep outgoing ones up,
 * and the links the application cut. One link per peer: duplicates are settled here.
 */
export class PeerLinks {
  #host: PeerLinksHost
  #links = new Map<string, PeerLink>()
  #pending = new Set<PeerLink>()
  /** Links closed as duplicates that still take their peer's last answers (PeerLink.draining). */
  #draining = new Set<PeerLink>()
  /** Accepted sockets that have not said anything yet: no link is built for them until they do. */
  #hellos: PendingHellos
  #dialers = new Map<string, PeerDialer>()
  /** Dialers gossip started (URL → member id): stopped once it leaves or is forgotten, redialed while judged dead. */
  #gossipDialers = new Map<string, string>()
  /** URLs dialed because a discovery found them: dropped once their node is gone. */
  #discovered = new Set<string>()
  #cut = new Set<string>()
  #dialerHost: DialerHost
  constructor(host: PeerLinksHost) {
    this.#host = host
    this.#dialerHost = {
      get logger() {
        return host.logger
      },
      get maxMessageBytes() {
        return host.maxMessageBytes
      },
      connect: (socket: MeshSocket) => this.connect(socket),
      hasLink: (peerId: string) => this.#links.has(peerId),
      isCut: (peerId: string) => this.#cut.has(peerId),
      random: Math.random,
      stateChanged: () => host.progress.notify(),
    }
    this.#hellos = new PendingHellos({
      logger: host.logger,
      metrics: host.linkHost.metrics,
      open: (socket) => this.#accepted(socket),
    })
  }

  /** Open links. */
  get size(): number {
    return this.#links.size
  }

  /** Links open or still in their handshake, and sockets before their hello: they count as connections. */
  get connections(): number {
    return this.#links.size + this.#pending.size + this.#hellos.size
  }

  get(peerId: string): PeerLink | undefined {
    return this.#links.get(peerId)
  }

  has(peerId: string): boolean {
    return this.#links.has(peerId)
  }

  values(): IterableIterator<PeerLink> {
    return this.#links.values()
  }

  dialers(): IterableIterator<PeerDialer> {
    return this.#dialers.values()
  }

  hasDialer(url: string): boolean {
    return this.#dialers.has(url)
  }

  /**
   * Dialers whose link is not up yet and that may still bring a peer not linked yet, soon: those
   * whose try has not failed and is younger than `boundMs` (PeerDialer.pending). They hold a
   * place in `maxPeers`; a dial to a member that is dead or unreachable gives its place up.
   */
  pendingDials(now: number, boundMs: number): number {
    let count = 0
    for (const d of this.#dialers.values()) if (d.pending(now, boundMs) && !d.link && this.#distinct(d)) count++
    return count
  }

  /**
   * False for a dialer that cannot bring a peer this node is not already linked to: its URL
   * turned out to be this node, or its peer (learned from the handshake, or the member gossip
   * named) is linked through another link (another URL, or a link the peer dialed).
   */
  #distinct(d: PeerDialer): boolean {
    if (d.state === 'self' || d.state === 'stopped') return false
    const member = d.peerId ?? this.#gossipDialers.get(d.url)
    return member === undefined || d.link !== undefined || !this.#links.has(member)
  }

  /**
   * Stops the dialers gossip started whose member this node forgot (`known` is false: retention
   * is over) or that cannot bring a peer not linked yet (see {@link #distinct}): the link that
   * reaches their member has a dialer of its own, on one side or the other, and gossip dials the
   * member again if it is ever alive and unlinked.
   */
  dropRedundant(known: (peerId: string) => boolean): void {
    for (const [url, named] of this.#gossipDialers) {
      const d = this.#dialers.get(url)
      if (d && this.#distinct(d) && known(d.peerId ?? named)) continue
      d?.stop()
      this.#dialers.delete(url)
      this.#gossipDialers.delete(url)
    }
  }

  /** Sends one frame on every open link but the one to `except`. */
  broadcast(frame: Uint8Array<ArrayBuffer>, except?: string): void {
    for (const [peer, link] of this.#links) if (peer !== except) link.sendFrame(frame)
  }

  /**
   * Closes every open link that received nothing (no frame; a live peer sends its heartbeat on
   * every link) for longer than `boundMs` before `now`, with {@link CloseCode.silent}: its peer
   * stopped reading or answering while the socket stayed up, and the room unsyncs on the other
   * links so their peers repair and relay what it would have carried (relay-horizon.ts).
   * Returns how many it closed. Call it after the turn's I/O (setImmediate): frames a node busy
   * for a while has not read yet are not silence.
   */
  closeSilent(now: number, boundMs: number): number {
    let closed = 0
    for (const link of [...this.#links.values()]) {
      const silence = now - link.lastReceivedAt
      if (!link.isOpen || silence <= boundMs) continue
      this.#host.logger.warn('closing peer link that stopped answering', { peer: link.peerId, silence, boundMs })
      link.fail(CloseCode.silent, `nothing received for ${silence} ms (bound ${boundMs} ms)`)
      closed++
    }
    return closed
  }

  /**
   * A socket the other node opened (`/mesh`): it becomes a link with its first frame (the
   * dialer speaks first), within the bounds of `PendingHellos`.
   */
  accept(socket: MeshSocket): Connection {
    return this.#hellos.accept(socket)
  }

  #accepted(socket: MeshSocket): PeerLink {
    const link = new PeerLink({ host: this.#host.linkHost, socket, role: 'acceptor' })
    this.#pending.add(link)
    return link
  }

  /** A link over a socket this side opened. */
  connect(socket: MeshSocket): PeerLink {
    if (this.#host.closed) throw new MeshError('closed', 'node is closed')
    const link = new PeerLink({ host: this.#host.linkHost, socket, role: 'dialer' })
    this.#pending.add(link)
    return link
  }

  /**
   * Starts dialers for URLs not dialed yet; `gossip` ties one to the member (id) gossip named,
   * `once`: see PeerDialer. A URL the application dials itself is kept for good, even if gossip dialed it first.
   */
  dial(url: string, options: { gossip?: string; once?: boolean } = {}): void {
    if (this.#dialers.has(url)) {
      if (options.gossip === undefined) this.#gossipDialers.delete(url)
      return
    }
    this.#dialers.set(
      url,
      new PeerDialer({ url, host: this.#dialerHost, backoff: this.#host.backoff, once: options.once ?? false }),
    )
    if (options.gossip !== undefined) this.#gossipDialers.set(url, options.gossip)
  }

  /**
   * Dials an address a discovery found (a normalized peer URL), once until it reaches a node:
   * then kept up like a joined URL until its node is gone ({@link forgetDiscovered}); else
   * dropped ({@link dropUnreached}).
   */
  dialDiscovered(url: string): void {
    if (this.#dialers.has(url)) return
    this.#discovered.add(url)
    this.dial(url, { once: true })
  }

  /**
   * Stops the dialers of discovered addresses that never reached a node and whose try failed,
   * and returns their URLs (`failed`), with those of discovered addresses that reached a node
   * (`reached`): a stale address (a replaced pod) is not redialed forever, and discovery
   * decides when to try it again (MemberReactions).
   */
  dropUnreached(): { failed: string[]; reached: Array<{ url: string; peerId: string | undefined }> } {
    const failed: string[] = []
    const reached: Array<{ url: string; peerId: string | undefined }> = []
    for (const url of this.#discovered) {
      const d = this.#dialers.get(url)
      if (d && (d.peerId !== undefined || d.state === 'self')) reached.push({ url, peerId: d.peerId })
      if (d && (d.peerId !== undefined || !d.failed || d.state === 'self')) continue
      if (d) failed.push(url)
      d?.stop()
      this.#dialers.delete(url)
      this.#discovered.delete(url)
    }
    return { failed, reached }
  }

  /**
   * Dials `ws://host:port/mesh` URLs and keeps those links up; resolves once each completed a
   * handshake (see `MeshNode.join`).
   */
  async join(urls: readonly string[], options: { timeoutMs?: number; wait?: boolean } = {}): Promise<void> {
    if (this.#host.closed) throw new MeshError('closed', 'node is closed')
    const targets = urls.map((raw) => {
      const problem = peerUrlProblem(raw)
      if (problem !== undefined) throw new MeshError('bad_request', problem)
      return new URL(raw).toString()
    })
    for (const url of targets) {
      // Joined on purpose: kept for good, even if a discovery found it first.
      this.#discovered.delete(url)
      this.#dialers.get(url)?.persist()
      this.dial(url)
    }
    if (options.wait === false) return
    await this.#host.progress.waitFor(
      () => targets.every((url) => this.reached(url)),
      options.timeoutMs ?? 10_000,
      () => `could not reach ${targets.filter((u) => !this.reached(u)).join(', ')}`,
    )
  }

  /** True once `url` was reached (or found to be dormant or this node). */
  reached(url: string): boolean {
    const d = this.#dialers.get(url)
    return d !== undefined && (d.link !== undefined || d.state === 'dormant' || d.state === 'self')
  }

  /** Stops the dialer gossip started for a member's URL (the member left: it is not redialed). */
  stopGossipDialer(url: string): void {
    if (!this.#gossipDialers.delete(url)) return
    this.#dialers.get(url)?.stop()
    this.#dialers.delete(url)
  }

  /** A discovered address whose node is gone (a replaced pod) is not redialed forever; `url`: only that one. */
  forgetDiscovered(peerId: string, url?: string): void {
    for (const [at, dialer] of this.#dialers) {
      if (dialer.peerId !== peerId || (url !== undefined && at !== url) || !this.#discovered.delete(at)) continue
      dialer.stop()
      this.#dialers.delete(at)
    }
  }

  /** What a sync waits for, or undefined once every dialer is linked (or its peer gone, by `isGone`) and every link synced. */
  unsynced(isGone: (peerId: string) => boolean): string | undefined {
    for (const d of this.#dialers.values()) {
      if (!this.#distinct(d)) continue
      // A seed whose node left or died is still redialed, and so is a member gossip named while it
      // is judged dead (it may be behind a partition), but nobody waits for them. A node that
      // refuses this one answered, though, so it is not gone, whatever membership knows of it.
      const member = d.peerId ?? this.#gossipDialers.get(d.url)
      if (member !== undefined && isGone(member) && !d.refused) continue
      if (d.state === 'connecting' || d.state === 'waiting' || (d.state === 'open' && !d.link)) return d.describe()
    }
    for (const [peer, link] of this.#links) if (!link.settled) return `${peer}: initial sync`
    for (const link of this.#pending) if (link.state === 'handshake' || link.state === 'proving') return 'a handshake'
    return undefined
  }

  /** Cuts the link to a peer and refuses it until {@link heal}; a `bad_request` MeshError for this node itself. */
  cut(peer: string): void {
    if (peer === this.#host.id) throw new MeshError('bad_request', 'a node cannot cut its link to itself')
    this.#cut.add(peer)
    this.#links.get(peer)?.fail(CloseCode.forbidden, 'link cut')
    for (const link of [...this.#draining]) if (link.peerId === peer) link.stopDraining()
    this.#host.progress.notify()
  }

  /** Lifts a cut; the link comes back at once when the peer's URL (`url`) is known. */
  heal(peer: string, url: string | undefined): void {
    if (!this.#cut.delete(peer)) return
    for (const d of this.#dialers.values()) if (d.peerId === peer) d.wake(true)
    if (url && !this.#dialers.has(url) && !this.#links.has(peer)) this.dial(url, { gossip: peer })
    this.#host.progress.notify()
  }

  cuts(): string[] {
    return [...this.#cut]
  }

  /** Registers an open link; false means a link to that node exists already and this one must go. */
  linkUp(link: PeerLink): boolean {
    this.#pending.delete(link)
    const remote = link.remote
    if (!remote) return false
    if (this.#cut.has(remote.nodeId)) {
      link.fail(CloseCode.forbidden, 'link cut')
      return false
    }
    const existing = this.#links.get(remote.nodeId)
    if (existing && existing !== link) {
      if (existing.remote?.clientId !== remote.clientId) {
        // The peer restarted with the same id (a new process writes with a new client id):
        // the old link is a half-open leftover of its previous life.
        existing.fail(CloseCode.goingAway, 'replaced by the peer restarted with the same id')
      } else {
        // Both sides apply the same rule, so they agree on which duplicate survives.
        const dialerOf = (l: PeerLink) => (l.role === 'dialer' ? this.#host.id : remote.nodeId)
        const keepNew = dialerOf(link) < dialerOf(existing)
        if (!keepNew) return false
        // The peer stays linked through the new link: closing the old one is no disconnect
        // (no "peer disconnected", no peer:down).
        this.#links.delete(remote.nodeId)
        existing.fail(CloseCode.duplicate, 'duplicate link')
      }
    }
    this.#links.set(remote.nodeId, link)
    this.#host.linked(link, remote)
    this.#host.logger.info('peer connected', { peer: remote.nodeId, name: remote.name, direction: link.role })
    this.#host.peerUp({ id: remote.nodeId, name: remote.name, url: remote.url })
    this.#host.progress.notify()
    return true
  }

  linkDown(link: PeerLink): void {
    this.#pending.delete(link)
    if (link.draining) {
      this.#draining.add(link)
      unrefTimer(setTimeout(() => link.stopDraining(), MAX_DRAIN_MS))
    }
    const remote = link.remote
    if (!remote || this.#links.get(remote.nodeId) !== link) return
    this.#links.delete(remote.nodeId)
    const closed = this.#host.closed
    if (closed) this.#host.logger.debug('peer link closed: this node is leaving', { peer: remote.nodeId })
    else this.#host.logger.info('peer disconnected', { peer: remote.nodeId, graceful: link.leaving })
    this.#host.peerDown({ id: remote.nodeId, name: remote.name, url: remote.url, graceful: link.leaving })
    if (!closed) {
      for (const d of this.#dialers.values()) if (d.peerId === remote.nodeId) d.wake()
    }
    this.#host.progress.notify()
  }

  /** A draining link's socket closed, or it was stopped. */
  drained(link: PeerLink): void {
    this.#draining.delete(link)
  }

  /** Says goodbye on every link, then stops every dialer (the node is leaving). */
  leave(reason: string): void {
    for (const link of [...this.#links.values(), ...this.#pending]) link.leave(reason)
    this.#hellos.close()
    // Only after the goodbye: stopping a dialer closes its socket, and a closing socket drops sends.
    for (const d of this.#dialers.values()) d.stop()
  }
}
