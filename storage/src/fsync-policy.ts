/**
 * When the embedded store forces its writes to disk (docs/persistence.md has the loss window
 * of each):
 * - `always`: every append is fsynced before it resolves (concurrent appends share one fsync);
 * - `batch`: appends reach the operating system at once and are fsynced at most `ms` later;
 * - `never`: appends reach the operating system; the OS writes them back when it likes.
 */
export type FsyncPolicy = { kind: 'always' } | { kind: 'batch'; ms: number } | { kind: 'never' }

/** The default: `batch:50`. */
export const DEFAULT_FSYNC: FsyncPolicy = { kind: 'batch', ms: 50 }

/** Thrown for a policy that is not `always`, `batch:<ms>` or `never`. */
export class FsyncPolicyError extends Error {
  override readonly name = 'FsyncPolicyError'
}

/**
 * Reads `always`, `never` or `batch:<ms>` (1 to 60000 ms; plain `batch` means `batch:50`).
 * @example parseFsyncPolicy('batch:20') // { kind: 'batch', ms: 20 }
 */
export const parseFsyncPolicy = (text: string): FsyncPolicy => {
  if (text === 'always' || text === 'never') return { kind: text }
  if (text === 'batch') return DEFAULT_FSYNC
  const match = /^batch:(\d{1,5})$/.exec(text)
  const ms = match ? Number(match[1]) : NaN
  if (!(ms >= 1 && ms <= 60_000)) {
    throw new FsyncPolicyError(`fsync policy must be always, never or batch:MS (MS from 1 to 60000); got "${text}"`)
  }
  return { kind: 'batch', ms }
}

/** The policy as `--fsync` spells it. */
export const formatFsyncPolicy = (policy: FsyncPolicy): string =>
  policy.kind === 'batch' ? `batch:${policy.ms}` : policy.kind
