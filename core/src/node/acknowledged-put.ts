import { DEFAULT_ROOM, type MeshStore, type PutOptions } from '../store/index.js'
import type { NodeParts } from './wiring.js'

/**
 * `node.put`: waits while the rooms load, writes to room `default`, then resolves only once the
 * write is as durable as the fsync policy promises and, with `replicas`, held by that many peers.
 */
export const acknowledgedPut = async (
  parts: NodeParts,
  ready: Promise<void>,
  options: PutOptions | undefined,
  write: (store: MeshStore) => Promise<void>,
): Promise<void> => {
  const persistence = parts.persistence
  if (persistence && !persistence.loaded) await ready
  await write(parts.rooms.held(DEFAULT_ROOM))
  if (persistence) await persistence.durable(DEFAULT_ROOM)
  if (options?.replicas !== undefined) await parts.flush({ replicas: options.replicas, timeoutMs: options.timeoutMs })
}
