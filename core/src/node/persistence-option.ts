import { MeshError, type Logger } from '../common/index.js'
import { NodePersistence } from '../persistence/index.js'
import type { Room } from '../replication/index.js'
import type { MeshNodeOptions } from './options.js'

/** The node's persistence, if the `persistence` option asks for it. */
export const makePersistence = (
  option: MeshNodeOptions['persistence'],
  logger: Logger,
  room: (name: string) => Room,
): NodePersistence | undefined => {
  if (option === undefined) return undefined
  const { storage, compaction } = 'storage' in option ? option : { storage: option, compaction: undefined }
  if (typeof storage.append !== 'function' || typeof storage.load !== 'function') {
    throw new MeshError(
      'bad_option',
      'persistence must be a StorageAdapter (e.g. new LevelStorage({ dir }) from @mesh/storage)',
    )
  }
  return new NodePersistence({ adapter: storage, host: { logger, room }, compaction })
}
