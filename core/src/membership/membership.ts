import { Dissemination, MAX_NEWS_PER_MESSAGE } from './dissemination.js'
import { swimJson, newsJson, type SwimMessage } from './gossip.js'
import { nextState, tableDigest, toMember, type Entry } from './member-entry.js'
import type { Member, MemberNews, MemberRecord, MemberState } from './member-record.js'
import type { MembershipHooks, MembershipOptions } from './membership-options.js'
import { NewsBurst } from './news-burst.js'
import { Prober } from './probes.js'
import { Rounds } from './rounds.js'
import { MAX_RETIRED, Tombstones } from './tombstones.js'

/**
 * Membership and failure detection in the style of SWIM: every round a node probes one
 * linked member (see {@link Prober}); a member nobody could reach is `suspect`, and `dead`
 * when it does not refute in time. A live member refutes a suspicion by raising its own
 * version (`heartbeat`). Changes spread as news piggybacked on probes and acks, each sent a
 * bounded number of times, plus a short burst of `news` messages right after a change, so an
 * idle cluster costs one probe and one ack per node per round, whatever its size. Nothing of
 * this touches a Y.Doc, where every overwrite would be permanent history.
 */
export class Membership {
  readonly heartbeatMs: number
  readonly suspectAfterMs: number
  readonly deadAfterMs: number
  /** How long a suspect has to refute before it is declared dead. */
  readonly suspicionMs: number
  #self: MemberRecord
  #entries = new Map<string, Entry>()
  #hooks: MembershipHooks
  #rounds: Rounds
  #burst: NewsBurst
  #retainMs: number
  #departedMs: number
  #tombstones: Tombstones
  #version = 0
  #news = new Dissemination()
  #prober: Prober
  /** This node's version as last announced: beats for a backbone are not news. */
  #announced = 0
  #sum: { at: number; value: string } | undefined
  #changes = 0
  #tableSentAt = -Infinity
  #now = Date.now()

