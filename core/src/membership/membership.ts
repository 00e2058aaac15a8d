import { HeartbeatTimer } from './heartbeat-timer.js'
import {
  BEAT_TICKS,
  FULL_EXCHANGE_TICKS,
  LINK_SILENCE_HEARTBEATS,
  MAX_TICK_HEARTBEATS,
  STALL_SLACK_HEARTBEATS,
} from './heartbeat-timing.js'
import { sameList, sameNews, toMember, type Member, type MemberRecord, type MemberState } from './member-record.js'
import { liveLinks, reachable } from './link-graph.js'
import type { MembershipHooks, MembershipOptions } from './membership-options.js'
import { MAX_RETIRED, Tombstones } from './tombstones.js'

/** The incarnation of a member linked before its first gossip: no life of its own yet. */
const PLACEHOLDER = ''

interface Entry {
  record: MemberRecord
  state: MemberState
  seenAt: number
  /** When this node learned the member left or died; its record is gossiped only for a while after. */
  departedAt?: number
  /**
   * Earlier lives of this id, each with the highest heartbeat heard of it when it was replaced:
   * its news up to that counter is stale. A higher one means that life still beats, and it was
   * replaced by stale news of an older life (see {@link Membership.receive}).
   */
  retired: Map<string, number>
}

/**
 * Membership and failure detection whose idle cost per node does not grow with the cluster.
 *
 * Each member's record lists its live links (a frame within three heartbeats); records travel
 * only when they change, flooded once, plus the whole table to one random peer every 30
 * heartbeats. Every other heartbeat a node beats on each of its links, and every heartbeat it refreshes
 * every member it reaches over links both ends list (a link-state graph, as routers keep). Over
 * peer links a higher heartbeat counter is no sign of life (it may be old news); on a backbone,
 * with no links, it is. Nothing here touches a Y.Doc, where every overwrite would stay forever.
 */
export class Membership {
  readonly heartbeatMs: number
  readonly suspectAfterMs: number
  readonly deadAfterMs: number
  #self: MemberRecord
  #entries = new Map<string, Entry>()
  #hooks: MembershipHooks
  #timer: HeartbeatTimer
  #retainMs: number
  #gossipDepartedMs: number
  #tombstones: Tombstones
  #version = 0
  #ticks = 0
  /** When the last heartbeat ran, by the clock `tick` is given, and whether it came late. */
  #tickedAt: number | undefined
  #wasLate = false
  /** Members reached on the link graph, until it changes. */
  #reached: string[] | undefined
  /** A link that brought nothing for this long is not listed in this node's record. */
  readonly #linkSilenceMs: number

