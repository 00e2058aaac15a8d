import { errorText } from '@mesh/core'
import type { JsonValue, KeyChange, MeshNode } from '@mesh/core'

/** The keys of room `default` under one prefix, kept up to date from the node's change events. */
export interface PrefixView {
  /** The live values by key. */
  readonly values: ReadonlyMap<string, JsonValue>
  /** Calls `listener` with the changes under the prefix; returns the unsubscribe function. */
  onChange(listener: (changes: KeyChange[], origin: string) => void): () => void
  /** Stops following the node. */
  close(): void
}

/**
 * Follows the keys that start with `prefix`, so a recipe reads them without scanning the whole
 * store: one scan at the start, then the node's `change` events.
 */
export const prefixView = (node: MeshNode, prefix: string): PrefixView => {
  const values = new Map<string, JsonValue>()
  for (const [key, value] of node.data.entries()) if (key.startsWith(prefix)) values.set(key, value)
  const listeners = new Set<(changes: KeyChange[], origin: string) => void>()
  const off = node.on('change', (event) => {
    if (event.room !== 'default') return
    const mine = event.changes.filter((c) => c.key.startsWith(prefix))
    if (mine.length === 0) return
    for (const c of mine) {
      if (c.value === undefined) values.delete(c.key)
      else values.set(c.key, c.value)
    }
    for (const listener of listeners) {
      try {
        listener(mine, event.origin)
      } catch (error) {
        node.logger.error('recipe listener failed', { prefix, error: errorText(error) })
      }
    }
  })
  return {
    values,
    onChange(listener) {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
    close: off,
  }
}
