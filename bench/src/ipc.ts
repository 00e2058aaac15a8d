import type { ChildProcess } from 'node:child_process'

/** The operations a child process serves: each op's argument and result types. */
export type OpMap = Record<string, { args: unknown; result: unknown }>

/** What a child process can emit on its own, by event name. */
export type EventMap = Record<string, unknown>

/** Handlers a child process registers with {@link serveIpc}, one per op. */
export type Handlers<Ops extends OpMap> = {
  [K in keyof Ops]: (args: Ops[K]['args']) => Promise<Ops[K]['result']> | Ops[K]['result']
}

interface RequestMessage {
  kind: 'request'
  id: number
  op: string
  args: unknown
}

type ReplyMessage =
  { kind: 'reply'; id: number; ok: true; result: unknown } | { kind: 'reply'; id: number; ok: false; error: string }

interface EventMessage {
  kind: 'event'
  event: string
  data: unknown
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null

/**
 * Parent side of a child process's IPC channel: typed request/response calls with a
 * timeout, and typed events the child emits by itself.
 */
export class IpcClient<Ops extends OpMap, Events extends EventMap = EventMap> {
  readonly label: string
  #child: ChildProcess
  #seq = 0
  #pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>()
  #listeners = new Map<string, Set<(data: unknown) => void>>()
  #exited: Error | undefined

  constructor(child: ChildProcess, label: string) {
    this.#child = child
    this.label = label
    child.on('message', (message: unknown) => this.#onMessage(message))
    child.once('exit', (code, signal) => {
      this.#exited = new Error(`${label} exited (${signal ?? `code ${String(code)}`})`)
      for (const pending of this.#pending.values()) pending.reject(this.#exited)
      this.#pending.clear()
    })
  }

  /** Runs `op` in the child and resolves with its result; rejects on error, exit or timeout. */
  call<K extends keyof Ops & string>(op: K, args: Ops[K]['args'], timeoutMs = 120_000): Promise<Ops[K]['result']> {
    if (this.#exited) return Promise.reject(this.#exited)
    const id = ++this.#seq
    return new Promise<Ops[K]['result']>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id)
        reject(new Error(`${this.label}: "${op}" did not answer within ${timeoutMs} ms`))
      }, timeoutMs)
      this.#pending.set(id, {
        resolve: (value) => {
          clearTimeout(timer)
          resolve(value)
        },
        reject: (error) => {
          clearTimeout(timer)
          reject(error)
        },
      })
      const message: RequestMessage = { kind: 'request', id, op, args }
      this.#child.send(message, (error) => {
        if (error) this.#pending.get(id)?.reject(error)
      })
    })
  }

  /** Subscribes to an event the child emits; returns the unsubscribe function. */
  on<K extends keyof Events & string>(event: K, listener: (data: Events[K]) => void): () => void {
    let set = this.#listeners.get(event)
    if (!set) {
      set = new Set()
      this.#listeners.set(event, set)
    }
    const wrapped = (data: unknown) => listener(data as Events[K])
    set.add(wrapped)
    return () => set.delete(wrapped)
  }

  #onMessage(message: unknown): void {
    if (!isObject(message)) return
    if (message.kind === 'reply') {
      const reply = message as unknown as ReplyMessage
      const pending = this.#pending.get(reply.id)
      if (!pending) return
      this.#pending.delete(reply.id)
      if (reply.ok) pending.resolve(reply.result)
      else pending.reject(new Error(`${this.label}: ${reply.error}`))
    } else if (message.kind === 'event') {
      const event = message as unknown as EventMessage
      for (const listener of this.#listeners.get(event.event) ?? []) listener(event.data)
    }
  }
}

/**
 * Child side: answers the parent's requests with `handlers`, one at a time per op call
 * (calls may overlap), and exits when the parent goes away.
 */
export const serveIpc = <Ops extends OpMap>(handlers: Handlers<Ops>): void => {
  if (!process.send) throw new Error('this script must be started with an IPC channel (it is a bench worker)')
  process.on('message', (message: unknown) => {
    if (!isObject(message) || message.kind !== 'request') return
    const request = message as unknown as RequestMessage
    const handler = (handlers as Record<string, (args: unknown) => unknown>)[request.op]
    const reply = (body: { ok: true; result: unknown } | { ok: false; error: string }) =>
      process.send?.({ kind: 'reply', id: request.id, ...body })
    if (!handler) {
      reply({ ok: false, error: `unknown op "${request.op}"` })
      return
    }
    Promise.resolve()
      .then(() => handler(request.args))
      .then(
        (result) => reply({ ok: true, result: result ?? null }),
        (error: unknown) => reply({ ok: false, error: error instanceof Error ? error.message : String(error) }),
      )
  })
  // The parent died or let go of us: nobody will ever stop this process otherwise.
  process.on('disconnect', () => process.exit(0))
}

/** Child side: emits an event to the parent. */
export const emitEvent = <Events extends EventMap, K extends keyof Events & string>(
  event: K,
  data: Events[K],
): void => {
  const message: EventMessage = { kind: 'event', event, data }
  process.send?.(message)
}
