/**
 * Where lease state is stored: each node writes its own record of a lease under
 * `mesh.lease/<node id>/<name>`, and readers merge the records of every node (the highest mark,
 * the record with the highest token). One key per writer means that no concurrent write can
 * replace another: a record written on the other side of a partition, or by a paused owner,
 * survives the heal, where one shared key would keep whichever write the store ordered last.
 */
import type { JsonValue, MeshNode } from '@mesh/core'
import { pauseWatch } from './pause-watch.js'
import { prefixView } from './prefix-view.js'

const PREFIX = 'mesh.lease/'

/** The store key of `nodeId`'s record of lease `name`. */
export const leaseKey = (nodeId: string, name: string): string => `${PREFIX}${nodeId}/${name}`

/** A lease's state, as an owner keeps it and stores it. */
export interface LeaseRecord {
  /** The last fencing token issued (the current holder's, or a later one). */
  token: number
  /** The high-water mark: no owner issues a token above it before it is stored on a peer. */
  reserved: number
  /** The holder's id, or null when the lease is free. */
  holder: string | null
  /** The node the holder runs on: the lease is free once membership says it died or left, or forgot it. */
  node: string | null
  /**
   * When that node started (its `startedAt`), as it said when it asked: a node that comes back
   * under the same id is another life, whose previous holds are void.
   */
  started: number | null
  /** When the lease expires, in ms since the epoch by the owner's clock; null: never (until released). */
  expiresAt: number | null
}

// Checks of values from the store or the wire: a buggy or hostile writer may send anything.
/** A non-empty id of at most 1024 characters. */
export const isText = (x: unknown): x is string => typeof x === 'string' && x.length > 0 && x.length <= 1024
/** A fencing token or mark: a safe whole number, 0 or more. */
export const isToken = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) >= 0
/** A finite time in ms. */
export const isTime = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x)

const parseRecord = (raw: JsonValue | undefined): LeaseRecord | undefined => {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return undefined
  const r = raw as Record<string, unknown>
  if (!isToken(r.token) || !isToken(r.reserved)) return undefined
  const text = (x: unknown) => (isText(x) ? x : null)
  return {
    token: r.token,
    reserved: Math.max(r.token, r.reserved),
    holder: text(r.holder),
    node: text(r.node),
    started: isTime(r.started) ? r.started : null,
    expiresAt: isTime(r.expiresAt) ? r.expiresAt : null,
  }
}

/** The merged view of a lease's records on one node. */
export interface MergedRecord {
  /** The record with the highest token (this node's own on a tie), with the highest mark of all. */
  record: LeaseRecord
  /** The node whose record that is. */
  writer: string
}

/** One node's stored record of a lease. */
export interface StoredRecord {
  /** Its store key. */
  key: string
  /** The node that wrote it, from the key; '' for the one shared key of earlier releases. */
  writer: string
  /**
   * True when the record names that writer too (records from this release on do): a key of
   * the shared layout whose lease name holds a slash reads like a node's record.
   */
  signed: boolean
  record: LeaseRecord
}

/** The records of every lease on one node, by lease name, and the node's sync epoch. */
export interface LeaseRecords {
  /** The merged records of lease `name`, if any node stored one. */
  read(name: string): MergedRecord | undefined
  /** Every readable record of lease `name`, one per writer. */
  entries(name: string): StoredRecord[]
  /** The names of the leases with a record. */
  names(): IterableIterator<string>
  /**
   * The records of lease `name` that nobody needs as their own any more: those of nodes for
   * which `lives` is false (signed ones only), and the shared key of earlier releases.
   */
  orphans(name: string, lives: (nodeId: string) => boolean): StoredRecord[]
  /**
   * Grows when this node may have missed writes: a peer link came up, a member joined or came
   * back, or this process was paused (pause-watch.ts). An owner syncs again before it answers
   * from its view.
   */
  epoch(): number
}

const byNode = new WeakMap<MeshNode, LeaseRecords>()

/** The lease records of `node`, followed from its change events (one view per node). */
export const leaseRecords = (node: MeshNode): LeaseRecords => {
  const known = byNode.get(node)
  if (known) return known
  /** Record keys by lease name. */
  const keys = new Map<string, Set<string>>()
  const nameOf = (key: string): string | undefined => {
    const rest = key.slice(PREFIX.length)
    const slash = rest.indexOf('/')
    return slash > 0 ? rest.slice(slash + 1) : undefined
  }
  const index = (key: string, present: boolean) => {
    const name = nameOf(key)
    if (name === undefined) return
    let set = keys.get(name)
    if (present) {
      if (!set) keys.set(name, (set = new Set()))
      set.add(key)
    } else if (set) {
      set.delete(key)
      if (set.size === 0) keys.delete(name)
    }
  }
  const view = prefixView(node, PREFIX)
  for (const key of view.values.keys()) index(key, true)
  view.onChange((changes) => {
    for (const c of changes) index(c.key, c.value !== undefined)
  })

  let epoch = 0
  const bump = () => epoch++
  node.on('peer:up', bump)
  node.on('member:join', bump)
  const pauses = pauseWatch(node)
  const writerOf = (key: string, name: string) => key.slice(PREFIX.length, key.length - name.length - 1)
  const records: LeaseRecords = {
    read(name) {
      const own = leaseKey(node.id, name)
      let best: MergedRecord | undefined
      let mark = 0
      for (const key of keys.get(name) ?? []) {
        const record = parseRecord(view.values.get(key))
        if (!record) continue
        mark = Math.max(mark, record.reserved)
        const better = !best || record.token > best.record.token || (record.token === best.record.token && key === own)
        if (better) best = { record, writer: writerOf(key, name) }
      }
      // A record stored before per-node records (one shared key, `mesh.lease/<name>`): its
      // tokens were issued, so its mark still bounds the next block; its holder is not trusted.
      const legacy = parseRecord(view.values.get(`${PREFIX}${name}`))
      if (legacy) {
        mark = Math.max(mark, legacy.reserved)
        best ??= { record: { ...legacy, holder: null, node: null, started: null, expiresAt: null }, writer: '' }
      }
      if (best) best.record = { ...best.record, reserved: mark }
      return best
    },
    entries(name) {
      const out: StoredRecord[] = []
      for (const key of [...(keys.get(name) ?? []), `${PREFIX}${name}`]) {
        const raw = view.values.get(key)
        const record = parseRecord(raw)
        if (!record) continue
        const writer = key === `${PREFIX}${name}` ? '' : writerOf(key, name)
        const signed = writer !== '' && (raw as Record<string, JsonValue>).writer === writer
        out.push({ key, writer, signed, record })
      }
      return out
    },
    names() {
      return keys.keys()
    },
    orphans(name, lives) {
      return records
        .entries(name)
        .filter((s) => (s.writer === '' ? !name.includes('/') : s.signed && s.writer !== node.id && !lives(s.writer)))
    },
    epoch() {
      return epoch + pauses.pauses()
    },
  }
  byNode.set(node, records)
  return records
}
