import type { PersistenceStatus } from '../persistence/index.js'
import type { Metric } from './prometheus.js'

/** The `mesh_storage_*` metrics of a node that persists (none for one that does not). */
export const storageMetrics = (status: PersistenceStatus | undefined): Metric[] => {
  if (!status) return []
  const one = (name: string, help: string, type: 'counter' | 'gauge', value: number): Metric => ({
    name,
    help,
    type,
    values: [{ value }],
  })
  const storage = status.storage
  return [
    one(
      'mesh_storage_log_bytes',
      'Bytes of update logs since their snapshots, over all rooms.',
      'gauge',
      status.logBytes,
    ),
    one(
      'mesh_storage_snapshot_bytes',
      'Bytes of the compacted snapshots, over all rooms.',
      'gauge',
      status.snapshotBytes,
    ),
    ...(storage.bytes === undefined
      ? []
      : [
          one(
            'mesh_storage_bytes',
            'Bytes the storage holds (on disk for the embedded store).',
            'gauge',
            storage.bytes,
          ),
        ]),
    one('mesh_storage_appends_total', 'Updates appended to storage.', 'counter', status.appends),
    one('mesh_storage_appended_bytes_total', 'Bytes of updates appended to storage.', 'counter', status.appendedBytes),
    one('mesh_storage_append_failures_total', 'Appends that failed (each logged).', 'counter', status.appendFailures),
    one(
      'mesh_storage_compactions_total',
      'Compactions of a room log into its snapshot.',
      'counter',
      status.compactions,
    ),
    one(
      'mesh_storage_compaction_failures_total',
      'Compactions that failed (each retried with backoff).',
      'counter',
      status.compactionFailures,
    ),
    one(
      'mesh_storage_last_compaction_timestamp_seconds',
      'When the last compaction finished (0: none yet).',
      'gauge',
      status.lastCompactionAt / 1000,
    ),
    one(
      'mesh_storage_skipped_records_total',
      'Torn or corrupt records skipped at load.',
      'counter',
      status.skippedRecords,
    ),
    one('mesh_storage_load_seconds', 'Time the node took to load its rooms at start.', 'gauge', status.loadMs / 1000),
    one('mesh_storage_fsyncs_total', 'Durable writes (fsyncs) of the storage.', 'counter', storage.syncs ?? 0),
    one(
      'mesh_storage_fsync_seconds_total',
      'Time spent in durable writes; divided by mesh_storage_fsyncs_total, the mean fsync latency.',
      'counter',
      (storage.syncMsTotal ?? 0) / 1000,
    ),
    one(
      'mesh_storage_last_fsync_seconds',
      'Latency of the last durable write.',
      'gauge',
      (storage.lastSyncMs ?? 0) / 1000,
    ),
  ]
}
