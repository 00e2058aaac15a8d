import type { JsonValue } from '../common/index.js'
import type { Room } from '../replication/index.js'
import type { Member } from './member-record.js'

/**
 * The light peers (browser tabs) every room's awareness lists, as members: relayed by every
 * node, so each node lists every tab.
 */
export const lightMembers = (rooms: Iterable<Room>): Member[] => {
  const lights: Member[] = []
  for (const room of rooms) {
    // A room not loaded holds nobody's presence.
    if (!room.loaded) continue
    const meta = room.awareness.meta
    for (const [clientId, state] of room.awareness.getStates()) {
      const s = state as { name?: unknown; user?: { name?: unknown } }
      const id = `light:${clientId}`
      const name = typeof s.name === 'string' ? s.name : typeof s.user?.name === 'string' ? s.user.name : id
      lights.push({
        id,
        name,
        url: '',
        role: 'light',
        capabilities: [],
        state: 'alive',
        startedAt: 0,
        lastSeen: meta.get(clientId)?.lastUpdated ?? Date.now(),
        meta: { ...(state as Record<string, JsonValue>), room: room.name },
      })
    }
  }
  return lights
}
