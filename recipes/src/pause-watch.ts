/**
 * Pauses of this process (SIGSTOP, a frozen VM, a long GC or a stalled event loop) and what
 * they do to its view of the cluster. On resume the membership measures every peer's silence
 * across the pause: past the failure bound it declares them all dead, and this node owns every
 * shard until their heartbeats reach it again, while the store still holds what it had before
 * the pause. A recipe that answers from that view must wait until the view is current again.
 */
import type { MeshNode } from '@mesh/core'

/** How long the event loop may stall before the node counts as having been paused. */
const PAUSE_MS = 1000
const TICK_MS = 250
/** How often a wait after a pause looks at the members again (a heartbeat raises no event). */
const POLL_MS = 50

/** The pauses of one node's process. */
export interface PauseWatch {
  /** How many pauses were seen so far; grows on resume. */
  pauses(): number
  /**
   * Resolves once this node's view of the cluster is current again: at once unless a pause
   * ended less than the failure bound (`node.deadAfterMs`) ago and some member that was alive
   * when it began (or that the node declared dead on resume) has not been heard from since.
   * Past the bound, a member still silent is dead by a full bound of this node's own running
   * time, as without a pause. Resolves true when it had to wait.
   */
  settled(): Promise<boolean>
}

const byNode = new WeakMap<MeshNode, PauseWatch>()

/** The pause watch of `node` (one per node). */
export const pauseWatch = (node: MeshNode): PauseWatch => {
  const known = byNode.get(node)
  if (known) return known
  let pauses = 0
  let lastTick = Date.now()
  /** When the last pause ended, and the members to hear from again after it. */
  let resumedAt = 0
  let waitFor = new Set<string>()
  /** When members were declared dead since the last tick, by this node's clock. */
  const declaredDead = new Map<string, number>()
  node.on('member:dead', ({ member }) => declaredDead.set(member.id, Date.now()))
  node.on('member:join', ({ member }) => declaredDead.delete(member.id))

  const check = (): void => {
    const now = Date.now()
    if (now - lastTick > PAUSE_MS) {
      pauses++
      resumedAt = now
      // Members alive before the pause: still alive or suspect in the stale view, or declared
      // dead since the last tick before it (the verdicts made on resume).
      waitFor = new Set(
        node
          .members()
          .filter((m) => m.role === 'node' && m.id !== node.id)
          .filter((m) => m.state === 'alive' || m.state === 'suspect' || (declaredDead.get(m.id) ?? 0) >= lastTick)
          .map((m) => m.id),
      )
    }
    lastTick = now
    // Only deaths declared after this tick can be verdicts of the next resume.
    declaredDead.clear()
  }
  const timer = setInterval(() => {
    if (node.closed) clearInterval(timer)
    check()
  }, TICK_MS)
  timer.unref()

  /** True once every member to hear from was heard since the resume, left, or was forgotten, or the bound passed. */
  const current = (): boolean => {
    if (waitFor.size === 0) return true
    if (Date.now() - resumedAt >= node.deadAfterMs) {
      waitFor.clear()
      return true
    }
    const members = new Map(node.members().map((m) => [m.id, m]))
    for (const id of waitFor) {
      const m = members.get(id)
      if (!m || m.state === 'left' || (m.state === 'alive' && m.lastSeen >= resumedAt)) waitFor.delete(id)
    }
    return waitFor.size === 0
  }

  const watch: PauseWatch = {
    pauses() {
      // A stall the timer has not seen yet: this call runs first after the pause.
      check()
      return pauses
    },
    async settled() {
      check()
      if (current()) return false
      while (!current() && !node.closed) await new Promise((resolve) => setTimeout(resolve, POLL_MS))
      return true
    },
  }
  byNode.set(node, watch)
  return watch
}
