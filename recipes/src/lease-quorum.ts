/**
 * The majority a lease owner needs before it issues tokens (docs/recipes/lease.md, "Partitions").
 * The voting members are every node member this node has seen, minus those it saw leave
 * gracefully: a dead member still votes (a partition looks exactly like a death from each
 * side), and so does one that membership forgot. Two disjoint sides of a partition cannot both
 * hold a majority of the same voters, so at most one side reserves tokens.
 *
 * The read half: before it issues from a block it reserved, an owner asks the voters for the
 * highest mark they hold of the lease's records written by other nodes (mesh messages on
 * {@link MARKS_TOPIC}), and waits for a majority of answers. Its reservation was held by a
 * majority before it asked, so of two owners reserving at once, at least one reads the other's
 * mark and gives its block up.
 */
import { MeshError, type JsonValue, type MeshNode } from '@mesh/core'
import { isText, isToken, leaseRecords } from './lease-records.js'

/** The topic of mark questions and answers. */
const MARKS_TOPIC = 'mesh.lease.marks'

/** A majority of the voting members, and who they are. */
export interface LeaseQuorum {
  /** The voting members' ids, this node's included. */
  voters(): Set<string>
  /** How many voters make a majority (this node counts as one). */
  majority(): number
  /** The reason this node cannot reach a majority now (it sees too few voters alive), or undefined. */
  lacking(): string | undefined
  /**
   * The highest mark of lease `name` among records not written by this node, as a majority of
   * the voters holds it (this node's own store counts as one answer). Rejects with a `timeout`
   * MeshError when too few answer within `timeoutMs`.
   */
  othersMark(name: string, timeoutMs: number): Promise<number>
}

const byNode = new WeakMap<MeshNode, LeaseQuorum>()

/** The quorum of `node` (one per node); starts answering other owners' mark questions. */
export const leaseQuorum = (node: MeshNode): LeaseQuorum => {
  const known = byNode.get(node)
  if (known) return known
  const records = leaseRecords(node)
  const voting = new Set<string>([node.id])
  /** Adds every node member seen and drops those that left (a member back from leaving votes again). */
  const voters = (): Set<string> => {
    for (const m of node.members()) {
      if (m.role !== 'node' || m.id === node.id) continue
      if (m.state === 'left') voting.delete(m.id)
      else voting.add(m.id)
    }
    return voting
  }
  node.on('member:join', () => void voters())
  node.on('member:leave', () => void voters())
  voters()

  /** The highest mark of `name` among records that `asker` did not write. */
  const markWithout = (name: string, asker: string): number =>
    Math.max(0, ...records.entries(name).flatMap((s) => (s.writer === asker ? [] : [s.record.reserved])))

  let asked = 0
  /** Questions on their way: the answers so far, by question id. */
  const pending = new Map<string, { from: Set<string>; mark: number; check: () => void }>()
  node.subscribe(MARKS_TOPIC, (payload: JsonValue, message) => {
    if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) return
    const p = payload as Record<string, unknown>
    if (message.origin === node.id) return
    if (isText(p.ask) && isText(p.name)) {
      if (node.closed) return
      node.publish(MARKS_TOPIC, { answer: p.ask, to: message.origin, mark: markWithout(p.name, message.origin) })
    } else if (isText(p.answer) && p.to === node.id && isToken(p.mark)) {
      const question = pending.get(p.answer)
      // Only voters' answers count: anything else on the topic may be hostile or stale.
      if (!question || !voters().has(message.origin)) return
      question.from.add(message.origin)
      question.mark = Math.max(question.mark, p.mark)
      question.check()
    }
  })

  const majority = () => Math.floor(voters().size / 2) + 1
  const quorum: LeaseQuorum = {
    voters,
    majority,
    lacking() {
      const all = voters()
      const alive = node.members().filter((m) => m.role === 'node' && m.state === 'alive' && all.has(m.id))
      const reach = 1 + alive.filter((m) => m.id !== node.id).length
      const need = majority()
      if (reach >= need) return undefined
      return `no quorum: this node reaches ${String(reach)} of ${String(all.size)} voting members, a majority is ${String(need)}`
    },
    othersMark(name, timeoutMs) {
      const id = `${node.id}/${String(++asked)}`
      return new Promise<number>((resolve, reject) => {
        const question = {
          from: new Set<string>(),
          mark: markWithout(name, node.id),
          check: () => {
            if (question.from.size + 1 < majority()) return
            done()
            resolve(question.mark)
          },
        }
        const timer = setTimeout(() => {
          done()
          const got = String(question.from.size + 1)
          reject(new MeshError('timeout', `no quorum: ${got} of ${String(majority())} voting members answered`))
        }, timeoutMs)
        const done = () => {
          clearTimeout(timer)
          pending.delete(id)
        }
        pending.set(id, question)
        question.check()
        if (pending.has(id)) node.publish(MARKS_TOPIC, { ask: id, name })
      })
    },
  }
  byNode.set(node, quorum)
  return quorum
}
