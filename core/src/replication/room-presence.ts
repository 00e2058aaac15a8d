import { encodeAwarenessUpdate, removeAwarenessStates, type Awareness } from 'y-protocols/awareness'
import type { ReadonlyMembers } from '../common/index.js'
import { capEntries, type AwarenessEntry } from './awareness-entries.js'
import { encodeLight } from './light-messages.js'
import { encodePeer } from './peer-messages.js'
import type { LightSink, PeerSink } from './room-types.js'

/** What an awareness `update` event reports. */
export interface AwarenessChanges {
  added: number[]
  updated: number[]
  removed: number[]
}

/** The room around a {@link RoomPresence}: where its changes go. */
export interface PresenceRoom {
  readonly name: string
  readonly lights: ReadonlyMembers<LightSink>
  /** The room's live peer links now (the room replaces its list when a link comes or goes). */
  links(): readonly PeerSink[]
  destroyed(): boolean
}

/**
 * A loaded room's presence: its `Awareness`, which connection speaks for each client id, and
 * the relay of every change to the room's light peers and peer links.
 */
export class RoomPresence {
  readonly awareness: Awareness
  /** Which connection (light peer or peer link) speaks for each awareness client id. */
  readonly owners = new Map<number, object>()
  /** Every light sink the room served since it loaded: awareness entries they own come only from them. */
  #lightOwners: WeakSet<object>
  #room: PresenceRoom
  /** True while removing a closed link's states: the removal is this node's news alone. */
  #droppingLink = false

  constructor(awareness: Awareness, room: PresenceRoom) {
    this.awareness = awareness
    this.#room = room
    this.#lightOwners = new WeakSet(room.lights)
    awareness.on('update', (changes: AwarenessChanges, origin: unknown) => this.#changed(changes, origin))
  }

  /** A light peer joined the room. */
  addLight(light: LightSink): void {
    this.#lightOwners.add(light)
  }

  /** True when the awareness client `clientId` belongs to a light peer of this node. */
  ownedByLight(clientId: number): boolean {
    const owner = this.owners.get(clientId)
    return owner !== undefined && this.#lightOwners.has(owner)
  }

  /**
   * Keeps the entries an awareness update may apply: updates and removals always, states for
   * new client ids only while the room holds fewer than `MAX_AWARENESS_CLIENTS`. Returns
   * how many it left out.
   */
  cap(entries: AwarenessEntry[]): { kept: AwarenessEntry[]; dropped: number } {
    return capEntries(this.awareness.getStates(), entries, this.awareness.meta)
  }

  /**
   * Removes the awareness states a peer link relayed, once it closed: they would otherwise
   * stay until they time out (30 s) and go to every newcomer meanwhile. Light peers hear of
   * the removal; other links do not (each node's own link to that peer, or a relay, speaks for
   * those clients there), and the clients come back with their next renewal if they are still
   * reachable another way.
   */
  dropLink(link: PeerSink): void {
    const ids: number[] = []
    for (const [id, owner] of this.owners) if (owner === link) ids.push(id)
    if (ids.length === 0 || this.#room.destroyed()) return
    this.#droppingLink = true
    try {
      removeAwarenessStates(this.awareness, ids, link)
    } finally {
      this.#droppingLink = false
    }
    for (const id of ids) if (this.owners.get(id) === link) this.owners.delete(id)
  }

  #changed(changes: AwarenessChanges, origin: unknown): void {
    const lights = this.#room.lights
    const links = this.#room.links()
    for (const id of changes.removed) {
      // A tab's ids stay its own until it removes them or closes, whoever else reports a removal
      // (an awareness timeout, a relay); ids relayed from another node go with their state.
      const owner = this.owners.get(id)
      if (owner === origin || !lights.has(owner as LightSink)) this.owners.delete(id)
    }
    const clients = [...changes.added, ...changes.updated, ...changes.removed]
    if (clients.length === 0 || this.#room.destroyed()) return
    const update = encodeAwarenessUpdate(this.awareness, clients)
    if (lights.size > 0) {
      const frame = encodeLight.awareness(update)
      for (const light of lights) if (light !== origin) light.sendFrame(frame)
    }
    if (links.length > 0 && !this.#droppingLink) {
      const frame = encodePeer.roomAwareness(this.#room.name, update)
      for (const link of links) if (link !== origin) link.sendFrame(frame)
    }
  }
}
