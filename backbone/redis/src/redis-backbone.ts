import { errorText } from '@mesh/core'
import type { Backbone, BackboneHost } from '@mesh/core'
import { Redis, type RedisOptions } from 'ioredis'
import { readEntries } from './entries.js'
import { InstanceManager } from './instance-manager.js'
import { Keys } from './keys.js'
import { Presence, type PresenceStats } from './presence.js'
import { PENDING_RESYNC_MS, RoomLogs } from './room-logs.js'

/** Options of {@link redisBackbone}. */
export interface RedisBackboneOptions {
  /** `redis://[user:password@]host:port[/db]` (or `rediss://`). */
  url: string
  /** Prefix of every key. Default `mesh`: nodes sharing a prefix (and a Redis) form one mesh. */
  prefix?: string
  /** Log entries of a room after which a node snapshots it and trims its log. Default 1000. */
  snapshotEvery?: number
  /**
   * How long one blocking read waits for news, ms. News, a new room and a reconnect end it early,
   * so this only bounds how often an idle node wakes to read again. Default 30000 (5000 at most
   * while a room waits for updates its entries depend on: it is read anew every 5 s).
   */
  blockMs?: number
  /** Most entries read per room and read. Default 1000. */
  batch?: number
  /**
   * Longest random wait before rooms are read anew after a (re)connect, ms: nodes that come
   * back together publish what Redis lacks one after another, each only what the others did not. Default 250.
   */
  resyncJitterMs?: number
  /** Extra ioredis options (TLS, timeouts); retry and queue options are the backbone's own. */
  redis?: RedisOptions
}

/**
 * What a backbone counts, for tests and monitoring. Presence: messages published and received,
 * poison messages skipped, entries left out (ids of this node's own tabs, past a room's cap),
 * states dropped because their node died or left.
 */
export interface RedisBackboneStats extends PresenceStats {
  /** Log entries this node added. */
  published: number
  /** Log entries (or parts of replies) skipped because they could not be read or applied. */
  poison: number
  /** Rooms read anew from their snapshot and log. */
  resyncs: number
  /** Snapshots this node stored (each trims a log). */
  snapshots: number
  /** Entries found missing (trimmed before read, or never arrived): each caused a resync. */
  gaps: number
  /** Dead nodes this node cleaned up. */
  cleanups: number
  /** Times the connection to Redis came (back) up. */
  connects: number
}

/** A {@link Backbone} on Redis Streams, with what tests and operators may ask of it. */
export interface RedisBackbone extends Backbone {
  readonly stats: Readonly<RedisBackboneStats>
  /** True while the connection for writes is up. */
  readonly connected: boolean
  /** Resolves once every update handed over so far was answered by Redis (stored, or failed and left to the resync). */
  settled(): Promise<void>
  /** Cleans up after node `id` if its heartbeat expired and nobody else did or does; true when this call did. */
  clean(id: string): Promise<boolean>
  /** Light peers each node on the backbone reports, by node id. */
  lightPresence(): Promise<Map<string, unknown[]>>
}

const backoff = (attempt: number): number => Math.min(2000, 50 * 2 ** Math.min(attempt, 6)) * (0.5 + Math.random() / 2)

/**
 * A backbone on Redis Streams (docs/backbone.md): each room's updates go to one stream that
 * every node reads from its own position; a snapshot per room bounds the stream; heartbeats
 * and the cleanup of dead nodes go through Redis keys. State-vector anti-entropy on (re)connect
 * keeps Redis a transport and a cache: a node republishes whatever Redis lacks.
 *
 * @example
 * const node = new MeshNode({ backbone: redisBackbone('redis://127.0.0.1:6379') })
 */
export const redisBackbone = (options: string | RedisBackboneOptions): RedisBackbone =>
  new RedisStreamsBackbone(typeof options === 'string' ? { url: options } : options)

class RedisStreamsBackbone implements RedisBackbone {
  readonly stats: RedisBackboneStats = {
    published: 0,
    poison: 0,
    resyncs: 0,
    snapshots: 0,
    gaps: 0,
    cleanups: 0,
    connects: 0,
    presencePublished: 0,
    presenceReceived: 0,
    presencePoison: 0,
    presenceRefused: 0,
    presenceDropped: 0,
  }
  #options: RedisBackboneOptions
  #keys: Keys
  #host: BackboneHost | undefined
  #writer: Redis | undefined
  #reader: Redis | undefined
  #logs: RoomLogs | undefined
  #instances: InstanceManager | undefined
  #presence: Presence | undefined
  #closed = false
  #loop: Promise<void> | undefined
  #beating = false
  #unsubscribe: Array<() => void> = []
  /** Set on every (re)connect: the room registry is read before the rooms. */
  #registryStale = true
  #roomLogPosition = '0-0'
  #readerId: number | undefined
  /** Grows after every read, so a wake-up knows whether the read it meant to end already ended. */
  #reads = 0
  #blocking = false
  #wakeUp: (() => void) | undefined

