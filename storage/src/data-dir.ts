import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  writeSync,
} from 'node:fs'
import { join } from 'node:path'

/** The file that marks a directory as a Mesh data directory. */
export const MARKER_FILE = 'mesh-storage.json'

/** The LevelDB directory inside a data directory. */
export const LEVEL_DIR = 'level'

/** The data layout version this package writes and reads. */
export const FORMAT_VERSION = 1

/**
 * A data directory that cannot be used: foreign, corrupt, from a newer version, or locked by
 * another process. `file` names what is wrong; nothing was written.
 */
export class StorageOpenError extends Error {
  override readonly name = 'StorageOpenError'
  /** The file or directory at fault. */
  readonly file: string

  constructor(file: string, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.file = file
  }
}

const writeDurably = (path: string, text: string): void => {
  const temporary = `${path}.tmp`
  const fd = openSync(temporary, 'w')
  try {
    writeSync(fd, text)
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  renameSync(temporary, path)
}

/**
 * Checks (or, for a new or empty directory, creates) a Mesh data directory. Refuses a
 * directory with other files in it and a marker it cannot read, naming the file, and writes
 * nothing in either case.
 */
export const prepareDataDir = (dir: string): { levelDir: string; created: boolean } => {
  const marker = join(dir, MARKER_FILE)
  const levelDir = join(dir, LEVEL_DIR)
  let entries: string[]
  try {
    entries = existsSync(dir) ? readdirSync(dir) : []
  } catch (error) {
    throw new StorageOpenError(dir, `${dir} cannot be read as a data directory: ${(error as Error).message}`)
  }
  if (!entries.includes(MARKER_FILE)) {
    if (entries.length > 0) {
      throw new StorageOpenError(
        marker,
        `${dir} is not a Mesh data directory (${marker} is missing and other files are there); give an empty or new directory`,
      )
    }
    mkdirSync(dir, { recursive: true })
    writeDurably(marker, `${JSON.stringify({ format: 'mesh-storage', version: FORMAT_VERSION, engine: 'leveldb' })}\n`)
    return { levelDir, created: true }
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(readFileSync(marker, 'utf8'))
  } catch (error) {
    throw new StorageOpenError(marker, `${marker} is corrupt (${(error as Error).message}); nothing was changed`)
  }
  const info = parsed as { format?: unknown; version?: unknown; engine?: unknown } | null
  if (info?.format !== 'mesh-storage' || info.engine !== 'leveldb') {
    throw new StorageOpenError(marker, `${marker} does not describe a Mesh LevelDB data directory; nothing was changed`)
  }
  if (info.version !== FORMAT_VERSION) {
    throw new StorageOpenError(
      marker,
      `${marker} has data format version ${String(info.version)}; this version of @mesh/storage reads version ${FORMAT_VERSION}`,
    )
  }
  if (!existsSync(levelDir)) {
    throw new StorageOpenError(
      levelDir,
      `${levelDir} is missing: the data directory is incomplete; nothing was changed`,
    )
  }
  return { levelDir, created: false }
}
