import {
  applyAwarenessUpdate,
  encodeAwarenessUpdate,
  outdatedTimeout,
  removeAwarenessStates,
} from 'y-protocols/awareness'
import { readAwarenessEntries, writeAwarenessEntries, type Room, type Rooms } from '../replication/index.js'

/**
 * Origin (and awareness owner) of the states one node published on the backbone: they are
 * never handed back to it, and go when that node dies or leaves.
 */
export class BackboneAwarenessOrigin {
  readonly kind = 'backbone-awareness'
  readonly node: string

  constructor(node: string) {
    this.node = node
  }
}

type AwarenessListener = (room: string, update: Uint8Array) => void

/** How often y-protocols checks a room's awareness for outdated states (its own timer's interval). */
const CHECK_MS = Math.floor(outdatedTimeout / 10)

interface AwarenessChanges {
  added: number[]
  updated: number[]
  removed: number[]
}

/**
 * Light peers' presence between a node and its backbone: it reports changes to the states this
 * node's light peers own (coalesced per room and tick), applies what other nodes published
 * with one owner per node, and drops a node's states when it is gone. Presence is per-node
 * state: every node drops a dead node's states itself.
 */
export class BackboneAwareness {
  #rooms: Rooms
  #guard: (where: string, work: () => void) => void
  #listeners = new Set<AwarenessListener>()
  #origins = new Map<string, BackboneAwarenessOrigin>()
  /** Per room, the ids of this node's light peers whose states were reported: their removal is reported too. */
  #reported = new Map<string, Set<number>>()
  #dirty = new Map<Room, Set<number>>()
  #flushScheduled = false
  #checkedAt = 0

  constructor(rooms: Rooms, guard: (where: string, work: () => void) => void) {
    this.#rooms = rooms
    this.#guard = guard
  }

  /** Calls `listener` with every coalesced change to this node's light peers' states; returns the unsubscribe function. */
  subscribe(listener: AwarenessListener): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  /**
   * Starts reporting a room's light peers' awareness changes (once per room), and takes over its
   * check for outdated states from its own timer (see {@link checkOutdated}).
   */
  watch(room: Room): void {
    clearInterval(room.awareness._checkInterval as ReturnType<typeof setInterval>)
    room.awareness.on('update', (changes: AwarenessChanges, origin: unknown) => {
      if (origin instanceof BackboneAwarenessOrigin) return
      let reported = this.#reported.get(room.name)
      if (!reported) this.#reported.set(room.name, (reported = new Set()))
      const ids: number[] = []
      for (const id of [...changes.added, ...changes.updated]) {
        if (!room.ownedByLight(id)) continue
        reported.add(id)
        ids.push(id)
      }
      for (const id of changes.removed) if (reported.delete(id)) ids.push(id)
      if (ids.length > 0) this.#mark(room, ids)
    })
  }

  /**
   * y-protocols' check for outdated awareness states (none renewed for 30 s go; this node's own,
   * if any, is renewed), run from the node's heartbeat every 3 s instead of on a 3 s timer per
   * room: an idle node on a backbone wakes once per heartbeat.
   */
  checkOutdated(now: number): void {
    if (now - this.#checkedAt < CHECK_MS) return
    this.#checkedAt = now
    for (const room of this.#rooms.values()) {
      if (room.destroyed) continue
      const awareness = room.awareness
      const local = awareness.getLocalState()
      const renewed = awareness.meta.get(awareness.clientID)?.lastUpdated ?? now
      if (local !== null && outdatedTimeout / 2 <= now - renewed) awareness.setLocalState(local)
      const outdated: number[] = []
      awareness.meta.forEach((meta, id) => {
        if (id !== awareness.clientID && outdatedTimeout <= now - meta.lastUpdated && awareness.states.has(id)) {
          outdated.push(id)
        }
      })
      if (outdated.length > 0) removeAwarenessStates(awareness, outdated, 'timeout')
    }
  }

  #mark(room: Room, ids: number[]): void {
    let dirty = this.#dirty.get(room)
    if (!dirty) this.#dirty.set(room, (dirty = new Set()))
    for (const id of ids) dirty.add(id)
    if (this.#flushScheduled) return
    this.#flushScheduled = true
    setImmediate(() => this.#guard('backbone-awareness', () => this.#flush()))
  }

  #flush(): void {
    this.#flushScheduled = false
    const dirty = this.#dirty
    this.#dirty = new Map()
    for (const [room, ids] of dirty) {
      if (room.destroyed || this.#listeners.size === 0) continue
      // A removed id keeps its meta (its last clock): the removal is encoded with it.
      const known = [...ids].filter((id) => room.awareness.meta.has(id))
      if (known.length === 0) continue
      const update = encodeAwarenessUpdate(room.awareness, known)
      for (const listener of this.#listeners) this.#guard('backbone-awareness', () => listener(room.name, update))
    }
  }

  /** The states this node's light peers own in `name`, as one update; undefined when none. */
  lightStates(name: string): Uint8Array | undefined {
    const room = this.#rooms.existing(name)
    if (!room) return undefined
    const ids = [...room.awareness.getStates().keys()].filter((id) => room.ownedByLight(id))
    return ids.length > 0 ? encodeAwarenessUpdate(room.awareness, ids) : undefined
  }

  /** Applies what `fromNode` published (see `BackboneHost.applyAwareness`); returns how many entries it left out. */
  apply(name: string, update: Uint8Array, fromNode: string): number {
    const room = this.#rooms.existing(name)
    const entries = readAwarenessEntries(update)
    if (!room) return 0
    let origin = this.#origins.get(fromNode)
    if (!origin) this.#origins.set(fromNode, (origin = new BackboneAwarenessOrigin(fromNode)))
    const states = room.awareness.getStates()
    let refused = 0
    const candidates = entries.filter((entry) => {
      // Ids of this node's own tabs come only from those tabs.
      if (room.ownedByLight(entry.clientId)) {
        refused++
        return false
      }
      // A removal only of a state this node holds from that same node: nothing else to remove.
      return (
        entry.state !== 'null' || (states.has(entry.clientId) && room.awarenessOwners.get(entry.clientId) === origin)
      )
    })
    const { kept, dropped } = room.capAwareness(candidates)
    if (kept.length > 0) {
      applyAwarenessUpdate(room.awareness, writeAwarenessEntries(kept), origin)
      const now = room.awareness.getStates()
      for (const { clientId } of kept) if (now.has(clientId)) room.awarenessOwners.set(clientId, origin)
    }
    return refused + dropped
  }

  /** Removes every state applied from `fromNode`, in every room; returns how many. */
  drop(fromNode: string): number {
    const origin = this.#origins.get(fromNode)
    if (!origin) return 0
    this.#origins.delete(fromNode)
    let dropped = 0
    for (const room of this.#rooms.values()) {
      if (room.destroyed || !room.loaded) continue
      const ids = [...room.awarenessOwners].filter(([, owner]) => owner === origin).map(([id]) => id)
      if (ids.length === 0) continue
      removeAwarenessStates(room.awareness, ids, origin)
      for (const id of ids) if (room.awarenessOwners.get(id) === origin) room.awarenessOwners.delete(id)
      dropped += ids.length
    }
    return dropped
  }
}