  constructor(
    self: Omit<MemberRecord, 'heartbeat' | 'leaving' | 'incarnation'>,
    hooks: MembershipHooks,
    options: MembershipOptions = {},
  ) {
    this.heartbeatMs = options.heartbeatMs ?? 1000
    this.deadAfterMs = options.deadAfterMs ?? 5000
    this.suspectAfterMs =
      options.suspectAfterMs ?? Math.max(this.deadAfterMs / 2, Math.min(3 * this.heartbeatMs, this.deadAfterMs))
    this.#retainMs = Math.max(60_000, 10 * this.deadAfterMs)
    this.#tombstones = new Tombstones({ retainMs: this.#retainMs })
    // Long enough for a leave to reach every node through gossip, far shorter than retention:
    // after it no node gossips the record, and tombstones refuse it when it still circulates.
    this.#gossipDepartedMs = Math.max(10 * this.heartbeatMs, 2 * this.deadAfterMs)
    this.#linkSilenceMs = LINK_SILENCE_HEARTBEATS * this.heartbeatMs
    this.#self = { ...self, incarnation: globalThis.crypto.randomUUID(), heartbeat: 0, leaving: false, links: [] }
    this.#hooks = hooks
    this.#timer = new HeartbeatTimer({
      heartbeatMs: this.heartbeatMs,
      random: () => this.#hooks.random(),
      tick: (now, gapMs) => this.tick(now, gapMs),
    })
  }

  /**
   * Grows whenever a member's state or capabilities change (this node's included): what
   * capability placement is computed from. Equal versions mean the same placement.
   */
  get version(): number {
    return this.#version
  }

  #placementChanged(): void {
    this.#version++
    this.#hooks.placementChanged?.()
  }

  /** Replaces an entry's record; a change of capabilities moves placement. */
  #adopt(entry: Entry, record: MemberRecord): boolean {
    const moved = !sameList(entry.record.capabilities, record.capabilities)
    entry.record = record
    this.#reached = undefined
    return moved
  }

  /** This node's own record. */
  get self(): Readonly<MemberRecord> {
    return this.#self
  }

  /** Starts heartbeating. */
  start(): void {
    this.#timer.start()
  }

  /** Stops heartbeating. */
  stop(): void {
    this.#timer.stop()
  }

  /**
   * One heartbeat: bump our counter, beat on every link, and judge everyone's silence.
   * `gapMs` is the time since the previous heartbeat (a monotonic clock's, from the timer).
   */
  tick(now: number, gapMs = now - (this.#tickedAt ?? now)): void {
    this.#tickedAt = now
    const lateMs = gapMs - MAX_TICK_HEARTBEATS * this.heartbeatMs
    const late = lateMs > 0 && gapMs > this.suspectAfterMs
    if (late && !this.#wasLate) this.#late(now, lateMs)
    this.#wasLate = late
    const stalled = gapMs > this.deadAfterMs + STALL_SLACK_HEARTBEATS * this.heartbeatMs
    if (stalled) this.#hooks.stalled?.(gapMs)
    this.#self.heartbeat++
    const hooks = this.#hooks
    if (!hooks.links) hooks.broadcast(this.digest())
    else {
      // A frame each way per two heartbeats, the least that keeps a paused peer's silence
      // visible within the bound: the end that dialed beats every other heartbeat of its own,
      // and the end that accepted answers each beat at once (receive). Both frames of a link
      // then reach the dialer in one wake-up right after its heartbeat, where beats on their own
      // schedules woke each end once per link. An acceptor whose dialer is quiet beats too (a
      // node back from a pause is heard at once, as are nodes that do not beat for both).
      const links = [...hooks.links()]
      const peers = liveLinks(links, -Infinity)
      const ticks = ++this.#ticks
      const quietSince = now - BEAT_TICKS * MAX_TICK_HEARTBEATS * this.heartbeatMs
      if (ticks % BEAT_TICKS === 0) {
        for (const { peerId, isOpen, role, lastReceivedAt } of links) {
          if (isOpen && peerId && (role !== 'acceptor' || lastReceivedAt < quietSince)) hooks.sendTo?.(peerId, [])
        }
      }
      const peer = peers[Math.floor(hooks.random() * peers.length)]
      if (ticks % FULL_EXCHANGE_TICKS === 0 && peer !== undefined) hooks.sendTo?.(peer, this.digest())
      if (!stalled) this.#refreshReachable(now)
    }
    for (const entry of this.#entries.values()) {
      const silence = now - entry.seenAt
      if (entry.state === 'alive' && silence > this.suspectAfterMs) this.#set(entry, 'suspect')
      if (entry.state === 'suspect' && silence > this.deadAfterMs) {
        entry.departedAt = now
        this.#set(entry, 'dead')
      }
    }
    this.#now = now
    for (const [id, entry] of this.#entries) {
      if ((entry.state === 'dead' || entry.state === 'left') && now - entry.seenAt > this.#retainMs) {
        this.#entries.delete(id)
        this.#reached = undefined
        this.#tombstones.bury(id, { record: entry.record, retired: [...entry.retired.keys()] }, now)
      }
    }
    this.#tombstones.expire(now)
    this.#hooks.tick(now)
  }

  #now = Date.now()

  /**
   * The node paused (a long GC, SIGSTOP): its peers' silence meanwhile is no evidence against
   * them, as Cassandra ignores a local pause; only once in a row, since a node late on every
   * heartbeat is slow, not paused. Past the peers' bound the links vouch for nobody (`stalled`).
   */
  #late(now: number, lateMs: number): void {
    for (const entry of this.#entries.values()) {
      if (entry.state === 'alive' || entry.state === 'suspect') entry.seenAt = Math.min(now, entry.seenAt + lateMs)
    }
  }

  /**
   * Our record plus the members worth telling about: the live ones, and a member that left
   * only for a short while after we learned it (long enough to spread the news). The dead
   * are never gossiped: each node judges death on its own clock.
   */
  digest(): MemberRecord[] {
    const records = [this.#self]
    for (const entry of this.#entries.values()) {
      // A placeholder is no news: gossiped, it read as a new life of the member and retired its real one.
      if (entry.state === 'dead' || entry.record.incarnation === PLACEHOLDER) continue
      if (entry.state === 'left' && this.#now - (entry.departedAt ?? entry.seenAt) > this.#gossipDepartedMs) continue
      records.push(entry.record)
    }
    return records
  }

  /** Number of member entries and tombstones held, for tests and metrics. */
  get size(): { members: number; tombstones: number } {
    return { members: this.#entries.size, tombstones: this.#tombstones.size }
  }

  /**
   * Merges a peer's gossip (`from`: the peer it came over; none for a backbone's). Records that
   * are news here (a new member or life, a changed record) go on to every other link: a change
   * crosses the mesh once. A higher heartbeat counter is a sign of life only without `from`
   * or without links: over peer links, reaching the member through the link graph is.
   * `answerBeat`: this end accepted the link `from`, so a beat on it is answered.
   */
  receive(records: readonly MemberRecord[], now: number, from?: string, answerBeat = false): void {
    this.#now = now
    if (records.length === 0) {
      // A beat: `answerBeat` when this end accepted the link, whose dialer beats for both (tick).
      if (answerBeat && from !== undefined) this.#hooks.sendTo?.(from, [])
      return
    }
    const news: MemberRecord[] = []
    for (const record of records) {
      if (record.id === this.#self.id) continue
      const entry = this.#entries.get(record.id)
      if (!entry) {
        // Stale news of a member we already forgot: it must not come back as a fresh one.
        if (this.#tombstones.stale(record)) continue
        // Lives of a forgotten member are over for good, whatever counter they come with.
        const retired = new Map(this.#tombstones.revive(record).map((life) => [life, Infinity]))
        const fresh: Entry = record.leaving
          ? { record, state: 'left', seenAt: now, departedAt: now, retired }
          : { record, state: 'alive', seenAt: now, retired }
        this.#entries.set(record.id, fresh)
        this.#reached = undefined
        news.push(record)
        this.#hooks.changed(this.#member(fresh), undefined)
        this.#placementChanged()
        continue
      }
      // A placeholder (from an older node) says nothing of a member we know.
      const retiredAt = entry.retired.get(record.incarnation)
      if (record.incarnation === PLACEHOLDER || (retiredAt !== undefined && record.heartbeat <= retiredAt)) continue
      if (record.incarnation !== entry.record.incarnation) {
        // The same id started again: a new life, whatever the old one's state and clock. Lives are
        // not ordered, so a node that heard of the new life first takes late news of the old one
        // for a new life too; the new life's next heartbeat, above the counter it was retired at,
        // brings it back, and the old life's frozen counter cannot flip it again.
        entry.retired.delete(record.incarnation)
        entry.retired.set(entry.record.incarnation, entry.record.heartbeat)
        for (const life of entry.retired.keys()) if (entry.retired.size > MAX_RETIRED) entry.retired.delete(life)
        const moved = this.#adopt(entry, record)
        news.push(record)
        entry.seenAt = now
        entry.departedAt = record.leaving ? now : undefined
        const state = record.leaving ? 'left' : 'alive'
        if (entry.state !== state) this.#set(entry, state)
        else if (moved) this.#placementChanged()
      } else if (record.leaving && entry.state !== 'left' && record.heartbeat >= entry.record.heartbeat) {
        this.#adopt(entry, record)
        news.push(record)
        entry.seenAt = now
        entry.departedAt = now
        this.#set(entry, 'left')
      } else if (record.heartbeat > entry.record.heartbeat && entry.state !== 'left') {
        if (!sameNews(entry.record, record)) news.push(record)
        const moved = this.#adopt(entry, record)
        // Over peer links a counter travels only with a change or the periodic exchange, so a
        // higher one may be old news of a member dead since: life is judged on the link graph.
        if (from !== undefined && this.#hooks.links) {
          if (moved) this.#placementChanged()
          continue
        }
        entry.seenAt = now
        if (entry.state !== 'alive') this.#set(entry, 'alive')
        else if (moved) this.#placementChanged()
      }
    }
    if (news.length > 0 && this.#hooks.links) this.#hooks.broadcast(news, from)
  }

  /**
   * Lists the links that brought a frame within three heartbeats in this node's record, and
   * spreads the record when that changed. Run it after each heartbeat's I/O (a node busy for
   * a while has frames it has not read yet), and with `silence: false` when a link comes or goes.
   */
  refreshLinks(now: number, options: { silence?: boolean } = {}): void {
    const links = this.#hooks.links?.()
    if (!links || this.#self.leaving) return
    // Without judging silence (from a link event, amid I/O not read yet), a listed link stays.
    const keep = options.silence === false ? (this.#self.links ?? []) : []
    const live = liveLinks(links, now - this.#linkSilenceMs, keep)
    if (sameList(live, this.#self.links ?? [])) return
    this.#self.links = live
    this.#reached = undefined
    this.#self.heartbeat++
    this.#hooks.broadcast([this.#self])
  }

  /** Refreshes every member this node reaches on the link graph: it is alive now. */
  #refreshReachable(now: number): void {
    // The walk runs again only once a record, a member or this node's links changed.
    this.#reached ??= reachable(this.#self.id, this.#self.links ?? [], (id) => {
      const entry = this.#entries.get(id)
      return entry && entry.state !== 'left' && !entry.record.leaving ? (entry.record.links ?? []) : undefined
    })
    for (const id of this.#reached) {
      const entry = this.#entries.get(id)
      if (!entry) continue
      entry.seenAt = now
      if (entry.state !== 'alive') this.#set(entry, 'alive')
    }
  }

  /** A direct link to this member is up: it is alive right now. */
  linked(record: Pick<MemberRecord, 'id' | 'name' | 'url'>, now: number): void {
    const entry = this.#entries.get(record.id)
    if (entry) {
      entry.seenAt = now
      // A member that left and links again is a restart with the same id.
      entry.departedAt = undefined
      if (entry.state !== 'alive') this.#set(entry, 'alive')
      return
    }
    this.#tombstones.delete(record.id)
    // A placeholder until its first gossip: any incarnation the member then names replaces it.
    this.receive(
      [{ ...record, capabilities: [], meta: {}, startedAt: 0, incarnation: PLACEHOLDER, heartbeat: 0, leaving: false }],
      now,
    )
  }

  /** A member announced its graceful leave over a direct link. */
  left(id: string, now: number): void {
    const entry = this.#entries.get(id)
    if (!entry || entry.state === 'left') return
    entry.seenAt = now
    entry.departedAt = now
    this.#set(entry, 'left')
  }

  /** Updates our own record (capabilities, metadata) and gossips it at once. */
  update(changes: Partial<Pick<MemberRecord, 'capabilities' | 'meta' | 'url'>>): void {
    const moved = changes.capabilities !== undefined && !sameList(changes.capabilities, this.#self.capabilities)
    Object.assign(this.#self, changes)
    this.#self.heartbeat++
    this.#hooks.broadcast(this.#hooks.links ? [this.#self] : this.digest())
    if (moved) this.#placementChanged()
  }

  /** Bumps our heartbeat and gossips at once: a sign of life ahead of the next tick. */
  announce(): void {
    if (this.#self.leaving) return
    this.#self.heartbeat++
    this.#hooks.broadcast(this.#hooks.links ? [this.#self] : this.digest())
  }

  /** Announces our graceful leave to every peer. */
  leave(): void {
    this.#self.leaving = true
    this.#self.heartbeat++
    this.#hooks.broadcast(this.#hooks.links ? [this.#self] : this.digest())
    this.stop()
    this.#placementChanged()
  }

  /** The state of a member, or undefined if unknown. */
  stateOf(id: string): MemberState | undefined {
    return id === this.#self.id ? (this.#self.leaving ? 'left' : 'alive') : this.#entries.get(id)?.state
  }

  /** Every node member, this one first. */
  list(): Member[] {
    const me = toMember(this.#self, this.#self.leaving ? 'left' : 'alive', Date.now())
    return [me, ...[...this.#entries.values()].map((e) => this.#member(e))]
  }

  #member(entry: Entry): Member {
    return toMember(entry.record, entry.state, entry.seenAt)
  }

  #set(entry: Entry, state: MemberState): void {
    const previous = entry.state
    if (previous === state) return
    if (previous === 'left' || state === 'left') this.#reached = undefined
    entry.state = state
    this.#hooks.changed(this.#member(entry), previous)
    this.#placementChanged()
  }
}
