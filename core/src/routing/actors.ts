import { MeshError, toJsonValue, type JsonValue, type Logger } from '../common/index.js'
import { MeshCallError } from './call-error.js'
import { RecentList, type Recent } from './recent-list.js'

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

/** Where an actor's answer goes: `failure` is undefined when `answer` is the answer. */
export type ActorReply = (failure: MeshCallError | ShardMoved | undefined, answer?: JsonValue) => void

/** True for a promise, or anything else `await` would wait for. */
const isThenable = (value: unknown): value is PromiseLike<unknown> =>
  typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function'

/** An actor's answer as JSON (`undefined` is `null`); anything else fails the call with `actor_failed`. */
const answerOf = (answer: unknown, call: { capability: string; id: string }): JsonValue => {
  if (answer === undefined) return null
  try {
    return toJsonValue(answer, 'the answer')
  } catch (error) {
    throw new MeshCallError('actor_failed', messageOf(error), call)
  }
}

const newCell = (capability: string, id: string): Cell => ({
  capability,
  id,
  actor: undefined,
  tail: Promise.resolve(),
  busy: 0,
  stopping: false,
  running: false,
  release: undefined,
  older: undefined,
  newer: undefined,
  listed: false,
})

interface Cell extends Recent<Cell> {
  capability: string
  id: string
  actor: Actor | undefined
  /** The end of the mailbox: every call waits for the one before it. */
  tail: Promise<unknown>
  /** Calls queued or running. */
  busy: number
  stopping: boolean
  /** True while the actor's `call` runs on the stack (called at once, see `#runNow`). */
  running: boolean
  /** Lets in the calls the actor made to itself while `running`, once its answer settled. */
  release: (() => void) | undefined
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
  #recent = new RecentList<Cell>()
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
   * Runs one call on the actor of `id`, starting it if needed, and hands the outcome to
   * `reply` once: the answer, or a {@link MeshCallError} (`actor_failed`, `timeout` when it
   * waited in the mailbox past `deadline`) or {@link ShardMoved}. An idle actor that answers
   * at once is called right here and `reply` runs before `run` returns: no promise, no
   * microtask, which is most of what a call cost its owner.
   */
  run(capability: string, id: string, payload: JsonValue, deadline: number, reply: ActorReply): void {
    const factory = this.#factories.get(capability)
    if (!factory) {
      const problem = `this node declares "${capability}" but has no actor for it`
      return reply(new MeshCallError('actor_failed', problem, { capability, id }))
    }
    let cells = this.#live.get(capability)
    if (!cells) this.#live.set(capability, (cells = new Map<string, Cell>()))
    let cell = cells.get(id)
    if (!cell) {
      if (this.#recent.size >= this.#host.maxActors && !this.#evict()) {
        const problem = `this node runs ${this.#host.maxActors} busy actors (limits.maxActors)`
        return reply(new MeshCallError('actor_failed', problem, { capability, id }))
      }
      cells.set(id, (cell = newCell(capability, id)))
    }
    const current = cell
    this.#recent.touch(current)
    const actor = current.actor
    // Nothing waits in the mailbox: this call goes first, so it may run now.
    if (actor && current.busy === 0 && !current.stopping) return this.#runNow(current, actor, payload, reply)
    // A call made from inside the actor's own `call` must wait until that call is answered.
    if (current.running && !current.release) current.tail = new Promise<void>((open) => (current.release = open))
    current.busy++
    const result = current.tail.then(async () => {
      if (current.stopping) throw new ShardMoved()
      if (Date.now() > deadline) throw new MeshCallError('timeout', 'the call waited past its deadline', current)
      let started = current.actor
      if (!started) {
        try {
          started = current.actor = await factory(id)
          // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- factories from `--actors` modules are plain JS and may return anything
          if (!started || typeof started.call !== 'function') throw new Error('the factory returned no { call } object')
        } catch (error) {
          // Not cached: the next call tries to start it again.
          current.actor = undefined
          throw new MeshCallError('actor_failed', messageOf(error), current)
        }
      }
      let answer: unknown
      try {
        answer = await started.call(payload)
      } catch (error) {
        throw new MeshCallError('actor_failed', messageOf(error), current)
      }
      return answerOf(answer, current)
    })
    current.tail = this.#settleOn(current, result, reply)
  }

  /**
   * Calls an idle actor at once. An answer that is a promise holds the mailbox until it
   * settles; so do calls the actor made to itself meanwhile (they wait behind `release`).
   */
  #runNow(cell: Cell, actor: Actor, payload: JsonValue, reply: ActorReply): void {
    let answer: unknown
    let failure: MeshCallError | undefined
    cell.busy++
    cell.running = true
    try {
      answer = actor.call(payload)
    } catch (error) {
      failure = new MeshCallError('actor_failed', messageOf(error), cell)
    } finally {
      cell.running = false
    }
    const release = cell.release
    cell.release = undefined
    if (failure || !isThenable(answer)) {
      cell.busy--
      release?.()
      if (failure) return reply(failure)
      let value: JsonValue
      try {
        value = answerOf(answer, cell)
      } catch (error) {
        return reply(error as MeshCallError)
      }
      return reply(undefined, value)
    }
    const result = Promise.resolve(answer).then(
      (settled) => answerOf(settled, cell),
      (error: unknown) => {
        throw new MeshCallError('actor_failed', messageOf(error), cell)
      },
    )
    const settled = this.#settleOn(cell, result, reply)
    // Calls queued meanwhile already end the mailbox; they start once this one settled.
    if (release) void settled.then(release)
    else cell.tail = settled
  }

  /** Hands a call's outcome to `reply`; the promise (which never rejects) settles after that. */
  #settleOn(cell: Cell, result: Promise<JsonValue>, reply: ActorReply): Promise<void> {
    // It must never reject: the next call waits on it, and nobody else would catch it.
    const handOn = (failure: MeshCallError | ShardMoved | undefined, answer?: JsonValue): void => {
      cell.busy--
      try {
        reply(failure, answer)
      } catch (error) {
        this.#host.failed('actor reply')
        this.#host.logger.warn('handing on an actor answer failed', {
          capability: cell.capability,
          id: cell.id,
          error: messageOf(error),
        })
      }
    }
    return result.then(
      (answer) => handOn(undefined, answer),
      (error: unknown) => handOn(error as MeshCallError | ShardMoved),
    )
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