  constructor(options: RedisBackboneOptions) {
    if (typeof options.url !== 'string' || !/^rediss?:\/\//.test(options.url)) {
      throw new TypeError(`redisBackbone needs a redis:// or rediss:// URL; got ${JSON.stringify(options.url)}`)
    }
    this.#options = options
    this.#keys = new Keys(options.prefix ?? 'mesh')
  }

  get connected(): boolean {
    return this.#writer?.status === 'ready'
  }

  start(host: BackboneHost): void {
    if (this.#host) throw new Error('a redisBackbone serves one node; make one per node')
    this.#host = host
    const connection: RedisOptions = {
      ...this.#options.redis,
      lazyConnect: false,
      // RESP2: replies have the shapes the parsers expect (RESP3 would flatten XREAD's map).
      protocol: 2,
      enableOfflineQueue: false,
      autoResendUnfulfilledCommands: false,
      maxRetriesPerRequest: 0,
      retryStrategy: (attempt) => (this.#closed ? null : backoff(attempt)),
      connectionName: `mesh:${host.id}`.slice(0, 100),
    }
    const writer = (this.#writer = new Redis(this.#options.url, connection))
    const reader = (this.#reader = new Redis(this.#options.url, connection))
    const logs = (this.#logs = new RoomLogs(host, {
      keys: this.#keys,
      writer,
      snapshotEvery: this.#options.snapshotEvery ?? 1000,
      connected: () => this.connected,
      stats: this.stats,
    }))
    const presence = (this.#presence = new Presence(host, {
      keys: this.#keys,
      url: this.#options.url,
      connection,
      writer,
      stats: this.stats,
    }))
    const instances = (this.#instances = new InstanceManager(host, {
      keys: this.#keys,
      redis: writer,
      stats: this.stats,
      presence,
    }))
    for (const [name, redis] of [
      ['writer', writer],
      ['reader', reader],
    ] as const) {
      redis.on('error', (error: unknown) => {
        if (!this.#closed) host.logger.debug('redis connection error', { connection: name, error: errorText(error) })
      })
      redis.on('close', () => {
        if (this.#closed) return
        if (name === 'writer') presence.lost()
        logs.lost()
        this.#registryStale = true
        this.#wake()
      })
      redis.on('ready', () => {
        if (name === 'writer') {
          this.stats.connects++
          host.logger.info('connected to redis', { url: redactUrl(this.#options.url) })
          this.#beat()
        } else {
          this.#readerId = undefined
          reader.client('ID').then(
            (id) => (this.#readerId = id),
            () => undefined,
          )
        }
        this.#wake()
      })
    }
    for (const name of host.rooms()) logs.add(name)
    this.#unsubscribe.push(
      host.onRoom((name) => {
        presence.opened(name)
        if (!logs.add(name)) return
        if (this.connected) this.#guard('room registry', () => this.#announce(name))
        this.#wake()
      }),
      host.onUpdate((room, update, source) => {
        // A peer on the backbone published it itself; a peer off it has only this bridge.
        if (source.kind === 'peer' && instances.onBackbone(source.peer)) return
        logs.publish(room, update)
      }),
      host.onAwareness((room, update) => presence.publish(room, update)),
      // On the node's own heartbeat rather than a timer: an idle node wakes once per heartbeat.
      host.onHeartbeat(() => this.#beat()),
    )
    presence.start()
    this.#loop = this.#run()
  }

  /** One heartbeat round, unless Redis is away or the last round has not finished (a slow Redis). */
  #beat(): void {
    const instances = this.#instances
    if (!instances || !this.connected || this.#beating) return
    this.#beating = true
    this.#guard('heartbeat', () => instances.round().finally(() => (this.#beating = false)))
  }

  settled(): Promise<void> {
    return this.#logs?.settled() ?? Promise.resolve()
  }

  clean(id: string): Promise<boolean> {
    return this.#instances?.clean(id) ?? Promise.resolve(false)
  }

  lightPresence(): Promise<Map<string, unknown[]>> {
    return this.#instances?.lightPresence() ?? Promise.resolve(new Map<string, unknown[]>())
  }

  async close(): Promise<void> {
    if (this.#closed || !this.#host) return
    const host = this.#host
    for (const off of this.#unsubscribe) off()
    await this.#presence?.close()
    try {
      // The node's last writes (its ephemeral keys removed) and its leave record.
      await this.settled()
      if (this.connected) await this.#instances?.renew()
    } catch (error) {
      host.logger.warn('backbone could not hand over its last writes', { error: errorText(error) })
    }
    this.#closed = true
    this.#wake()
    this.#reader?.disconnect()
    await this.#writer?.quit().catch(() => this.#writer?.disconnect())
    await this.#loop
  }

  /** True once closing (read anew after every await: close() may have run meanwhile). */
  #stopped(): boolean {
    return this.#closed
  }

  /** Reads the logs of every room until closed: resync what needs it, then one blocking XREAD over all. */
  async #run(): Promise<void> {
    const host = this.#host
    const reader = this.#reader
    const logs = this.#logs
    if (!host || !reader || !logs) return
    let failures = 0
    while (!this.#closed) {
      try {
        if (reader.status !== 'ready' || !this.connected) {
          await this.#sleep(undefined)
          continue
        }
        if (this.#registryStale) await this.#readRegistry(reader)
        const unsynced = logs.unsynced()
        if (unsynced.length > 0) {
          await this.#sleep(Math.random() * (this.#options.resyncJitterMs ?? 250))
          for (const room of unsynced) if (!this.#stopped()) await logs.resync(reader, room)
          continue
        }
        await this.#read(reader, logs)
        failures = 0
      } catch (error) {
        if (this.#stopped()) break
        host.logger.warn('backbone read failed; rooms resync once redis answers', { error: errorText(error) })
        logs.lost()
        this.#registryStale = true
        await this.#sleep(backoff(failures++))
      }
    }
  }

  async #read(reader: Redis, logs: RoomLogs): Promise<void> {
    const host = this.#host
    if (!host) return
    const blockMs = this.#options.blockMs ?? 30_000
    const positions = logs.positions()
    const keys = positions.map(([room]) => this.#keys.log(room))
    const rooms = new Map(keys.map((key, i) => [key, positions[i]?.[0] ?? '']))
    this.#blocking = true
    let reply: unknown
    try {
      reply = await reader.callBuffer(
        'XREAD',
        'COUNT',
        this.#options.batch ?? 1000,
        'BLOCK',
        logs.pending() ? Math.min(blockMs, PENDING_RESYNC_MS) : blockMs,
        'STREAMS',
        this.#keys.roomLog,
        ...keys,
        this.#roomLogPosition,
        ...positions.map(([, position]) => position),
      )
    } finally {
      this.#blocking = false
      this.#reads++
    }
    if (!Array.isArray(reply)) return
    for (const stream of reply as unknown[]) {
      if (!Array.isArray(stream) || stream.length !== 2) continue
      const [rawKey, entries] = stream as [unknown, unknown]
      const key = Buffer.isBuffer(rawKey) ? rawKey.toString('utf8') : String(rawKey)
      if (key === this.#keys.roomLog) this.#readAnnouncements(entries)
      else {
        const room = rooms.get(key)
        if (room !== undefined) logs.read(room, entries)
      }
    }
  }

  /** Reads the set of every room (rooms created while this node was away) and where their announcements stand. */
  async #readRegistry(reader: Redis): Promise<void> {
    const host = this.#host
    if (!host) return
    const [members, last] = await Promise.all([
      reader.smembers(this.#keys.rooms),
      reader.xrevrange(this.#keys.roomLog, '+', '-', 'COUNT', 1),
    ])
    this.#roomLogPosition = last[0]?.[0] ?? '0-0'
    for (const name of members.slice(0, 100_000)) this.#openRoom(name)
    const writer = this.#writer
    if (writer) for (const name of host.rooms()) await this.#announce(name)
    this.#registryStale = false
  }

  #readAnnouncements(reply: unknown): void {
    const { entries } = readEntries(reply)
    for (const { id, fields } of entries) {
      this.#roomLogPosition = id
      const [key, value] = fields
      if (Buffer.isBuffer(key) && key.toString('latin1') === 'r' && Buffer.isBuffer(value)) {
        this.#openRoom(value.toString('utf8'))
      }
    }
  }

  #openRoom(name: string): void {
    const host = this.#host
    if (!host || host.closed) return
    try {
      host.openRoom(name)
    } catch (error) {
      host.count('backbone-room-refused')
      host.logger.warn('refused a room announced on the backbone', { room: name.slice(0, 40), error: errorText(error) })
    }
  }

  async #announce(room: string): Promise<void> {
    const writer = this.#writer
    if (!writer) return
    const added = await writer.sadd(this.#keys.rooms, room)
    if (added === 1) await writer.xadd(this.#keys.roomLog, 'MAXLEN', '~', 1000, '*', 'r', room)
  }

  /** Ends a blocking read early (a room was added, the connection changed, closing). */
  #wake(): void {
    this.#wakeUp?.()
    const writer = this.#writer
    const readerId = this.#readerId
    if (!this.#blocking || readerId === undefined || !writer || writer.status !== 'ready') return
    const reads = this.#reads
    const unblock = (tries: number): void => {
      writer.client('UNBLOCK', readerId).then(
        (unblocked) => {
          // The UNBLOCK can overtake the XREAD it meant to end: try again while that read is pending.
          if (unblocked === 0 && this.#reads === reads && this.#blocking && tries < 20) {
            setTimeout(() => unblock(tries + 1), 10).unref()
          }
        },
        () => undefined,
      )
    }
    unblock(0)
  }

  /** Waits `ms`, or until woken when undefined; either ends early on a wake-up. */
  #sleep(ms: number | undefined): Promise<void> {
    return new Promise((resolve) => {
      const timer = ms === undefined ? undefined : setTimeout(done, ms)
      function done(): void {
        clearTimeout(timer)
        resolve()
      }
      this.#wakeUp = done
    })
  }

  #guard(where: string, work: () => Promise<unknown>): void {
    work().catch((error: unknown) => {
      if (this.#closed) return
      this.#host?.logger.warn(`backbone ${where} failed`, { error: errorText(error) })
    })
  }
}

/** The URL without its password, for logs. */
const redactUrl = (url: string): string => url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@')