  constructor(
    self: Omit<MemberRecord, 'heartbeat' | 'leaving' | 'incarnation'>,
    hooks: MembershipHooks,
    options: MembershipOptions = {},
  ) {
    this.heartbeatMs = options.heartbeatMs ?? 1000
    this.deadAfterMs = options.deadAfterMs ?? 5000
    this.suspectAfterMs =
      options.suspectAfterMs ?? Math.max(this.deadAfterMs / 2, Math.min(3 * this.heartbeatMs, this.deadAfterMs))
    this.suspicionMs = Math.max(this.heartbeatMs, this.deadAfterMs - this.heartbeatMs)
    this.#retainMs = Math.max(60_000, 10 * this.deadAfterMs)
    this.#tombstones = new Tombstones({ retainMs: this.#retainMs })
    // Long enough for a departure to reach every node, far shorter than retention: after it no
    // node syncs the record, and tombstones refuse it when it still circulates.
    this.#departedMs = Math.max(10 * this.heartbeatMs, 2 * this.deadAfterMs)
    this.#self = { ...self, incarnation: globalThis.crypto.randomUUID(), heartbeat: 0, leaving: false }
    this.#hooks = hooks
    this.#prober = new Prober(
      {
        peers: () => hooks.peers(),
        linked: (id) => hooks.linked(id),
        send: (peer, message) => this.#send(peer, message),
        failed: (target) => this.#failed(target),
        random: () => hooks.random(),
      },
      { indirect: options.indirectProbes },
    )
    this.#rounds = new Rounds({
      periodMs: this.heartbeatMs,
      random: () => hooks.random(),
      round: (now, stalledMs) => this.tick(now, stalledMs),
      half: () => this.#prober.midRound(),
    })
    this.#burst = new NewsBurst({
      everyMs: Math.max(10, this.heartbeatMs / 5),
      peers: () => hooks.peers(),
      pending: () => this.#news.size > 0,
      send: (peer) => this.#send(peer, { kind: 'news', seq: 0 }),
      random: () => hooks.random(),
    })
  }

  /**
   * Grows whenever a member's state or capabilities change (this node's included): what
   * capability placement is computed from. Equal versions mean the same placement.
   */
  get version(): number {
    return this.#version
  }

  /** This node's own record. */
  get self(): Readonly<MemberRecord> {
    return this.#self
  }

  /** Number of member entries, tombstones and news items held, for tests and metrics. */
  get size(): { members: number; tombstones: number; news: number } {
    return { members: this.#entries.size, tombstones: this.#tombstones.size, news: this.#news.size }
  }

  /** Starts probing. */
  start(): void {
    this.#rounds.start()
  }

  /** Stops probing and spreading news. */
  stop(): void {
    this.#rounds.stop()
    this.#burst.stop()
  }

  /**
   * One round: judge the last probe and start the next, time out suspects, forget the long
   * gone. `stalledMs` is how late this round came because this node's own event loop was
   * held up: its last probe is not judged and suspects get that time on top.
   */
  tick(now: number, stalledMs = 0): void {
    this.#now = now
    this.#prober.round(now, stalledMs === 0)
    for (const entry of this.#entries.values()) {
      if (stalledMs > 0 && entry.deadline !== undefined) entry.deadline += stalledMs
      if (stalledMs > 0 && entry.heardAt !== undefined) entry.heardAt += stalledMs
      if (entry.state === 'alive' && entry.heardAt !== undefined && now - entry.heardAt > this.suspectAfterMs) {
        entry.deadline = entry.heardAt + this.deadAfterMs
        this.#set(entry, 'suspect')
      }
      if (entry.state === 'suspect' && now >= (entry.deadline ?? 0)) {
        entry.departedAt = now
        this.#tell(entry, 'dead')
        this.#set(entry, 'dead')
        // A death judged from a backbone's silence is each node's own call; one judged by probes is news.
        if (entry.heardAt === undefined) this.#news.add({ record: entry.record, state: 'dead' })
        this.#prober.forget(entry.record.id)
      }
    }
    for (const [id, entry] of this.#entries) {
      if ((entry.state !== 'dead' && entry.state !== 'left') || now - entry.seenAt <= this.#retainMs) continue
      this.#entries.delete(id)
      this.#tombstones.bury(id, entry, now)
    }
    this.#tombstones.expire(now)
    this.#spread()
    this.#hooks.tick(now)
  }

  /** A SWIM message from a linked member: merge its news, then answer or relay. */
  onSwim(from: string, message: SwimMessage, now: number): void {
    this.#now = now
    this.merge(message.news, now)
    // Heard from directly: `lastSeen` moves with every probe and ack, as it did with heartbeats.
    const sender = this.#entries.get(from)
    if (sender) sender.seenAt = now
    if (message.kind === 'ping') this.#send(from, { kind: 'ack', seq: message.seq })
    else if (message.kind === 'ack') this.#prober.acked(from, message)
    else if (message.kind === 'req') this.#prober.requested(from, message, now, this.heartbeatMs)
    // Tables that still differ once no news is on its way: send ours, at most one table every
    // 30 rounds per node, so a burst of changes cannot turn into a storm of whole tables.
    if (message.sum === undefined || message.news.length > 0 || this.#news.size > 0) return
    if (message.sum === this.#digest() || now - this.#tableSentAt < TABLE_ROUNDS * this.heartbeatMs) return
    this.#tableSentAt = now
    this.#hooks.sendTable(from, JSON.stringify(this.table(from)))
  }

  /** Merges news: a table a peer sent, or news piggybacked on a SWIM message. */
  merge(news: readonly MemberNews[], now: number): void {
    this.#now = now
    for (const item of news) this.#apply(item, now, false)
    this.#spread()
  }

  /** Merges member records read from a backbone: a higher heartbeat proves the member alive now. */
  receive(records: readonly MemberRecord[], now: number): void {
    this.#now = now
    for (const record of records) this.#apply({ record, state: record.leaving ? 'left' : 'alive' }, now, true)
    this.#spread()
  }

  /**
   * This node's whole table: everyone live, and the recently departed. For a peer (`to`), also
   * what this node holds about it however long ago: a member declared dead learns it when it
   * links again, and refutes.
   */
  table(to?: string): Array<ReturnType<typeof newsJson>> {
    const rows = [newsJson({ record: this.#self, state: this.#self.leaving ? 'left' : 'alive' })]
    for (const entry of this.#entries.values()) {
      const departed = entry.state === 'dead' || entry.state === 'left'
      const old = this.#now - (entry.departedAt ?? entry.seenAt) > this.#departedMs
      if ((departed && old && entry.record.id !== to) || entry.record.incarnation === '') continue
      rows.push(newsJson({ record: entry.record, state: entry.state }))
    }
    return rows
  }

  /**
   * A direct link to this member is up. A member this node holds suspect or dead stays so:
   * the table sent next tells it, and only its refutation (or a new life, after a restart
   * with the same id) brings it back, so that every node agrees.
   */
  linked(record: Pick<MemberRecord, 'id' | 'name' | 'url'>, now: number): void {
    const entry = this.#entries.get(record.id)
    if (entry) {
      entry.seenAt = now
      return
    }
    this.#tombstones.delete(record.id)
    // A placeholder until its table arrives: any incarnation the member then names replaces it.
    const placeholder = { ...record, capabilities: [], meta: {}, startedAt: 0, incarnation: '', heartbeat: 0 }
    this.#apply({ record: { ...placeholder, leaving: false }, state: 'alive' }, now, false, true)
  }

  /** A link to this member closed; without a goodbye it is probed (through others) first. */
  unlinked(id: string, graceful: boolean): void {
    if (!graceful && this.#entries.get(id)?.state === 'alive') this.#prober.dropped(id)
  }

  /** A member announced its graceful leave over a direct link. */
  left(id: string, now: number): void {
    const entry = this.#entries.get(id)
    if (!entry || entry.state === 'left') return
    entry.seenAt = now
    entry.departedAt = now
    this.#set(entry, 'left')
    this.#news.add({ record: entry.record, state: 'left' })
    this.#prober.forget(id)
    this.#spread()
  }

  /** Updates our own record (capabilities, metadata) and spreads it at once. */
  update(changes: Partial<Pick<MemberRecord, 'capabilities' | 'meta' | 'url'>>): void {
    const moved = changes.capabilities !== undefined && !sameList(changes.capabilities, this.#self.capabilities)
    Object.assign(this.#self, changes)
    this.announce()
    if (moved) this.#placementChanged()
  }

  /** Raises our version and spreads it at once: a sign of life that refutes any suspicion. */
  announce(): void {
    if (this.#self.leaving) return
    this.#self.heartbeat++
    this.#announced = this.#self.heartbeat
    this.#changes++
    this.#news.add({ record: { ...this.#self }, state: 'alive' })
    this.#spread()
  }

  /** Raises our version without spreading it, and returns our record: one beat written to a backbone. */
  beat(): MemberRecord {
    if (!this.#self.leaving) this.#self.heartbeat++
    return { ...this.#self }
  }

  /** Announces our graceful leave to every linked peer. */
  leave(): void {
    this.#self.leaving = true
    this.#self.heartbeat++
    this.#news.clear()
    this.#news.add({ record: { ...this.#self }, state: 'left' })
    for (const peer of this.#hooks.peers()) this.#send(peer, { kind: 'news', seq: 0 })
    this.stop()
    this.#placementChanged()
  }

  /** The state of a member, or undefined if unknown. */
  stateOf(id: string): MemberState | undefined {
    return id === this.#self.id ? (this.#self.leaving ? 'left' : 'alive') : this.#entries.get(id)?.state
  }

  /** Every node member, this one first. */
  list(): Member[] {
    const self = this.#self
    const me = toMember({ record: self, state: self.leaving ? 'left' : 'alive', seenAt: Date.now(), retired: [] })
    return [me, ...[...this.#entries.values()].map((e) => toMember(e))]
  }

  #send(peer: string, message: Pick<SwimMessage, 'kind' | 'seq' | 'target'>, about?: MemberNews): void {
    const news = this.#news.take(this.#entries.size + 1)
    // A suspect is told itself, however often the news went round: it is the one that can refute.
    const entry = this.#entries.get(peer)
    const own = about ?? (entry?.state === 'suspect' ? { record: entry.record, state: entry.state } : undefined)
    if (own && !news.some((n) => n.record.id === peer)) news.splice(MAX_NEWS_PER_MESSAGE - 1, 1, own)
    this.#hooks.send(peer, swimJson({ ...message, sum: this.#digest(), news }))
  }

  /** Starts a burst of `news` messages (see {@link NewsBurst}) while news waits. */
  #spread(): void {
    if (this.#rounds.running && this.#news.size > 0) this.#burst.kick()
  }

  /** A digest of the live members and their versions; equal digests mean the same live table. */
  #digest(): string {
    if (this.#sum?.at === this.#changes) return this.#sum.value
    const self = { ...this.#self, heartbeat: this.#announced }
    this.#sum = { at: this.#changes, value: tableDigest(self, this.#entries.values()) }
    return this.#sum.value
  }

  /** No ack for a probe of `target`, directly or through others: suspect it, and say so. */
  #failed(target: string): void {
    const entry = this.#entries.get(target)
    // A placeholder is judged once its table came: it has nothing to refute with yet.
    if (entry?.state !== 'alive' || entry.record.incarnation === '') return
    entry.deadline = this.#now + this.suspicionMs
    this.#set(entry, 'suspect')
    this.#news.add({ record: entry.record, state: 'suspect' })
    this.#tell(entry, 'suspect')
    this.#spread()
  }

  /** Tells a linked member at once that it is suspect or dead: it is the one that can refute it. */
  #tell(entry: Entry, state: 'suspect' | 'dead'): void {
    const id = entry.record.id
    if (this.#hooks.linked(id)) this.#send(id, { kind: 'news', seq: 0 }, { record: entry.record, state })
  }

  /** SWIM's rules: news of a higher version wins; at an equal one suspect beats alive and dead beats both. */
  #apply(news: MemberNews, now: number, fromBackbone: boolean, placeholder = false): void {
    const { record, state } = news
    if (record.id === this.#self.id) {
      // News that we are suspect or dead: refute it with a version above anything said of us.
      if (record.incarnation !== this.#self.incarnation || this.#self.leaving) return
      if (state !== 'suspect' && state !== 'dead') return
      this.#self.heartbeat = Math.max(this.#self.heartbeat, record.heartbeat)
      this.announce()
      return
    }
    // A placeholder (a link up before the member's table came) is never news from the network.
    if (record.incarnation === '' && !placeholder) return
    const entry = this.#entries.get(record.id)
    if (!entry) {
      // Stale news of a member we already forgot: it must not come back as a fresh one.
      if (this.#tombstones.stale(record)) return
      const retired = this.#tombstones.revive(record)
      const fresh: Entry = { record, state, seenAt: now, retired }
      if (state === 'dead' || state === 'left') fresh.departedAt = now
      if (state === 'suspect') fresh.deadline = now + this.suspicionMs
      if (fromBackbone) fresh.heardAt = now
      this.#entries.set(record.id, fresh)
      this.#changes++
      this.#hooks.changed(toMember(fresh), undefined)
      this.#placementChanged()
      if (!fromBackbone && record.incarnation !== '') this.#news.add(news)
      return
    }
    if (entry.retired.includes(record.incarnation)) return
    let next: MemberState | undefined
    if (record.incarnation !== entry.record.incarnation) {
      // The same id started again: a new life, whatever the old one's state and clock. Only the
      // member itself speaks first of a new life; suspicion of a life we never saw is not news.
      if ((state === 'suspect' || state === 'dead') && entry.record.incarnation !== '') return
      if (entry.record.incarnation !== '')
        entry.retired = [...entry.retired, entry.record.incarnation].slice(-MAX_RETIRED)
      next = state
    } else {
      next = nextState(entry, news)
      if (next === undefined) return
    }
    const moved = !sameList(entry.record.capabilities, record.capabilities)
    entry.record = record
    entry.seenAt = now
    if (fromBackbone) entry.heardAt = now
    this.#changes++
    if (next === 'dead' || next === 'left') entry.departedAt = now
    else entry.departedAt = undefined
    if (next === 'suspect') entry.deadline = now + this.suspicionMs
    if (next === 'alive') entry.deadline = undefined
    if (next === 'dead' || next === 'left') this.#prober.forget(record.id)
    // Said before the reactions close the link to it.
    if (next === 'dead' && entry.state !== 'dead') this.#tell(entry, 'dead')
    if (entry.state !== next) this.#set(entry, next)
    else if (moved) this.#placementChanged()
    if (!fromBackbone) this.#news.add(news)
    if (next === 'suspect') this.#tell(entry, 'suspect')
  }

  #placementChanged(): void {
    this.#version++
    this.#hooks.placementChanged?.()
  }

  #set(entry: Entry, state: MemberState): void {
    const previous = entry.state
    if (previous === state) return
    entry.state = state
    this.#changes++
    this.#hooks.changed(toMember(entry), previous)
    this.#placementChanged()
  }
}

/** A node sends a whole table for differing digests at most once per this many rounds. */
const TABLE_ROUNDS = 30

const sameList = (a: readonly string[], b: readonly string[]): boolean =>
  a.length === b.length && a.every((x, i) => x === b[i])
