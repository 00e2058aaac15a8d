import { errorText, type Logger } from '../common/index.js'
import type { NodeParts } from './wiring.js'

/**
 * Starts a node's parts and returns what `node.ready()` resolves: at once without persistence;
 * with it, once every stored room is loaded. A node closed while it loaded never starts, and a
 * storage that cannot be read is logged (and rejects `ready()`), never thrown out of the node.
 */
export const startParts = (
  parts: NodeParts,
  options: { antiEntropyMs: number; closed: () => boolean; logger: Logger },
): Promise<void> => {
  const persistence = parts.persistence
  if (!persistence) {
    parts.start(options.antiEntropyMs)
    return Promise.resolve()
  }
  const ready = persistence.load().then(() => {
    if (!options.closed()) parts.start(options.antiEntropyMs)
  })
  ready.catch((error: unknown) => options.logger.error('could not load from storage', { error: errorText(error) }))
  return ready
}
