import type { SwimMessage } from './gossip.js'

/** What the prober needs of the node: its links, and where a failed probe goes. */
export interface ProberHost {
  /** Ids of the members this node has an open link to. */
  peers(): string[]
  /** True while this node has an open link to `id`. */
  linked(id: string): boolean
  /** Sends a SWIM message over the link to `peer` (news and digest are added there). */
  send(peer: string, message: Pick<SwimMessage, 'kind' | 'seq' | 'target'>): void
  /** Neither `target` nor any helper acknowledged a probe within its round. */
  failed(target: string): void
  random(): number
}

/** A `req` this node relays: its own ping to `target` answers the requester's probe `seq`. */
interface Relay {
  requester: string
  seq: number
  target: string
  until: number
}

/** The probe of the current round. */
interface Probe {
  seq: number
  target: string
  acked: boolean
  indirect: boolean
}

/**
 * SWIM's failure detector over peer links. Each round it probes one linked member, taken
 * round-robin from a shuffled list (reshuffled every pass, so every link is probed once per
 * pass); halfway through the round, a probe without an ack asks `k` other linked members to
 * probe the target for it (`req`); a round that ends without any ack reports the target as
 * failed. A member whose link dropped without a goodbye is probed at once, through the others
 * only. One ping, and at most `k` requests, per node per round, whatever the cluster's size.
 */
export class Prober {
  #host: ProberHost
  #k: number
  #order: string[] = []
  #urgent: string[] = []
  #seq: number
  #probe: Probe | undefined
  #relays = new Map<number, Relay>()

  constructor(host: ProberHost, options: { indirect?: number } = {}) {
    this.#host = host
    this.#k = options.indirect ?? 3
    this.#seq = Math.floor(host.random() * 1_000_000)
  }

  /** Ends the previous round (judging its probe, unless `judge` is false) and starts the next: picks a target and pings it. */
  round(now: number, judge = true): void {
    const previous = this.#probe
    this.#probe = undefined
    if (judge && previous && !previous.acked) this.#host.failed(previous.target)
    for (const [seq, relay] of this.#relays) if (relay.until < now) this.#relays.delete(seq)
    const target = this.#next()
    if (target === undefined) return
    const probe: Probe = { seq: this.#nextSeq(), target, acked: false, indirect: false }
    this.#probe = probe
    if (this.#host.linked(target)) this.#host.send(target, { kind: 'ping', seq: probe.seq })
    else this.#indirect(probe)
  }

  /** Halfway through a round: a probe nobody answered yet is retried through others. */
  midRound(): void {
    const probe = this.#probe
    if (probe && !probe.acked && !probe.indirect) this.#indirect(probe)
  }

  /** A member's link dropped without a goodbye: probe it first, through the others. */
  dropped(id: string): void {
    if (!this.#urgent.includes(id)) this.#urgent.push(id)
  }

  /** Forgets a member that is gone (dead or left): nothing is pending on it any more. */
  forget(id: string): void {
    this.#urgent = this.#urgent.filter((u) => u !== id)
    if (this.#probe?.target === id) this.#probe = undefined
  }

  /** An ack arrived from `from`: ours (directly, or relayed by a helper), or one to relay back to a requester. */
  acked(from: string, message: SwimMessage): void {
    const relay = this.#relays.get(message.seq)
    if (relay && relay.target === from) {
      this.#relays.delete(message.seq)
      this.#host.send(relay.requester, { kind: 'ack', seq: relay.seq, target: relay.target })
      return
    }
    const probe = this.#probe
    if (probe?.seq !== message.seq) return
    if (from === probe.target || (probe.indirect && message.target === probe.target)) probe.acked = true
  }

  /** A member asks this node to probe `target` for it: done when this node has a link to it. */
  requested(from: string, message: SwimMessage, now: number, roundMs: number): void {
    const target = message.target
    if (target === undefined || target === from || !this.#host.linked(target)) return
    const seq = this.#nextSeq()
    this.#relays.set(seq, { requester: from, seq: message.seq, target, until: now + roundMs })
    this.#host.send(target, { kind: 'ping', seq })
  }

  #indirect(probe: Probe): void {
    probe.indirect = true
    const helpers = shuffle(
      this.#host.peers().filter((id) => id !== probe.target),
      () => this.#host.random(),
    ).slice(0, this.#k)
    for (const helper of helpers) this.#host.send(helper, { kind: 'req', seq: probe.seq, target: probe.target })
  }

  #next(): string | undefined {
    const urgent = this.#urgent.shift()
    if (urgent !== undefined) return urgent
    for (let pass = 0; pass < 2; pass++) {
      while (this.#order.length > 0) {
        const id = this.#order.pop()
        if (id !== undefined && this.#host.linked(id)) return id
      }
      this.#order = shuffle(this.#host.peers(), () => this.#host.random())
    }
    return undefined
  }

  #nextSeq(): number {
    this.#seq = (this.#seq + 1) % Number.MAX_SAFE_INTEGER
    return this.#seq
  }
}

/** Fisher–Yates, in place; returns the array. */
const shuffle = <T>(items: T[], random: () => number): T[] => {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    ;[items[i], items[j]] = [items[j] as T, items[i] as T]
  }
  return items
}
