export { LevelStorage, type LevelStorageOptions } from './level-storage.js'
export {
  DEFAULT_FSYNC,
  formatFsyncPolicy,
  FsyncPolicyError,
  parseFsyncPolicy,
  type FsyncPolicy,
} from './fsync-policy.js'
export { FORMAT_VERSION, MARKER_FILE, StorageOpenError } from './data-dir.js'
