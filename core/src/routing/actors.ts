import { MeshError, toJsonValue, type JsonValue, type Logger } from '../common/index.js'
import { MeshCallError } from './call-error.js'

/**
 * One actor: the state of one id of a capability, on the node that owns its shard. Calls
 * reach it one at a time, in the order they arrived.
 *
 * @example
 * node.actor('counter', () => {
 *   let n = 0
 *   return { call: (msg: { add: number }) => (n += msg.add) }
 * })
 */
export interface Actor {
  /** Handles one call; its result (or what its promise resolves with) is the JSON answer. */
  call(payload: JsonValue): unknown
  /**
   * Runs once when the actor stops: its shard moved to another node, or this node closes.
   * The handoff hook: save what the next owner needs (e.g. in the store) here.
   */
  stop?(): void | Promise<void>
}

/** Starts the actor of one id; may be async. A throw fails the call with `actor_failed`. */
export type ActorFactory = (id: string) => Actor | Promise<Actor>

/** A call that reached an actor that stopped because its shard moved: route it again. */
export class ShardMoved extends Error {
  constructor() {
    super('the shard moved to another node')
    this.name = 'ShardMoved'
  }
}

/** The longest error message of an actor that travels back to a caller. */
const MAX_ERROR_MESSAGE = 1000

/** The message of what an actor threw: never its stack. */
const messageOf = (error: unknown): string => {
  const text = error instanceof Error ? error.message : typeof error === 'string' ? error : 'actor failed'
  return text.length > MAX_ERROR_MESSAGE ? `${text.slice(0, MAX_ERROR_MESSAGE - 1)}…` : text
}

interface Cell {
  capability: string
  id: string
  actor: Actor | undefined
  /** The end of the mailbox: every call waits for the one before it. */
  tail: Promise<unknown>
  /** Calls queued or running. */
  busy: number
  stopping: boolean
}

/** What the actors of a node need of it. */
export interface ActorsHost {
  readonly logger: Logger
  /** Most live actors; beyond it the least recently called idle one stops. */
  readonly maxActors: number
  /** Counts a failure caught where it must not escape. */
  failed(where: string): void
}

/**
 * The actors this node runs: how to start each capability's (`register`), and the live ones,
 * started lazily on the first call, cached, and stopped when their shard moves away.
 */
export class Actors {
  #host: ActorsHost
  #factories = new Map<string, ActorFactory>()
  #live = new Map<string, Map<string, Cell>>()
  /** Every live actor, least recently called first. */
  #recent = new Set<Cell>()
  #stopping = new Set<Promise<void>>()

  constructor(host: ActorsHost) {
    this.#host = host
  }

  /** Registers (or replaces) how actors of `capability` start. */
  register(capability: string, factory: ActorFactory): void {
    if (typeof capability !== 'string' || capability === '') {
      throw new MeshError('bad_request', 'an actor needs a capability name')
    }
    if (typeof factory !== 'function') {
      throw new MeshError('bad_request', `the actor factory of "${capability}" must be a function (id) => actor`)
    }
    this.#factories.set(capability, factory)
  }

  /** Live actors, per capability. */
  counts(): Map<string, number> {
    return new Map([...this.#live].map(([capability, cells]) => [capability, cells.size]))
  }

  /** True when an actor of `capability` for `id` is live here. */
  has(capability: string, id: string): boolean {
    return this.#live.get(capability)?.has(id) ?? false
  }

  /**
   * Runs one call on the actor of `id`, starting it if needed. Rejects with a
   * {@link MeshCallError} (`actor_failed`, `timeout` when it waited in the mailbox past
   * `deadline`) or {@link ShardMoved}.
   */
  run(capability: string, id: string, payload: JsonValue, deadline: number): Promise<JsonValue> {
    const call = { capability, id }
    const factory = this.#factories.get(capability)
    if (!factory) {
      return Promise.reject(
        new MeshCallError('actor_failed', `this node declares "${capability}" but has no actor for it`, call),
      )
    }
    let cells = this.#live.get(capability)
    if (!cells) this.#live.set(capability, (cells = new Map<string, Cell>()))
    let cell = cells.get(id)
    if (!cell) {
      if (this.#recent.size >= this.#host.maxActors && !this.#evict()) {
        return Promise.reject(
          new MeshCallError(
            'actor_failed',
            `this node runs ${this.#host.maxActors} busy actors (limits.maxActors)`,
            call,
          ),
        )
      }
      cells.set(id, (cell = { capability, id, actor: undefined, tail: Promise.resolve(), busy: 0, stopping: false }))
    }
    const current = cell
    this.#recent.delete(current)
    this.#recent.add(current)
    current.busy++
    const result = current.tail.then(async () => {
      if (current.stopping) throw new ShardMoved()
      if (Date.now() > deadline) throw new MeshCallError('timeout', 'the call waited past its deadline', call)
      let actor = current.actor
      if (!actor) {
        try {
          actor = current.actor = await factory(id)
          // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- factories from `--actors` modules are plain JS and may return anything
          if (!actor || typeof actor.call !== 'function') throw new Error('the factory returned no { call } object')
        } catch (error) {
          // Not cached: the next call tries to start it again.
          current.actor = undefined
          throw new MeshCallError('actor_failed', messageOf(error), call)
        }
      }
      let answer: unknown
      try {
        answer = await actor.call(payload)
      } catch (error) {
        throw new MeshCallError('actor_failed', messageOf(error), call)
      }
      try {
        return answer === undefined ? null : toJsonValue(answer, 'the answer')
      } catch (error) {
        throw new MeshCallError('actor_failed', messageOf(error), call)
      }
    })
    const settled = (): void => {
      current.busy--
    }
    current.tail = result.then(settled, settled)
    return result
  }

  /** Stops the least recently called idle actor; false when every actor is busy. */
  #evict(): boolean {
    for (const cell of this.#recent) {
      if (cell.busy > 0) continue
      this.#host.logger.debug('stopping the least recently called actor: limits.maxActors reached', {
        capability: cell.capability,
        id: cell.id,
      })
      this.#stop(cell)
      return true
    }
    return false
  }

  /**
   * Stops the live actors for which `moved` says the shard is no longer ours: the call in
   * progress finishes, calls waiting behind it reject with {@link ShardMoved}, then `stop`.
   */
  retire(moved: (capability: string, id: string) => boolean): void {
    for (const cells of this.#live.values()) {
      for (const cell of [...cells.values()]) if (moved(cell.capability, cell.id)) this.#stop(cell)
    }
  }

  /** Stops every actor (the node closes); resolves once each `stop` ran, or after `timeoutMs`. */
  async stopAll(timeoutMs: number): Promise<void> {
    this.retire(() => true)
    let timer: ReturnType<typeof setTimeout> | undefined
    const bound = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))
    await Promise.race([Promise.all([...this.#stopping]), bound])
    clearTimeout(timer)
  }

  #drop(cell: Cell): void {
    this.#recent.delete(cell)
    const cells = this.#live.get(cell.capability)
    if (cells?.get(cell.id) === cell) cells.delete(cell.id)
    if (cells?.size === 0) this.#live.delete(cell.capability)
  }

  #stop(cell: Cell): void {
    cell.stopping = true
    this.#drop(cell)
    const done = cell.tail.then(async () => {
      try {
        await cell.actor?.stop?.()
      } catch (error) {
        this.#host.failed('actor stop')
        this.#host.logger.warn('actor stop failed', {
          capability: cell.capability,
          id: cell.id,
          error: messageOf(error),
        })
      }
    })
    this.#stopping.add(done)
    void done.then(() => this.#stopping.delete(done))
  }
}
