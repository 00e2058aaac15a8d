import { unrefTimer } from '../common/index.js'
import { Dissemination, MAX_NEWS_PER_MESSAGE } from './dissemination.js'
import { swimJson, newsJson, type SwimMessage } from './gossip.js'
import type { Member, MemberNews, MemberRecord, MemberState } from './member-record.js'
import { Prober } from './probes.js'
import { MAX_RETIRED, Tombstones } from './tombstones.js'

/** Failure-detection timing. */
export interface MembershipOptions {
  /** Interval between probe rounds, jittered by ±20%. Default 1000 ms. */
  heartbeatMs?: number
  /**
   * For members heard through a backbone's heartbeats: silence after which one is `suspect`.
   * Default 3 heartbeats (at least half of `deadAfterMs`).
   */
  suspectAfterMs?: number
  /**
   * Bound on declaring a failed member dead: a suspect is `dead` `deadAfterMs − heartbeatMs`
   * after it was suspected (unless it refutes), and a backbone member after this much silence.
   * Default 5000 ms.
   */
  deadAfterMs?: number
  /** Members asked to probe a target that did not answer directly (SWIM's k). Default 3. */
  indirectProbes?: number
}

/** What the registry needs of the node. */
export interface MembershipHooks {
  /** Sends a `swim` message (JSON) over the link to `peer`. */
  send(peer: string, json: string): void
  /** Sends this node's whole member table (`gossip`, JSON) over the link to `peer`. */
  sendTable(peer: string, json: string): void
  /** Ids of the members this node has an open link to. */
  peers(): string[]
  /** True while this node has an open link to `id`. */
  linked(id: string): boolean
  /** A member changed state (first sighting is `alive`). */
  changed(member: Member, previous: MemberState | undefined): void
  /** Runs after every probe round, for periodic work such as sweeping expired keys. */
  tick(now: number): void
  /** Who is alive or what someone offers changed ({@link Membership.version} moved): placement must be recomputed. */
  placementChanged?(): void
  random(): number
}

