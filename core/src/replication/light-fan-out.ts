import * as Y from 'yjs'
import type { SmallSet } from '../common/index.js'
import { encodeLight } from './light-messages.js'
import { SyncType } from './protocol.js'
import type { LightSink } from './room-types.js'

/**
 * A room's updates for its light peers, sent once the synchronous run that made them ends, with
 * the store's resolution of a race folded into the update that brought the race. Sent one by
 * one, a light peer saw both entries of the key live for a moment, and y-utility's YKeyValue
 * keeps the rightmost and deletes the others, while Mesh keeps the one that does not yield
 * (`accept`'s writes yield): the light peer deleted Mesh's winner as the node deleted the loser,
 * and the key was gone everywhere. Folded, the light peer gets the winner alone.
 */
export class LightFanOut {
  readonly #lights: SmallSet<LightSink>
  #queue: Array<{ update: Uint8Array; origin: unknown }> = []
  #scheduled = false

  constructor(lights: SmallSet<LightSink>) {
    this.#lights = lights
  }

  /**
   * Queues `update` for every light peer but its `origin`; `resolves`: the store's removal of
   * race losers, which goes with the update before it unless a light peer made that one.
   */
  push(update: Uint8Array, origin: unknown, resolves: boolean): void {
    if (this.#lights.size === 0) return
    const last = this.#queue.at(-1)
    if (resolves && last && !this.#lights.has(last.origin as LightSink))
      last.update = Y.mergeUpdates([last.update, update])
    else this.#queue.push({ update, origin })
    if (this.#scheduled) return
    this.#scheduled = true
    queueMicrotask(this.#flush)
  }

  #flush = (): void => {
    this.#scheduled = false
    const queue = this.#queue
    this.#queue = []
    for (const { update, origin } of queue) {
      const frame = encodeLight.sync(SyncType.update, update)
      for (const light of this.#lights) if (light !== origin) light.sendFrame(frame)
    }
  }
}
