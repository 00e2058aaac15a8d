import { errorText } from '@mesh/core'
import type { BackboneHost } from '@mesh/core'
import { Redis, type RedisOptions } from 'ioredis'
import type { Keys } from './keys.js'
import { decodePresence, encodePresence, PoisonPresence, type PresenceMessage } from './presence-message.js'

/** Most nodes whose presence one node holds at once: presence from more waits until the dead are dropped. */
const MAX_SENDERS = 10_000
/** Most rooms one query names; past it, a node asks for every room. */
const MAX_QUERY_ROOMS = 1000
/** Shortest time between two rounds of queries and answers: a flood of queries costs one answer per round. */
const ROUND_MS = 100

/** Counters of the presence channel. */
export interface PresenceStats {
  presencePublished: number
  presenceReceived: number
  presencePoison: number
  presenceRefused: number
  presenceDropped: number
}

/** What the presence channel needs from the backbone around it. */
export interface PresenceOptions {
  keys: Keys
  url: string
  /** Options of the subscriber connection (the backbone's own). */
  connection: RedisOptions
  /** The backbone's connection for commands: PUBLISH goes through it. */
  writer: Redis
  stats: PresenceStats
}

/**
 * Light peers' presence over Redis Pub/Sub, never the streams: presence is not history. Each
 * node publishes the awareness changes of the states its light peers own, applies the other
 * nodes' with one owner per node, asks for everyone's states when it (re)connects or opens a
 * room, and drops a node's states when that node leaves or the instance manager finds it dead.
 * A node publishes only while its heartbeat key is in Redis, so that a node that heard from
 * another before its heartbeat round began can trust that round's verdict on it.
 */
export class Presence {
  #host: BackboneHost
  #o: PresenceOptions
  #subscriber: Redis | undefined
  /** When each node's presence last arrived: the nodes whose states this node may have to drop. */
  #heard = new Map<string, number>()
  /** True once this node's heartbeat was written since the writer last connected. */
  #beating = false
  /** When that first heartbeat after a (re)connect was written. */
  #beatingSince = 0
  #subscribed = false
  #announced = false
  #ask: Set<string> | 'all' = new Set()
  #answer: Set<string> | 'all' = new Set()
  #flushScheduled = false
  #lastFlush = 0
  #closed = false

  constructor(host: BackboneHost, options: PresenceOptions) {
    this.#host = host
    this.#o = options
  }

