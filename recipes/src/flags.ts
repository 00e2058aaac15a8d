import { MeshError, type JsonValue, type MeshNode, errorText } from '@mesh/core'
import { prefixView } from './prefix-view.js'

const PREFIX = 'mesh.flag/'

/** A flag's stored value and who set it. */
interface FlagRecord {
  value: JsonValue
  /** Node id and name that set it, and when (ms since the epoch by that node's clock). */
  by: string
  byName: string
  at: number
}

/** A change of a flag, as {@link Flags.on} reports it. */
export interface FlagChange {
  name: string
  /** The new value; undefined when the flag was removed. */
  value: JsonValue | undefined
  previous: JsonValue | undefined
  /** Node id and name that made the change, and when by its clock. */
  by: string
  byName: string
  at: number
}

/** One commit that changed a flag, from the node's commit log. */
export interface FlagAudit {
  name: string
  /** Node id (or `light:<n>`) that authored the change, and its name when it is a known member. */
  by: string
  byName: string | undefined
  /** When this node applied the change (ms since the epoch). */
  at: number
  /** How it reached this node: `local`, `peer:<id>`, `light:<n>` or `resolve`. */
  via: string
}

/** The type a fallback stands for: `false` stands for any boolean, `100` for any number. */
export type FlagType<T extends JsonValue> = T extends boolean
  ? boolean
  : T extends number
    ? number
    : T extends string
      ? string
      : T

/** Feature flags on one node: see {@link flags}. */
export interface Flags {
  /**
   * The flag's value, or `fallback` when it is not set or holds a value of another JSON type
   * than `fallback` (a string where a boolean is expected): the type of `fallback` is the type
   * of the answer.
   */
  get<T extends JsonValue>(name: string, fallback: T): FlagType<T>
  /** Sets a flag everywhere; resolves once applied on this node. */
  set(name: string, value: JsonValue): Promise<void>
  /** Removes a flag everywhere (readers get their fallback again). */
  remove(name: string): Promise<void>
  /** Every flag and its value. */
  all(): Record<string, JsonValue>
  /** Calls `listener` on every change of the flag, local or remote; returns the unsubscribe function. */
  on(name: string, listener: (change: FlagChange) => void): () => void
  /**
   * Who changed flags and when, oldest first, from this node's commit log (bounded in memory by
   * the node's `historyLimit`; it records authors and times, not old values).
   */
  audit(name?: string): FlagAudit[]
  /** Stops following the store. */
  close(): void
}

const kindOf = (x: JsonValue | undefined): string => (x === null ? 'null' : Array.isArray(x) ? 'array' : typeof x)

const asRecord = (raw: JsonValue | undefined): FlagRecord | undefined => {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw) || !('value' in raw)) return undefined
  const { value, by, byName, at } = raw
  if (typeof by !== 'string' || typeof byName !== 'string' || typeof at !== 'number') {
    return undefined
  }
  return { value, by, byName, at }
}

const checkName = (name: string): string => {
  if (typeof name !== 'string' || name.length === 0 || name.length > 200) {
    throw new MeshError('bad_request', 'a flag name is a string of 1 to 200 characters')
  }
  return name
}

/**
 * Typed feature flags (docs/recipes/flags.md): each flag is a key of the replicated store that
 * records who set it and when, so a `set` on any node reaches every node.
 *
 * @example
 * const f = flags(node)
 * if (f.get('dark-mode', false)) renderDark()
 * f.on('dark-mode', ({ value, byName }) => log(`dark-mode=${String(value)} by ${byName}`))
 * await f.set('dark-mode', true)
 */
export const flags = (node: MeshNode): Flags => {
  const view = prefixView(node, PREFIX)
  const listeners = new Map<string, Set<(change: FlagChange) => void>>()
  const offView = view.onChange((changes, origin) => {
    for (const c of changes) {
      const name = c.key.slice(PREFIX.length)
      const set = listeners.get(name)
      if (!set) continue
      const now = asRecord(c.value)
      const before = asRecord(c.previous)
      const member = node.members().find((m) => m.id === origin)
      const change: FlagChange = {
        name,
        value: now?.value,
        previous: before?.value,
        by: now?.by ?? origin,
        byName: now?.byName ?? member?.name ?? origin,
        at: now?.at ?? Date.now(),
      }
      for (const listener of set) {
        try {
          listener(change)
        } catch (error) {
          node.logger.error('flag listener failed', { flag: name, error: errorText(error) })
        }
      }
    }
  })
  return {
    get<T extends JsonValue>(name: string, fallback: T): FlagType<T> {
      const value = asRecord(view.values.get(PREFIX + name))?.value
      return (value !== undefined && kindOf(value) === kindOf(fallback) ? value : fallback) as FlagType<T>
    },
    set: (name, value) => node.put(PREFIX + checkName(name), { value, by: node.id, byName: node.name, at: Date.now() }),
    async remove(name) {
      await node.pop(PREFIX + checkName(name))
    },
    all() {
      const out: Record<string, JsonValue> = {}
      for (const [key, raw] of view.values) {
        const record = asRecord(raw)
        if (record) out[key.slice(PREFIX.length)] = record.value
      }
      return out
    },
    on(name, listener) {
      let set = listeners.get(name)
      if (!set) listeners.set(name, (set = new Set()))
      set.add(listener)
      return () => set.delete(listener)
    },
    audit(name) {
      const names = new Map(node.members().map((m) => [m.id, m.name]))
      const keyFilter = name === undefined ? {} : { key: PREFIX + name }
      return node.history({ room: 'default', ...keyFilter }).flatMap((commit) =>
        commit.keys
          .filter((key) => (name === undefined ? key.startsWith(PREFIX) : key === PREFIX + name))
          .map((key) => ({
            name: key.slice(PREFIX.length),
            by: commit.origin,
            byName: names.get(commit.origin),
            at: commit.time,
            via: commit.via,
          })),
      )
    },
    close() {
      offView()
      view.close()
      listeners.clear()
    },
  }
}
