/**
 * The IPC operations each kind of bench child process serves. All times are
 * {@link import('./clock.js').now} values of the child's clock; the parent corrects them
 * with the measured clock offset.
 */
import type { PauseStats } from './pause-watch.js'

/** Memory figures after two full garbage collections. */
export interface HeapFigures {
  heapUsed: number
  rss: number
  external: number
  arrayBuffers: number
}

/**
 * What a churn run reports: `writes` overwrites of `keys` hot keys, one write per event-loop
 * turn, with the live heap (after full GCs) once the hot keys exist and after the overwrites.
 */
export interface ChurnResult {
  ms: number
  /** CPU time of the process during the overwrites, µs. */
  cpuUs: number
  before: HeapFigures
  after: HeapFigures
  /** The whole document encoded as a V2 update, bytes. */
  stateBytes: number
}

/**
 * What a run of distinct keys reports: `count` new keys in transactions of `batch` (one per
 * event-loop turn), with the time of the first and the last tenth of the keys (a write cost
 * that grows with the store shows as a slower last tenth) and the live heap before and after.
 */
export interface DistinctResult {
  ms: number
  firstTenthMs: number
  lastTenthMs: number
  cpuUs: number
  before: HeapFigures
  after: HeapFigures
}

/** Arguments of a churn run. */
export interface ChurnArgs {
  keys: number
  writes: number
}

/** Arguments of a run of distinct keys. */
export interface DistinctArgs {
  prefix: string
  count: number
  batch: number
}

/** What a put loop reports. */
export interface PutLoopResult {
  startAt: number
  endAt: number
}

/**
 * A write loop: `count` keys named `${prefix}${i}`, written `perTurn` keys per event-loop
 * turn, as one put per key (`batch` 1) or as put(object) of `batch` keys.
 */
export interface PutLoopArgs {
  prefix: string
  count: number
  batch: number
  perTurn: number
}

/** Arms a counter of applied keys; `timesPrefix` also records when each `${prefix}${i}` arrived. */
export interface ArmArgs {
  count: number
  timesPrefix?: string
}

/** When the armed counter was reached, and the arrival times if they were asked for. */
export interface WaitResult {
  doneAt: number
  times?: number[]
}

/** A node's duplicate counters (`status().relays`). */
export interface RelayCounts {
  duplicatesApplied: number
  duplicatesDropped: number
}

/** One peer link, as a worker sees it. */
export interface LinkInfo {
  id: string | null
  name: string | null
  link: string
}

/** Operations of `worker.js`: one Mesh node (`@mesh/core`) under the bench's control. */
export type NodeOps = {
  now: { args: null; result: number }
  /** CPU time this process used so far (user + system), in microseconds. */
  cpu: { args: null; result: number }
  /** The node's duplicate counters so far (issue 19): live updates received with nothing new, relays left out. */
  relays: { args: null; result: RelayCounts }
  join: { args: { urls: string[]; timeoutMs?: number }; result: null }
  /** Waits until every link of this node finished its initial sync. */
  settle: { args: null; result: null }
  links: { args: null; result: LinkInfo[] }
  /** Alive node members this node knows, itself included. */
  members: { args: null; result: number }
  /** Keys in room `default`. */
  size: { args: null; result: number }
  /** Records a CPU profile of this process for `ms` and writes it to `file` (`.cpuprofile`). */
  profile: { args: { ms: number; file: string }; result: null }
  arm: { args: ArmArgs; result: null }
  wait: { args: { timeoutMs: number }; result: WaitResult }
  'put-loop': { args: PutLoopArgs; result: PutLoopResult }
  /** Starts watching GC and event-loop delay (`watch: true`), or stops and returns what it saw. */
  watch: { args: { on: boolean }; result: PauseStats | null }
  /** Writes `${prefix}${i}` at a fixed rate; returns when each write was made. */
  paced: { args: { prefix: string; count: number; rate: number }; result: { sent: number[] } }
  /** Writes `count` keys as fast as possible, `batch` per put(object) (to build a big room). */
  fill: { args: { prefix: string; count: number; batch: number }; result: { ms: number } }
  heap: { args: null; result: HeapFigures }
  /** Joins `url`, waits until synced and holding `keys` keys; heap before and after. */
  'cold-join': {
    args: { url: string; keys: number; timeoutMs: number }
    /** `cpuUs`: the joining process's CPU time (user + system) during the join. */
    result: { ms: number; cpuUs: number; before: HeapFigures; after: HeapFigures; keys: number }
  }
  /** One put; returns when it was made. */
  write: { args: { key: string; value: number }; result: { at: number } }
  /** Overwrites hot keys with `await node.put(key, value)`, one put per event-loop turn. */
  churn: { args: ChurnArgs; result: ChurnResult }
  /** Writes distinct keys with `await node.put(object)` of `batch` keys, one per event-loop turn. */
  distinct: { args: DistinctArgs; result: DistinctResult }
  close: { args: null; result: null }
} & RoutingOps &
  RecipeOps

