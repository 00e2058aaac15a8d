import type { Logger } from '../common/index.js'
import type { Member, MemberRecord } from '../membership/index.js'
import type { EncodedUpdate, UpdateFormat } from '../replication/index.js'

/**
 * Where an update a room applied came from, as a backbone needs to know it to publish each
 * update once: `local` for this node's own writes (its store API, its light peers, write-backs),
 * `peer` for one relayed by a peer link. Updates read from the backbone itself are never reported.
 */
export type UpdateSource = { kind: 'local' } | { kind: 'peer'; peer: string }

/**
 * What a node hands its backbone (`MeshNodeOptions.backbone`): its rooms' updates as they are
 * applied, the way to apply what the backbone carries, state to compare with the backbone's
 * view of a room, and its membership. Every method is safe to call at any time; once the node
 * closed, they do nothing or return nothing.
 */
export interface BackboneHost {
  readonly id: string
  readonly name: string
  readonly logger: Logger
  /** The node's heartbeat interval and the silence after which a member is dead, ms. */
  readonly heartbeatMs: number
  readonly deadAfterMs: number
  readonly closed: boolean
  /** Names of the rooms this node hosts. */
  rooms(): string[]
  /** Hosts a room the backbone knows of (creating it if needed); throws a MeshError for a bad name or past `maxRooms`. */
  openRoom(name: string): void
  /** Calls `listener` for every room created on this node from now on; returns the unsubscribe function. */
  onRoom(listener: (room: string) => void): () => void
  /**
   * Calls `listener` on every heartbeat of the node (every `heartbeatMs`, jittered by ±20%), in
   * the same turn as the node's own heartbeat work: a backbone that renews its membership then
   * wakes an idle node once per heartbeat instead of on a timer of its own. Returns the unsubscribe function.
   */
  onHeartbeat(listener: (now: number) => void): () => void
  /** Calls `listener` with every V1 update a room applies that did not come from the backbone. */
  onUpdate(listener: (room: string, update: Uint8Array, source: UpdateSource) => void): () => void
  /** Applies an update read from the backbone (creating the room if needed); throws, nothing applied, if it is refused. */
  apply(room: string, update: Uint8Array, format: UpdateFormat): void
  /** The room's whole state as one V2 update; undefined when the room is empty or not hosted. */
  encodeState(room: string): Uint8Array | undefined
  /** What the room holds that `view` (the backbone's snapshot and log) lacks, as a V2 update; undefined when nothing. */
  missingFrom(room: string, view: readonly EncodedUpdate[]): Uint8Array | undefined
  /** True while the room holds updates whose dependencies never arrived: the backbone should resync it. */
  pending(room: string): boolean
  /** This node's member record; its heartbeat counter rises on every heartbeat. */
  self(): MemberRecord
  /**
   * Feeds member records read from the backbone into failure detection, as gossip would.
   * Each is checked like gossip from a socket; a malformed one is counted and left out.
   */
  receiveMembers(records: readonly unknown[]): void
  /** Removes, in every room, the ephemeral keys `owner` holds; returns how many. */
  removeEphemeral(owner: string): number
  /** The light peers (tabs) connected to this node, as members. */
  lightMembers(): Member[]
  /**
   * Calls `listener` with every change to the awareness states this node's light peers own
   * (added, renewed, updated, removed), coalesced per room and tick into one y-protocols
   * awareness update. States applied from the backbone are never reported.
   */
  onAwareness(listener: (room: string, update: Uint8Array) => void): () => void
  /** The awareness states this node's light peers own in a room, as one update; undefined when none. */
  lightAwareness(room: string): Uint8Array | undefined
  /**
   * Applies an awareness update that node `fromNode` published, owned by that node until it
   * removes the states or {@link dropAwareness} drops them. Leaves out entries for client ids
   * this node's light peers own and new ids past the room's awareness cap, and returns how many
   * (0 for a room this node does not host); skips removals of states it does not hold from
   * that node. Throws, nothing applied, on malformed bytes.
   */
  applyAwareness(room: string, update: Uint8Array, fromNode: string): number
  /** Removes, in every room, the awareness states applied from `fromNode` (it died or left); returns how many. */
  dropAwareness(fromNode: string): number
  /** Adds one to the node's counter of caught errors at `where` (`mesh_internal_errors_total`); logs nothing. */
  count(where: string): void
}

/**
 * A shared transport between nodes beside (or instead of) peer links, such as `@mesh/redis`.
 * The node calls `start` once it is built and `close` when it leaves, after its last writes
 * (the removal of its ephemeral keys) were handed over.
 */
export interface Backbone {
  start(host: BackboneHost): void
  close(): Promise<void>
}
