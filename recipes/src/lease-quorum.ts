/**
 * The majority a lease owner needs before it issues tokens (docs/recipes/lease.md, "Quorum").
 * The voting members are every node member this node has seen declare `mesh.lease`, minus those
 * it saw leave gracefully: a dead member still votes (a partition looks exactly like a death
 * from each side), and so does one that membership forgot. Two disjoint sides of a partition
 * cannot both hold a majority of the same voters, so at most one side reserves tokens.
 *
 * Before it issues from a block it reserved, an owner asks the voters (mesh messages on
 * {@link MARKS_TOPIC}) for two things each answer reports from one moment of the voter's store:
 * the mark of the owner's own record there, and the highest mark of the other nodes' records.
 * The owner waits for a majority of voters holding its reservation. Two majorities share a
 * voter, which answered one owner first: the later answer already holds the earlier owner's
 * reservation, so of two owners reserving at once at least one reads the other's mark.
 */
import { MeshError, type JsonValue, type MeshNode } from '@mesh/core'
import { isText, isToken, leaseRecords } from './lease-records.js'

/** The topic of mark questions and answers. */
const MARKS_TOPIC = 'mesh.lease.marks'
/** The capability whose declarers vote (lease-actor.ts's LEASE_CAPABILITY; imported from there it would make a cycle). */
const VOTERS_CAPABILITY = 'mesh.lease'
/** How often a question is asked again while too few voters hold the reservation yet. */
const ASK_AGAIN_MS = 100

/** A majority of the voting members, and who they are. */
export interface LeaseQuorum {
  /** The voting members' ids, this node's included. */
  voters(): Set<string>
  /** How many voters make a majority (this node counts as one). */
  majority(): number
  /** The reason this node cannot reach a majority now (it sees too few voters alive or suspect), or undefined. */
  lacking(): string | undefined
  /**
   * Waits until a majority of the voters (this node counts as one) hold this node's record of
   * lease `name` with a mark of at least `mark`, and returns the highest mark of the other
   * nodes' records in their answers. Rejects with a `timeout` MeshError when too few hold it
   * within `timeoutMs`.
   */
  othersMark(name: string, mark: number, timeoutMs: number): Promise<number>
}

const byNode = new WeakMap<MeshNode, LeaseQuorum>()

/** The quorum of `node` (one per node); starts answering other owners' mark questions. */
export const leaseQuorum = (node: MeshNode): LeaseQuorum => {
  const known = byNode.get(node)
  if (known) return known
  const records = leaseRecords(node)
  const voting = new Set<string>([node.id])
  /** Adds every lease node seen and drops those that left (a member back from leaving votes again). */
  const voters = (): Set<string> => {
    for (const m of node.members()) {
      if (m.role !== 'node' || m.id === node.id) continue
      if (m.state === 'left') voting.delete(m.id)
      else if (m.capabilities.includes(VOTERS_CAPABILITY)) voting.add(m.id)
    }
    return voting
  }
  node.on('member:join', () => void voters())
  node.on('member:leave', () => void voters())
  voters()

  /** What this node's store holds of lease `name`: `asker`'s mark, and the highest mark of the others. */
  const marks = (name: string, asker: string): { mine: number; others: number } => {
    let mine = 0
    let others = 0
    for (const s of records.entries(name)) {
      if (s.writer === asker) mine = Math.max(mine, s.record.reserved)
      else others = Math.max(others, s.record.reserved)
    }
    return { mine, others }
  }

  let asked = 0
  /** Questions on their way: the voters holding the reservation so far, by question id. */
  const pending = new Map<
    string,
    { name: string; from: Set<string>; mark: number; others: number; check: () => void }
  >()
  node.subscribe(MARKS_TOPIC, (payload: JsonValue, message) => {
    if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) return
    const p = payload as Record<string, unknown>
    if (message.origin === node.id) return
    if (isText(p.ask) && isText(p.name)) {
      if (node.closed) return
      node.publish(MARKS_TOPIC, { answer: p.ask, to: message.origin, ...marks(p.name, message.origin) })
    } else if (isText(p.answer) && p.to === node.id && isToken(p.mine) && isToken(p.others)) {
      const question = pending.get(p.answer)
      // Only voters' answers count: anything else on the topic may be hostile or stale.
      if (!question || !voters().has(message.origin)) return
      question.others = Math.max(question.others, p.others)
      if (p.mine >= question.mark) question.from.add(message.origin)
      question.check()
    }
  })

  const majority = () => Math.floor(voters().size / 2) + 1
  const quorum: LeaseQuorum = {
    voters,
    majority,
    lacking() {
      const all = voters()
      // A suspect voter may still answer: the reservation round decides, this only refuses early.
      const up = (state: string) => state === 'alive' || state === 'suspect'
      const alive = node.members().filter((m) => m.role === 'node' && up(m.state) && all.has(m.id))
      const reach = 1 + alive.filter((m) => m.id !== node.id).length
      const need = majority()
      if (reach >= need) return undefined
      return `no quorum: this node reaches ${String(reach)} of ${String(all.size)} voting members, a majority is ${String(need)}`
    },
    othersMark(name, mark, timeoutMs) {
      const id = `${node.id}/${String(++asked)}`
      return new Promise<number>((resolve, reject) => {
        const question = {
          name,
          from: new Set<string>(),
          mark,
          others: marks(name, node.id).others,
          check: () => {
            if (question.from.size + 1 < majority()) return
            done()
            resolve(question.others)
          },
        }
        const ask = () => {
          if (!node.closed) node.publish(MARKS_TOPIC, { ask: id, name })
        }
        // A voter that answered before the reservation reached it is asked again.
        const again = setInterval(ask, ASK_AGAIN_MS)
        const timer = setTimeout(() => {
          done()
          const got = String(question.from.size + 1)
          reject(
            new MeshError('timeout', `no quorum: ${got} of ${String(majority())} voting members hold the reservation`),
          )
        }, timeoutMs)
        const done = () => {
          clearTimeout(timer)
          clearInterval(again)
          pending.delete(id)
        }
        pending.set(id, question)
        question.check()
        if (pending.has(id)) ask()
      })
    },
  }
  byNode.set(node, quorum)
  return quorum
}