/** Operations of `worker.js` for routed calls and pub/sub (routing-ops.ts). */
export type RoutingOps = {
  /** Declares capabilities, then waits until `members` alive nodes declare them all. */
  capabilities: { args: { capabilities: string[]; members: number }; result: null }
  /** `count` ids of `capability` that other nodes own. */
  'remote-ids': { args: { capability: string; count: number }; result: string[] }
  /** `count` calls to the `echo` actor of `ids` (round robin), `inflight` at a time. */
  'call-loop': { args: { ids: string[]; count: number; inflight: number }; result: PutLoopResult }
  /**
   * The same at a fixed `rate` (calls/s), paced without spinning; the latency of each call in ms
   * from when it was due, and the p99 of how late calls went out.
   */
  'call-paced': {
    args: { ids: string[]; count: number; rate: number; inflight: number }
    result: PutLoopResult & { latencies: number[]; sendLateP99: number }
  }
  /** `count` calls to `fresh` actors of new ids, `inflight` at a time: each starts an actor. */
  activate: { args: { prefix: string; count: number; inflight: number }; result: PutLoopResult }
  /** Subscribes to `topic` and counts messages up to `count`. */
  'sub-arm': { args: { topic: string; count: number }; result: null }
  'sub-wait': { args: { timeoutMs: number }; result: { doneAt: number } }
  /** Publishes `count` messages, `perTurn` per event-loop turn. */
  'publish-loop': { args: { topic: string; count: number; perTurn: number }; result: PutLoopResult }
}

/** Operations of `worker.js` for the recipes (recipe-ops.ts). */
export type RecipeOps = {
  /** Declares `mesh.lease` (enableLeases), then waits until `members` alive nodes declare it. */
  'enable-leases': { args: { members: number }; result: null }
  /** Acquires and releases a lease another node owns, `count` times in a row; each acquire's latency in ms. */
  'lease-loop': { args: { count: number }; result: PutLoopResult & { latencies: number[] } }
  /** `count` takes of a local rate limiter (one key, a limit never reached), in a tight loop. */
  'take-loop': { args: { count: number }; result: PutLoopResult }
}

/**
 * Operations of `layout-worker.js`: a bare `Y.Doc` holding keys in one layout (`--layout map`:
 * a `Y.Map`; `--layout array`: `{ key, val }` entries in a `Y.Array`, a write deleting the
 * key's previous entry by its id), no Mesh. It serves its whole state to anyone who opens a
 * WebSocket to it, so another one can cold-join it.
 */
export type LayoutOps = {
  now: { args: null; result: number }
  churn: { args: ChurnArgs; result: ChurnResult }
  distinct: { args: DistinctArgs; result: DistinctResult }
  /** Opens a WebSocket to `url`, applies the state it sends, and reports heap and time. */
  'cold-join': {
    args: { url: string; keys: number; timeoutMs: number }
    /** `cpuUs`: the joining process's CPU time (user + system) during the join. */
    result: { ms: number; cpuUs: number; before: HeapFigures; after: HeapFigures; keys: number }
  }
  close: { args: null; result: null }
}

/** Operations of `baseline-worker.js` in role `naive` (plain Y.Doc + ws) or `ws` (raw sockets). */
export type BaselineOps = {
  now: { args: null; result: number }
  cpu: { args: null; result: number }
  /** naive: dial these peers (a full mesh needs each pair dialed once). ws: the source dials the sink. */
  connect: { args: { urls: string[] }; result: null }
  /** naive: counts applied keys; ws sink: counts received messages. */
  arm: { args: ArmArgs; result: null }
  wait: { args: { timeoutMs: number }; result: WaitResult }
  'put-loop': { args: PutLoopArgs; result: PutLoopResult }
  /** ws source: sends `count` binary messages of `size` bytes, one per send, no batching. */
  blast: { args: { count: number; size: number }; result: PutLoopResult }
  /** ws echo: the sink sends every message back. */
  echo: { args: null; result: null }
  /** ws source: `count` request/response round trips of `size` bytes, `inflight` at a time. */
  rpc: { args: { count: number; size: number; inflight: number }; result: PutLoopResult }
  /** ws source: the same at a fixed `rate` (requests/s), at most `inflight` at a time; each one's latency from when it was due. */
  'rpc-paced': {
    args: { count: number; size: number; rate: number; inflight: number }
    result: PutLoopResult & { latencies: number[]; sendLateP99: number }
  }
  close: { args: null; result: null }
}

/** Operations of `light-client.js`: many y-websocket-protocol sockets on one room. */
export type LightOps = {
  now: { args: null; result: number }
  /** Opens `sockets` connections to `url` and completes the sync handshake on each. */
  open: { args: { url: string; sockets: number }; result: null }
  close: { args: null; result: null }
}

/** Events of `light-client.js`. */
export type LightEvents = {
  /** Every socket of this process received update number `index` (0-based); the last one at `lastAt`. */
  fanout: { index: number; lastAt: number }
}

/** Operations of `ywebsocket-worker.js`, the Yjs reference server (`@y/websocket-server`). */
export type YWebsocketOps = {
  now: { args: null; result: number }
  /** CPU time this process used so far (user + system), in microseconds. */
  cpu: { args: null; result: number }
  /** Sets `key` in room `room`'s shared doc on the server; returns when. */
  write: { args: { room: string; key: string; value: number }; result: { at: number } }
  /** Versions of `@y/websocket-server` and of the `ws` it runs on. */
  version: { args: null; result: { server: string; ws: string } }
  close: { args: null; result: null }
}
