/**
 * Where the backbone keeps things in Redis. Every key of one room shares the hash tag
 * `{<room>}`, so a Redis Cluster keeps a room's log, counter, snapshot and lock in one slot (a Lua
 * script may touch them together); membership keys share `{m}` and the room registry `{r}`.
 * Room names cannot hold braces (core refuses them), so the tag is always the room name.
 */
export class Keys {
  readonly prefix: string

  constructor(prefix: string) {
    this.prefix = prefix
  }

  /** The stream of a room's updates. */
  log(room: string): string {
    return `${this.prefix}:{${room}}:log`
  }

  /** The counter that numbers a room's log entries. */
  seq(room: string): string {
    return `${this.prefix}:{${room}}:seq`
  }

  /** The hash holding a room's snapshot: `state` (a V2 update) and `id` (the last log entry it covers). */
  snapshot(room: string): string {
    return `${this.prefix}:{${room}}:snap`
  }

  /** The lock one node holds while it takes a room's snapshot. */
  snapshotLock(room: string): string {
    return `${this.prefix}:{${room}}:snaplock`
  }

  /** The set of every room name. */
  get rooms(): string {
    return `${this.prefix}:{r}:set`
  }

  /** The stream announcing new rooms. */
  get roomLog(): string {
    return `${this.prefix}:{r}:log`
  }

  /** A node's heartbeat: its member record, expiring when the node stops renewing it. */
  heartbeat(id: string): string {
    return `${this.prefix}:{m}:hb:${id}`
  }

  /** Sorted set of registered nodes, scored by their last heartbeat (ms since the epoch). */
  get members(): string {
    return `${this.prefix}:{m}:all`
  }

  /** A node's light peers (tabs) as members, expiring with its heartbeat. */
  lights(id: string): string {
    return `${this.prefix}:{m}:lights:${id}`
  }

  /** The Pub/Sub channel of light peers' presence (a channel, not a key: nothing is stored). */
  get presence(): string {
    return `${this.prefix}:{p}:presence`
  }

  /** The lock of the one cleaner of a dead node. */
  cleanLock(id: string): string {
    return `${this.prefix}:{m}:clean:${id}`
  }
}
