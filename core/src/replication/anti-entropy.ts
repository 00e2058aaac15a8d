import * as Y from 'yjs'
import { MeshError, type Progress } from '../common/index.js'
import type { PeerLinks } from './links.js'
import type { PeerLink } from './peer-link.js'
import type { Room } from './room.js'
import { EMPTY_SNAPSHOT_BYTES } from './empty-state.js'

/**
 * One anti-entropy round: a snapshot per room, sent on every link where the room is live and
 * the check is due (`CheckAnswers`: something changed on either side, or a quiet while passed).
 * Calls `dropped` for each room that had to drop updates stuck pending (see `RoomCheckpoint.dropStalePending`).
 */
export const antiEntropyRound = (rooms: Iterable<Room>, links: PeerLinks, dropped: (room: Room) => void): void => {
  for (const room of rooms) {
    // A room not loaded holds nothing: its check is the empty snapshot, and a peer that holds
    // more repairs it (which loads it).
    if (room.loaded) {
      room.checkpoint.trimNewClients()
      if (room.checkpoint.dropStalePending()) dropped(room)
    }
    if (links.size === 0) continue
    const snapshot = room.loaded ? room.checkpoint.take() : EMPTY_SNAPSHOT_BYTES
    for (const link of links.values()) link.sendCheck(room.name, snapshot)
  }
}

/**
 * Counts the directly linked peers that hold everything `room` holds now, judged by the
 * snapshots they report back; each call asks the links not asked yet (a link whose room is
 * still (re)syncing is asked as soon as it goes live).
 */
export const replicaCounter = (room: Room, links: PeerLinks): (() => number) => {
  const target = room.snapshot()
  const encoded = Y.encodeSnapshot(target)
  const asked = new WeakSet<PeerLink>()
  return () => {
    let n = 0
    for (const link of links.values()) {
      if (!asked.has(link) && link.sendCheck(room.name, encoded, 'ask')) asked.add(link)
      if (link.holds(room.name, target)) n++
    }
    return n
  }
}

/** Waits until `replicas` linked peers hold everything `room` holds now; rejects with a `timeout` MeshError. */
export const waitForReplicas = (
  room: Room,
  links: PeerLinks,
  progress: Progress,
  replicas: number,
  timeoutMs: number,
): Promise<void> => {
  if (!Number.isInteger(replicas) || replicas < 0) {
    return Promise.reject(new MeshError('bad_request', 'replicas must be a whole number of peers, 0 or more'))
  }
  if (replicas === 0) return Promise.resolve()
  const holding = replicaCounter(room, links)
  return progress.waitFor(
    () => holding() >= replicas,
    timeoutMs,
    () => `only ${holding()} of ${replicas} peers acknowledged the writes of room "${room.name}"`,
  )
}