interface Entry {
  record: MemberRecord
  state: MemberState
  seenAt: number
  /** When this node learned the member left or died; its record is synced only for a while after. */
  departedAt?: number
  /** A suspect is dead at this time unless it refutes. */
  deadline?: number
  /** Last rise of its heartbeat read from a backbone: such members are also judged by silence. */
  heardAt?: number
  /** Incarnations of earlier lives of this id: their news is stale. */
  retired: string[]
}

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
  #timer: ReturnType<typeof setTimeout> | undefined
  #half: ReturnType<typeof setTimeout> | undefined
  #burst: ReturnType<typeof setInterval> | undefined
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
    if (this.#timer) return
    let due = Date.now() + this.heartbeatMs * this.#hooks.random()
    const round = () => {
      // One more turn of the event loop: acks already received are read before the round judges.
      setTimeout(() => {
        if (this.#timer === undefined) return
        const now = Date.now()
        // A node whose own event loop stalled cannot tell a dead peer from its own delay: it does
        // not judge that round, and gives every suspect the time it lost (local health, as in Lifeguard).
        const late = now - due
        this.tick(now, late > this.heartbeatMs ? late : 0)
        const ms = this.heartbeatMs * (0.8 + 0.4 * this.#hooks.random())
        due = now + ms
        this.#timer = setTimeout(round, ms)
        this.#half = setTimeout(() => this.#prober.midRound(), ms / 2)
        unrefTimer(this.#timer)
        unrefTimer(this.#half)
      }, 0)
    }
    this.#timer = setTimeout(round, due - Date.now())
    unrefTimer(this.#timer)
  }

  /** Stops probing and spreading news. */
  stop(): void {
    clearTimeout(this.#timer)
    clearTimeout(this.#half)
    clearInterval(this.#burst)
    this.#timer = this.#half = this.#burst = undefined
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
      if ((entry.state === 'dead' || entry.state === 'left') && now - entry.seenAt > this.#retainMs) {
        this.#entries.delete(id)
        this.#tombstones.bury(id, entry, now)
        this.#changes++
      }
    }
    this.#tombstones.expire(now)
    this.#spread()
    this.#hooks.tick(now)
  }

  /** A SWIM message from a linked member: merge its news, then answer or relay. */
  onSwim(from: string, message: SwimMessage, now: number): void {
    this.#now = now
    this.merge(message.news, now)
    switch (message.kind) {
      case 'ping':
        this.#send(from, { kind: 'ack', seq: message.seq })
        break
      case 'ack':
        this.#prober.acked(from, message)
        break
      case 'req':
        this.#prober.requested(from, message, now, this.heartbeatMs)
        break
      case 'news':
        break
    }
    // Tables that still differ once no news is on its way: send ours, at most one table every
    // ten rounds per node, so a burst of changes cannot turn into a storm of whole tables.
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
    const me: Member = {
      id: self.id,
      name: self.name,
      url: self.url,
      role: 'node',
      capabilities: self.capabilities,
      state: self.leaving ? 'left' : 'alive',
      startedAt: self.startedAt,
      lastSeen: Date.now(),
      meta: self.meta,
    }
    return [me, ...[...this.#entries.values()].map((e) => this.#member(e))]
  }

  #send(peer: string, message: Pick<SwimMessage, 'kind' | 'seq' | 'target'>, about?: MemberNews): void {
    const news = this.#news.take(this.#entries.size + 1)
    // A suspect is told itself, however often the news went round: it is the one that can refute.
    const entry = this.#entries.get(peer)
    const own = about ?? (entry?.state === 'suspect' ? { record: entry.record, state: entry.state } : undefined)
    if (own && !news.some((n) => n.record.id === peer)) news.splice(MAX_NEWS_PER_MESSAGE - 1, 1, own)
    this.#hooks.send(peer, swimJson({ ...message, sum: this.#digest(), news }))
  }

  /**
   * While news waits, a burst of `news` messages to a few random linked members every fifth of
   * a round spreads it in a few rounds; the burst stops when every item was sent its share.
   */
  #spread(): void {
    if (this.#burst || this.#news.size === 0 || this.#timer === undefined) return
    const send = () => {
      const peers = this.#hooks.peers()
      for (let i = 0; i < GOSSIP_FANOUT && peers.length > 0 && this.#news.size > 0; i++) {
        const [peer] = peers.splice(Math.floor(this.#hooks.random() * peers.length), 1)
        if (peer !== undefined) this.#send(peer, { kind: 'news', seq: 0 })
      }
      if (this.#news.size === 0 || this.#hooks.peers().length === 0) {
        clearInterval(this.#burst)
        this.#burst = undefined
      }
    }
    this.#burst = setInterval(send, Math.max(10, this.heartbeatMs / 5))
    unrefTimer(this.#burst)
    send()
  }

  /** A digest of the live members and their versions; equal digests mean the same live table. */
  #digest(): string {
    if (this.#sum?.at === this.#changes) return this.#sum.value
    const parts = [`${this.#self.id}:${this.#self.incarnation}:${this.#announced}`]
    for (const entry of this.#entries.values()) {
      if (entry.state !== 'alive' && entry.state !== 'suspect') continue
      const r = entry.record
      parts.push(`${r.id}:${r.incarnation}:${entry.heardAt === undefined ? r.heartbeat : 0}`)
    }
    let hash = 0x811c9dc5
    for (const ch of parts.sort().join('|')) hash = Math.imul(hash ^ ch.charCodeAt(0), 0x01000193)
    this.#sum = { at: this.#changes, value: (hash >>> 0).toString(36) }
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
      this.#hooks.changed(this.#member(fresh), undefined)
      this.#placementChanged()
      if (!fromBackbone && record.incarnation !== '') this.#news.add(news)
      return
    }
    if (entry.retired.includes(record.incarnation)) return
    const h = record.heartbeat
    const cur = entry.record.heartbeat
    let next: MemberState | undefined
    if (record.incarnation !== entry.record.incarnation) {
      // The same id started again: a new life, whatever the old one's state and clock. Only the
      // member itself speaks first of a new life; suspicion of a life we never saw is not news.
      if ((state === 'suspect' || state === 'dead') && entry.record.incarnation !== '') return
      if (entry.record.incarnation !== '') entry.retired = [...entry.retired, entry.record.incarnation].slice(-MAX_RETIRED)
      next = state
    } else if (entry.state === 'left') {
      return
    } else if (state === 'left') {
      next = 'left'
    } else if (state === 'alive') {
      if (h <= cur) return
      next = 'alive'
    } else if (state === 'suspect') {
      if (h < cur || (h === cur && entry.state !== 'alive')) return
      next = 'suspect'
    } else {
      if (h < cur || (h === cur && entry.state === 'dead')) return
      next = 'dead'
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

  #member(entry: Entry): Member {
    const r = entry.record
    return {
      id: r.id,
      name: r.name,
      url: r.url,
      role: 'node',
      capabilities: r.capabilities,
      state: entry.state,
      startedAt: r.startedAt,
      lastSeen: entry.seenAt,
      meta: r.meta,
    }
  }

  #set(entry: Entry, state: MemberState): void {
    const previous = entry.state
    if (previous === state) return
    entry.state = state
    this.#changes++
    this.#hooks.changed(this.#member(entry), previous)
    this.#placementChanged()
  }
}

/** A node sends a whole table for differing digests at most once per this many rounds. */
const TABLE_ROUNDS = 10

/** Linked members each burst of news goes to. */
const GOSSIP_FANOUT = 3

const sameList = (a: readonly string[], b: readonly string[]): boolean =>
  a.length === b.length && a.every((x, i) => x === b[i])
