import { errorText } from '@mesh/core'
import type { BackboneHost, EncodedUpdate } from '@mesh/core'
import type { Redis } from 'ioredis'
import {
  compareIds,
  entryFields,
  MAX_ENTRY_UPDATES,
  parseEntry,
  PoisonEntry,
  readEntries,
  type LogEntry,
} from './entries.js'
import type { Keys } from './keys.js'
import { withLock } from './lock.js'

/**
 * Appends an entry numbered by the room's counter, atomically: log order and numbers agree.
 * KEYS: log, counter. ARGV: the entry's fields.
 */
const PUBLISH = `
local seq = redis.call('INCR', KEYS[2])
return redis.call('XADD', KEYS[1], '*', 's', seq, unpack(ARGV))
`

/**
 * Stores a room's snapshot and trims its log in one step, so the log never loses an entry the
 * stored snapshot does not cover: only a snapshot newer than the stored one is kept, and only
 * entries older than the last one it covers are trimmed (`MINID`). A reader still behind sees
 * the numbers skip and reads the room anew.
 * KEYS: snapshot hash, log. ARGV: state, id of the last entry it covers.
 */
const STORE_AND_TRIM = `
local function older(a, b)
  local ams, aseq = string.match(a, '^(%d+)-(%d+)$')
  local bms, bseq = string.match(b, '^(%d+)-(%d+)$')
  if tonumber(ams) ~= tonumber(bms) then return tonumber(ams) < tonumber(bms) end
  return tonumber(aseq) < tonumber(bseq)
end
local current = redis.call('HGET', KEYS[1], 'id')
if current and not older(current, ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], 'state', ARGV[1], 'id', ARGV[2])
redis.call('XTRIM', KEYS[2], 'MINID', ARGV[2])
return 1
`

/** One room's place in its log. */
interface RoomLog {
  /** Id of the last entry read (or covered by the snapshot loaded); `0-0` for the start. */
  position: string
  /** Number of the last entry read; the next must be one more. */
  seq: number
  /** False until the room was read from Redis since the last connect (or gap): then it resyncs. */
  synced: boolean
  /** Updates applied here and waiting to be published this tick. */
  queue: Uint8Array[]
  /** Entries read since the last snapshot, to decide when to take the next. */
  sinceSnapshot: number
  snapshotting: boolean
  /** When the room was last resynced, ms: a gap nobody can fill is not chased more often than {@link PENDING_RESYNC_MS}. */
  resyncedAt: number
}

/** Least time between two resyncs of a room that stays pending. */
export const PENDING_RESYNC_MS = 5000

/** What the room logs need from the backbone around them. */
export interface RoomLogsOptions {
  keys: Keys
  /** Connection for writes (XADD, snapshots). */
  writer: Redis
  /** Entries read before a snapshot of the room is taken and its log trimmed. */
  snapshotEvery: number
  /** Whether the writer may be used now. */
  connected(): boolean
  /** Counters of the backbone. */
  stats: { published: number; poison: number; resyncs: number; snapshots: number; gaps: number }
}

/**
 * The rooms' logs: publishing this node's updates (batched per tick, one XADD per room),
 * applying what others published, resyncing a room from its snapshot and log tail, and
 * taking snapshots that let the log be trimmed.
 */
export class RoomLogs {
  #host: BackboneHost
  #o: RoomLogsOptions
  #rooms = new Map<string, RoomLog>()
  #flushScheduled = false
  #inFlight = new Set<Promise<unknown>>()

  constructor(host: BackboneHost, options: RoomLogsOptions) {
    this.#host = host
    this.#o = options
  }

