import * as Y from 'yjs'
import { RateLimiter, type SendBudget, unrefTimer } from '../common/index.js'
import { encodeLight, encodeStateV1, SyncType } from '../replication/index.js'

/** Whole-state answers a light peer may get at once before the per-minute budget applies. */
const BURST = 4

/** How often an answer that waits for the node's send budget looks again, ms. */
const BUDGET_RETRY_MS = 100

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/**
 * A base answer stops being reused once what changed since it passes this share of its size:
 * past that, a fresh base costs less than the changes sent on top of it.
 */
const REBASE_SHARE = 8

/**
 * How long a whole-state answer stays cached after it was last used, ms. The cache is for
 * crowds (cold joins after a restart, clients that ask and never read), which come within
 * moments of each other. Kept for good it was a copy of the whole room per room, growing with
 * every client the room ever had (about 30 B per light peer that wrote), while a room whose
 * joins are seconds apart gains nothing from it.
 */
export const ANSWER_CACHE_MS = 2000

/** Per document: a change counter, the last whole answer encoded, and what changed since. */
interface DocAnswers {
  version: number
  base?: {
    /** The client state vector the base answers. */
    stateVector: Uint8Array
    /** The document's state vector when the base was encoded. */
    docState: Uint8Array
    version: number
    frame: Uint8Array<ArrayBuffer>
  }
  /** Everything written since the base, as a live update, at `version`. */
  since?: { version: number; frame: Uint8Array<ArrayBuffer> }
  /** When the cached answer was last used. */
  usedAt: number
  /** Drops the cached answer once unused for {@link ANSWER_CACHE_MS}. */
  release?: ReturnType<typeof setTimeout>
}
const answersOf = new WeakMap<Y.Doc, DocAnswers>()

/**
 * The frames answering `stateVector`: the SyncStep2 of the last answer encoded against the same
 * state vector, shared by every light peer of the room that asks that way (a crowd of cold
 * joins, or a crowd of clients that ask and never read, holds one copy of the room in the send
 * queues, not one each), followed, when the room changed since, by an update frame with what
 * was written since then (encoded once per change, and shared too). A client cannot tell the
 * two from an answer followed by live traffic. The base is encoded again once the changes pass
 * an eighth of it, and let go once unused for {@link ANSWER_CACHE_MS}.
 */
export const stateAnswer = (doc: Y.Doc, stateVector: Uint8Array): Array<Uint8Array<ArrayBuffer>> => {
  let answers = answersOf.get(doc)
  if (!answers) {
    const fresh: DocAnswers = { version: 0, usedAt: 0 }
    doc.on('update', () => {
      fresh.version++
    })
    answersOf.set(doc, fresh)
    answers = fresh
  }
  keepFor(answers, ANSWER_CACHE_MS)
  const { base, version } = answers
  if (base && sameBytes(base.stateVector, stateVector)) {
    if (base.version === version) return [base.frame]
    if (answers.since?.version !== version) {
      const update = encodeStateV1(doc, base.docState)
      answers.since = { version, frame: encodeLight.sync(SyncType.update, update) }
    }
    if (answers.since.frame.length * REBASE_SHARE <= base.frame.length) return [base.frame, answers.since.frame]
  }
  const frame = encodeLight.sync(SyncType.step2, encodeStateV1(doc, stateVector))
  answers.base = { stateVector: stateVector.slice(), docState: Y.encodeStateVector(doc), version, frame }
  answers.since = undefined
  return [frame]
}

/** Keeps the cached answer until it was unused for `ms`, then lets it go. */
const keepFor = (answers: DocAnswers, ms: number): void => {
  answers.usedAt = Date.now()
  if (answers.release !== undefined) return
  const check = (): void => {
    const idle = Date.now() - answers.usedAt
    if (idle < ms) {
      answers.release = setTimeout(check, ms - idle)
      unrefTimer(answers.release)
      return
    }
    answers.release = undefined
    answers.base = undefined
    answers.since = undefined
  }
  answers.release = setTimeout(check, ms)
  unrefTimer(answers.release)
}

/** True when the room holds structs the client's state vector does not cover. */
const lacksStructs = (doc: Y.Doc, stateVector: Uint8Array): boolean => {
  const theirs = Y.decodeStateVector(stateVector)
  for (const [client, clock] of Y.decodeStateVector(Y.encodeStateVector(doc))) {
    if ((theirs.get(client) ?? 0) < clock) return true
  }
  return false
}

/** The state vector each of `a` and `b` covers: an answer against it answers both. */
const lowerBound = (a: Uint8Array, b: Uint8Array): Uint8Array => {
  const mine = Y.decodeStateVector(a)
  const theirs = Y.decodeStateVector(b)
  const both = new Map<number, number>()
  for (const [client, clock] of mine) {
    const other = theirs.get(client)
    if (other !== undefined) both.set(client, Math.min(clock, other))
  }
  return Y.encodeStateVector(both)
}

/**
 * Answers one light peer's SyncStep1 requests within a budget. Each answer that carries state
 * the client lacks means encoding up to the whole room, so those take a token from a bucket of
 * `perMinute` (bursts of 4), and wait while the node's light sockets together hold more unsent
 * bytes than its send budget (clients that do not read cannot pin an answer each); a request from a client that already has every struct costs
 * little (its answer is the delete set) and is answered at once. Without a token the request
 * waits, and requests that arrive meanwhile join it: when the next token comes, the client
 * gets one answer that covers them all (against the lowest of their state vectors), and no
 * answer overtakes another. Honest clients ask once per connection.
 */
export class SyncAnswers {
  #doc: Y.Doc
  #answer: (stateVector: Uint8Array) => void
  #budget: SendBudget | undefined
  #limiter: RateLimiter
  #waiting: Uint8Array | undefined
  #timer: ReturnType<typeof setTimeout> | undefined
  #stopped = false

  constructor(options: {
    doc: Y.Doc
    perMinute: number
    answer: (stateVector: Uint8Array) => void
    budget?: SendBudget
  }) {
    this.#doc = options.doc
    this.#answer = options.answer
    this.#budget = options.budget
    this.#limiter = new RateLimiter(options.perMinute / 60, BURST)
  }

  /** Answers now or later. Throws on a malformed state vector (the caller closes the socket). */
  request(stateVector: Uint8Array): void {
    if (this.#stopped) return
    if (this.#waiting !== undefined) {
      // No answer overtakes a waiting one; the one answer covers both requests.
      this.#waiting = lowerBound(this.#waiting, stateVector)
      return
    }
    if (!lacksStructs(this.#doc, stateVector)) return this.#answer(stateVector)
    if (!this.#budget?.spent() && this.#limiter.take()) return this.#answer(stateVector)
    this.#waiting = stateVector
    this.#schedule()
  }

  /** Drops a waiting request; nothing is answered after this. */
  stop(): void {
    this.#stopped = true
    this.#waiting = undefined
    clearTimeout(this.#timer)
    this.#timer = undefined
  }

  #schedule(): void {
    if (this.#timer !== undefined) return
    this.#timer = setTimeout(
      () => {
        this.#timer = undefined
        const stateVector = this.#waiting
        if (stateVector === undefined || this.#stopped) return
        if (this.#budget?.spent() || !this.#limiter.take()) return this.#schedule()
        this.#waiting = undefined
        this.#answer(stateVector)
      },
      Math.max(this.#limiter.msUntilToken(), this.#budget?.spent() ? BUDGET_RETRY_MS : 0),
    )
    // A waiting answer is no reason to keep a process alive.
    unrefTimer(this.#timer)
  }
}