  /** Opens the subscriber connection; subscribes (again) on every (re)connect and then announces itself. */
  start(): void {
    const host = this.#host
    // Subscribed on 'ready' below; ioredis's own resubscribe on reconnect rejects unhandled
    // when the stream is not writable yet (no offline queue), which a Redis restart can cause.
    const subscriber = (this.#subscriber = new Redis(this.#o.url, { ...this.#o.connection, autoResubscribe: false }))
    subscriber.on('error', (error: unknown) => {
      if (!this.#closed)
        host.logger.debug('redis connection error', { connection: 'presence', error: errorText(error) })
    })
    subscriber.on('close', () => {
      this.#subscribed = false
      this.#announced = false
    })
    subscriber.on('ready', () => {
      subscriber.subscribe(this.#o.keys.presence).then(
        () => {
          this.#subscribed = true
          this.#announce()
        },
        () => undefined,
      )
    })
    subscriber.on('messageBuffer', (_channel: Buffer, message: Buffer) => this.#receive(message))
  }

  /** The writer's connection went: publish nothing until the heartbeat is written again. */
  lost(): void {
    this.#beating = false
    this.#announced = false
  }

  /** This node's heartbeat is in Redis: it may publish, and announces itself if it has not since it connected. */
  renewed(): void {
    if (!this.#beating) this.#beatingSince = Date.now()
    this.#beating = true
    this.#announce()
  }

  /** Hands over a change of this node's light peers' states. */
  publish(room: string, update: Uint8Array): void {
    if (this.#announced) this.#send({ kind: 'states', node: this.#host.id, room, update })
  }

  /** A room was opened on this node: ask the others for their states in it. */
  opened(room: string): void {
    if (!this.#announced || this.#ask === 'all') return
    this.#ask.add(room)
    if (this.#ask.size > MAX_QUERY_ROOMS) this.#ask = 'all'
    this.#schedule()
  }

  /** Nodes this node holds presence from. */
  senders(): string[] {
    return [...this.#heard.keys()]
  }

  /**
   * Drops the states of `id`, found dead by a heartbeat round that began at `since` (`registered`:
   * its registration was stale; otherwise there was none), unless it was heard from since then.
   */
  dead(id: string, since: number, registered: boolean): void {
    const heard = this.#heard.get(id)
    if (heard !== undefined && heard >= since) return
    // No registration at all may mean Redis restarted empty: the others get a heartbeat's grace to come back.
    if (!registered && Date.now() - this.#beatingSince <= this.#host.deadAfterMs) return
    this.#drop(id, 'dead')
  }

  /** Tells the others this node leaves (they drop its states at once) and closes the subscriber. */
  async close(): Promise<void> {
    this.#closed = true
    const writer = this.#o.writer
    if (this.#announced && writer.status === 'ready') {
      await writer.publish(this.#o.keys.presence, encodePresence({ kind: 'leave', node: this.#host.id })).catch(() => 0)
    }
    this.#subscriber?.disconnect()
  }

  #announce(): void {
    if (this.#announced || !this.#beating || !this.#subscribed || this.#closed) return
    this.#announced = true
    // Changes made while Redis was away reach those who missed them (a newer clock counts). A
    // state another node dropped comes back only with its tab's next renewal (a new clock).
    this.#ask = 'all'
    this.#answer = 'all'
    this.#schedule()
  }

  #schedule(): void {
    if (this.#flushScheduled) return
    this.#flushScheduled = true
    const timer = setTimeout(
      () => {
        this.#flushScheduled = false
        this.#lastFlush = Date.now()
        try {
          this.#flush()
        } catch (error) {
          this.#host.count('backbone-presence-flush')
          this.#host.logger.warn('presence round failed', { error: errorText(error) })
        }
      },
      Math.max(0, this.#lastFlush + ROUND_MS - Date.now()),
    )
    timer.unref()
  }

  /** Sends the query and the answers gathered since the last round. */
  #flush(): void {
    const host = this.#host
    const ask = this.#ask
    const answer = this.#answer
    this.#ask = new Set()
    this.#answer = new Set()
    if (!this.#announced || this.#closed) return
    if (ask === 'all' || ask.size > 0)
      this.#send({ kind: 'query', node: host.id, rooms: ask === 'all' ? [] : [...ask] })
    for (const room of answer === 'all' ? host.rooms() : answer) {
      const update = host.lightAwareness(room)
      if (update) this.#send({ kind: 'states', node: host.id, room, update })
    }
  }

  #send(message: PresenceMessage): void {
    const writer = this.#o.writer
    if (writer.status !== 'ready') return
    let bytes: Buffer
    try {
      bytes = encodePresence(message)
    } catch (error) {
      this.#host.count('backbone-presence-encode')
      this.#host.logger.warn('could not encode a presence message', { error: errorText(error) })
      return
    }
    writer.publish(this.#o.keys.presence, bytes).then(
      () => this.#o.stats.presencePublished++,
      // Presence is renewed by its clients and announced again on reconnect: a lost message heals.
      (error: unknown) => this.#host.logger.debug('presence publish failed', { error: errorText(error) }),
    )
  }

  #receive(raw: Buffer): void {
    if (this.#closed || this.#host.closed) return
    let message: PresenceMessage
    try {
      message = decodePresence(raw)
    } catch (error) {
      this.#poison(undefined, error)
      return
    }
    if (message.node === this.#host.id) return
    this.#o.stats.presenceReceived++
    switch (message.kind) {
      case 'states':
        return this.#apply(message.node, message.room, message.update)
      case 'query':
        if (this.#answer !== 'all') {
          if (message.rooms.length === 0) this.#answer = 'all'
          else for (const room of message.rooms) this.#answer.add(room)
        }
        return this.#schedule()
      case 'leave':
        return this.#drop(message.node, 'left')
    }
  }

  #apply(node: string, room: string, update: Uint8Array): void {
    const host = this.#host
    if (!this.#heard.has(node) && this.#heard.size >= MAX_SENDERS) {
      this.#refused(node, room, 1)
      return
    }
    this.#heard.set(node, Date.now())
    let left: number
    try {
      left = host.applyAwareness(room, update, node)
    } catch (error) {
      this.#poison(node, error)
      return
    }
    if (left > 0) this.#refused(node, room, left)
  }

  #refused(node: string, room: string, entries: number): void {
    this.#o.stats.presenceRefused += entries
    this.#host.count('backbone-presence-refused')
    this.#host.logger.warn("left out presence entries: ids of this node's own tabs, or new ids past the room's cap", {
      member: node.slice(0, 100),
      room: room.slice(0, 100),
      entries,
    })
  }

  #poison(node: string | undefined, error: unknown): void {
    this.#o.stats.presencePoison++
    this.#host.count('backbone-poison-presence')
    this.#host.logger.warn('skipped a presence message that cannot be applied', {
      member: node?.slice(0, 100),
      error: error instanceof PoisonPresence ? error.message : errorText(error),
    })
  }

  #drop(node: string, why: 'dead' | 'left'): void {
    this.#heard.delete(node)
    const dropped = this.#host.dropAwareness(node)
    if (dropped === 0) return
    this.#o.stats.presenceDropped += dropped
    this.#host.logger.info('dropped the presence of a node', { member: node.slice(0, 100), why, states: dropped })
  }
}