  /** Starts following a room (unsynced: the next read resyncs it). */
  add(room: string): boolean {
    if (this.#rooms.has(room)) return false
    this.#rooms.set(room, {
      position: '0-0',
      seq: 0,
      synced: false,
      queue: [],
      sinceSnapshot: 0,
      snapshotting: false,
      resyncedAt: 0,
    })
    return true
  }

  names(): string[] {
    return [...this.#rooms.keys()]
  }

  /** The rooms to read and from where (XREAD STREAMS keys... ids...). */
  positions(): Array<[room: string, position: string]> {
    return [...this.#rooms].map(([name, log]) => [name, log.position])
  }

  /** Rooms that must be read from their snapshot before their log is followed again. */
  unsynced(): string[] {
    const now = Date.now()
    return [...this.#rooms].flatMap(([name, log]) => {
      if (!log.synced) return [name]
      // Something an entry builds on never arrived here: read the room anew, now and then.
      if (now - log.resyncedAt > PENDING_RESYNC_MS && this.#host.pending(name)) {
        this.#o.stats.gaps++
        return [name]
      }
      return []
    })
  }

  /** True while a room holds updates whose dependencies never arrived: reads must not block for long. */
  pending(): boolean {
    for (const name of this.#rooms.keys()) if (this.#host.pending(name)) return true
    return false
  }

  /** Connection lost: every room resyncs once it is back. */
  lost(): void {
    for (const log of this.#rooms.values()) {
      log.synced = false
      log.queue = []
    }
  }

  /** Queues an update applied here for the next tick's XADD. */
  publish(room: string, update: Uint8Array): void {
    const log = this.#rooms.get(room)
    if (!log) return
    log.queue.push(update)
    if (this.#flushScheduled) return
    this.#flushScheduled = true
    setImmediate(() => this.flush())
  }

  /** Publishes the queued updates, one entry per room. Unconnected, they wait for the resync, which publishes all a room lacks. */
  flush(): void {
    this.#flushScheduled = false
    for (const [room, log] of this.#rooms) {
      if (log.queue.length === 0) continue
      const updates = log.queue
      log.queue = []
      if (!this.#o.connected()) {
        log.synced = false
        continue
      }
      for (let i = 0; i < updates.length; i += MAX_ENTRY_UPDATES) {
        this.#track(
          this.#append(room, 'v1', updates.slice(i, i + MAX_ENTRY_UPDATES)).catch((error: unknown) => {
            log.synced = false
            this.#host.logger.warn('backbone publish failed; the room resyncs on reconnect', {
              room,
              error: errorText(error),
            })
          }),
        )
      }
    }
  }

  async #append(room: string, format: 'v1' | 'v2', updates: Uint8Array[]): Promise<void> {
    const keys = this.#o.keys
    await this.#o.writer.eval(
      PUBLISH,
      2,
      keys.log(room),
      keys.seq(room),
      ...entryFields(this.#host.id, format, updates),
    )
    this.#o.stats.published++
  }

  /** Resolves once every publish started so far has been answered. */
  async settled(): Promise<void> {
    this.flush()
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight])
  }

  #track(promise: Promise<unknown>): void {
    this.#inFlight.add(promise)
    void promise.finally(() => this.#inFlight.delete(promise))
  }

  /**
   * Reads a room anew: its snapshot and the whole log tail (one MULTI, so they agree), applies
   * them, then publishes what this node holds that they lack, so the backbone's view catches up
   * with writes made while it was unreachable or trimmed away.
   */
  async resync(reader: Redis, room: string): Promise<void> {
    const log = this.#rooms.get(room)
    if (!log) return
    const keys = this.#o.keys
    const replies = await reader
      .multi()
      .hgetallBuffer(keys.snapshot(room))
      .xrangeBuffer(keys.log(room), '-', '+')
      .get(keys.seq(room))
      .exec()
    const [snapshotReply, tailReply, seqReply] = replies ?? []
    const failed = snapshotReply?.[0] ?? tailReply?.[0] ?? seqReply?.[0]
    if (failed) throw failed
    const view: EncodedUpdate[] = []
    const snapshot = snapshotReply?.[1] as Record<string, Buffer> | undefined
    let position = '0-0'
    const snapshotId = snapshot?.id?.toString('latin1')
    if (snapshot?.state && snapshotId !== undefined && /^\d+-\d+$/.test(snapshotId)) {
      const state = { update: new Uint8Array(snapshot.state), format: 'v2' as const }
      if (this.#apply(room, snapshotId, state)) view.push(state)
      position = snapshotId
    }
    const { entries, bad } = readEntries(tailReply?.[1])
    this.#poison(room, bad)
    for (const { id, fields } of entries) {
      const entry = this.#parse(room, id, fields)
      if (entry) {
        // Its own entries too: a node restarted with the same id (the `id` option) lost them.
        for (const update of entry.updates) {
          const encoded = { update, format: entry.format }
          if (this.#apply(room, id, encoded)) view.push(encoded)
        }
      }
      if (compareIds(id, position) > 0) position = id
    }
    log.position = position
    log.seq = Number(seqReply?.[1] ?? 0) || 0
    log.synced = true
    log.resyncedAt = Date.now()
    log.sinceSnapshot = entries.length
    this.#o.stats.resyncs++
    const missing = this.#host.missingFrom(room, view)
    if (missing) await this.#append(room, 'v2', [missing])
  }

  /** Applies a batch of entries XREAD returned for a room. */
  read(room: string, reply: unknown): void {
    const log = this.#rooms.get(room)
    if (!log || !log.synced) return
    const { entries, bad } = readEntries(reply)
    this.#poison(room, bad)
    for (const { id, fields } of entries) {
      if (compareIds(id, log.position) <= 0) continue
      const entry = this.#parse(room, id, fields)
      if (entry) {
        if (entry.seq !== log.seq + 1) {
          // Entries were trimmed before this node read them, or lost: read the room anew.
          this.#o.stats.gaps++
          log.synced = false
          return
        }
        log.seq = entry.seq
        if (entry.node !== this.#host.id) {
          for (const update of entry.updates) this.#apply(room, id, { update, format: entry.format })
        }
      }
      log.position = id
      log.sinceSnapshot++
    }
    if (log.sinceSnapshot >= this.#o.snapshotEvery) this.#snapshot(room, log)
  }

  #parse(room: string, id: string, fields: unknown[]): LogEntry | undefined {
    try {
      return parseEntry(id, fields)
    } catch (error) {
      this.#refused(room, id, error)
      return undefined
    }
  }

  #apply(room: string, id: string, encoded: EncodedUpdate): boolean {
    try {
      this.#host.apply(room, encoded.update, encoded.format)
      return true
    } catch (error) {
      this.#refused(room, id, error)
      return false
    }
  }

  #refused(room: string, id: string, error: unknown): void {
    this.#o.stats.poison++
    this.#host.count('backbone-poison-entry')
    this.#host.logger.warn('skipped a backbone log entry that cannot be applied', {
      room,
      id,
      error: error instanceof PoisonEntry ? error.message : errorText(error),
    })
  }

  #poison(room: string, n: number): void {
    if (n === 0) return
    this.#host.logger.warn('skipped malformed backbone log entries', { room, count: n })
    this.#o.stats.poison += n
    for (let i = 0; i < n; i++) this.#host.count('backbone-poison-entry')
  }

  /**
   * Takes the room's snapshot (one node at a time, under a lock) and trims the log behind it.
   * The snapshot is this node's whole state, taken together with its position, so it covers
   * every entry up to that position that applied here.
   */
  #snapshot(room: string, log: RoomLog): void {
    if (log.snapshotting || !this.#o.connected() || this.#host.pending(room)) return
    log.snapshotting = true
    const keys = this.#o.keys
    const writer = this.#o.writer
    const work = withLock(writer, keys.snapshotLock(room), 30_000, async () => {
      const position = log.position
      const state = this.#host.encodeState(room)
      if (!state || position === '0-0') return
      const stored = await writer.eval(
        STORE_AND_TRIM,
        2,
        keys.snapshot(room),
        keys.log(room),
        Buffer.from(state.buffer, state.byteOffset, state.byteLength),
        position,
      )
      if (stored === 1) this.#o.stats.snapshots++
    })
    this.#track(
      work
        .catch((error: unknown) => {
          this.#host.logger.warn('backbone snapshot failed', { room, error: errorText(error) })
        })
        .finally(() => {
          log.snapshotting = false
        }),
    )
  }
}
