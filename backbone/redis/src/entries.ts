import type { UpdateFormat } from '@mesh/core'

/**
 * One entry of a room's log: field `s` its sequence number in the room (1, 2, 3…, given by the
 * publishing script, so a reader that sees a number skipped knows it missed entries, trimmed
 * or lost), `n` the node that wrote it, `f` the encoding of its updates (`1` or `2`), and one
 * `u` field per update, in the order they were applied.
 */
export interface LogEntry {
  id: string
  seq: number
  node: string
  format: UpdateFormat
  updates: Uint8Array[]
}

/** Most updates in one log entry (each is two arguments of the publishing script). */
export const MAX_ENTRY_UPDATES = 500

/** Why an entry read from Redis cannot be used. */
export class PoisonEntry extends Error {
  readonly id: string
  constructor(id: string, reason: string) {
    super(`log entry ${id.slice(0, 40)}: ${reason}`)
    this.name = 'PoisonEntry'
    this.id = id
  }
}

const STREAM_ID = /^\d{1,20}-\d{1,20}$/

/** True for a stream entry id (`<ms>-<seq>`). */
export const isStreamId = (id: string): boolean => STREAM_ID.test(id)

/** Orders two stream entry ids (`<ms>-<seq>`): negative, zero or positive. */
export const compareIds = (a: string, b: string): number => {
  const [am = '0', as = '0'] = a.split('-')
  const [bm = '0', bs = '0'] = b.split('-')
  const ms = BigInt(am) - BigInt(bm)
  if (ms !== 0n) return ms < 0n ? -1 : 1
  const seq = BigInt(as) - BigInt(bs)
  return seq === 0n ? 0 : seq < 0n ? -1 : 1
}

/** The fields of an entry a node publishes (the publishing script adds `s`). */
export const entryFields = (
  node: string,
  format: UpdateFormat,
  updates: readonly Uint8Array[],
): Array<string | Buffer> => {
  const fields: Array<string | Buffer> = ['n', node, 'f', format === 'v2' ? '2' : '1']
  for (const update of updates) fields.push('u', Buffer.from(update.buffer, update.byteOffset, update.byteLength))
  return fields
}

/**
 * Reads one entry of a room's log; throws a {@link PoisonEntry} for anything a node did not
 * write (Redis is shared: anyone with access can XADD).
 */
export const parseEntry = (id: string, fields: readonly unknown[]): LogEntry => {
  let node: string | undefined
  let format: UpdateFormat | undefined
  let seq: number | undefined
  const updates: Uint8Array[] = []
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const key = fields[i]
    const value = fields[i + 1]
    if (!Buffer.isBuffer(key) || !Buffer.isBuffer(value)) throw new PoisonEntry(id, 'fields are not strings')
    switch (key.toString('latin1')) {
      case 'n':
        node = value.toString('utf8')
        break
      case 'f':
        format = value.toString('latin1') === '2' ? 'v2' : value.toString('latin1') === '1' ? 'v1' : undefined
        break
      case 'u':
        updates.push(new Uint8Array(value.buffer, value.byteOffset, value.byteLength))
        break
      case 's':
        seq = /^\d{1,15}$/.test(value.toString('latin1')) ? Number(value.toString('latin1')) : undefined
        break
      default:
        throw new PoisonEntry(id, `unknown field "${key.toString('latin1').slice(0, 20)}"`)
    }
  }
  if (seq === undefined || node === undefined || format === undefined || updates.length === 0) {
    throw new PoisonEntry(id, 'an entry needs s, n, f and at least one u')
  }
  return { id, seq, node, format, updates }
}

/**
 * Reads an XREAD or XRANGE reply (RESP2: `[[key, [[id, fields], ...]], ...]` or `[[id, fields], ...]`)
 * without trusting its shape; entries that are not `[id, fields]` are reported as `bad`.
 */
export const readEntries = (reply: unknown): { entries: Array<{ id: string; fields: unknown[] }>; bad: number } => {
  const entries: Array<{ id: string; fields: unknown[] }> = []
  let bad = 0
  if (!Array.isArray(reply)) return { entries, bad }
  for (const item of reply as unknown[]) {
    if (!Array.isArray(item) || item.length !== 2) {
      bad++
      continue
    }
    const [rawId, fields] = item as [unknown, unknown]
    const id = Buffer.isBuffer(rawId) ? rawId.toString('latin1') : typeof rawId === 'string' ? rawId : undefined
    if (id === undefined || !isStreamId(id) || !Array.isArray(fields)) {
      bad++
      continue
    }
    entries.push({ id, fields: fields as unknown[] })
  }
  return { entries, bad }
}
