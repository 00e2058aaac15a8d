/**
 * Which live updates of a room a node need not relay to which peer (issue 19).
 *
 * A node relays what it applies to its other links (DESIGN §6). In a full mesh that makes every
 * replica apply each update twice: once from the writer, once relayed by the third node. So
 * every node tells each peer, per room, which peers it is synced with both ways (`relays`
 * message), and a node skips sending an update that came from link A to link C when:
 *
 * 1. A's node said it is synced with C's node. A's word travels on the same link as A's
 *    updates, in order, so it held when A sent the update: A sent it to C too, or A itself
 *    skipped C by this same rule (and so on back to the writer, who sends to every link).
 * 2. C's node said it is synced with A's node. C takes that back, on every link, as soon as its
 *    link to A drops or resyncs, with its state vector: the peer answers with a `repair` of
 *    what C lacks, and from then on relays A's updates to C again. So an update lost on a
 *    dying A–C link comes to C from a peer that skipped it, without waiting for anti-entropy.
 *
 * A link mid-handshake is not synced, so nothing is skipped for it until both sides said so.
 * A transaction that begins while the room holds pending structs may integrate them, so its
 * update came from where they came from too: it is left out only for a link that every one of
 * those sources leaves out.
 */

import { appended, without } from '../common/index.js'

/** A peer link as the horizon sees it. */
export interface RelayLink {
  readonly peerId: string | undefined
}

/** What a node announced when it is synced with nobody else: shared, never changed. */
const NOBODY: ReadonlySet<string> = new Set()

/** Most distinct announcements kept for sharing (see {@link announced}); past it, the table starts over. */
const SHARED_ANNOUNCEMENTS = 256

/**
 * The id sets peers announced, shared between rooms: a peer announces the same few sets for
 * every room it holds (most often just this node's id), and a set of its own per room and link
 * would cost about 200 bytes each. Never changed once made.
 */
const shared = new Map<string, ReadonlySet<string>>()

const announced = (ids: readonly string[]): ReadonlySet<string> => {
  if (ids.length === 0) return NOBODY
  const key = ids.join('\n')
  let set = shared.get(key)
  if (set === undefined) {
    if (shared.size >= SHARED_ANNOUNCEMENTS) shared.clear()
    set = new Set(ids)
    shared.set(key, set)
  }
  return set
}

/** What one link's node announced for a room. */
interface Heard {
  readonly link: RelayLink
  readonly ids: ReadonlySet<string>
}

/**
 * What a room knows about who gets its updates from whom; see the file header. It keeps per
 * link in arrays replaced on change (a node has few links, and a room that anyone may open must
 * cost little: e2e/socket-cost.test.ts), and makes its sets on first use: most rooms never hold
 * pending structs.
 */
export class RelayHorizon {
  /** Links this room is synced with both ways: their peers' ids go to every other link. */
  #synced: readonly RelayLink[] | undefined
  /** Per link: the peer ids its node last said it is synced with, for this room. */
  #theirs: readonly Heard[] | undefined
  /** Origins of the transactions that left the room's pending structs, until none are left. */
  #pendingSources: Set<unknown> | undefined

  /** After every transaction of the room: remembers where pending structs came from. */
  settled(origin: unknown, pending: boolean): void {
    if (pending) (this.#pendingSources ??= new Set()).add(origin)
    else this.#pendingSources = undefined
  }

  /** Where the room's pending structs came from (a transaction beginning now may integrate them). */
  pendingSources(): unknown[] {
    return [...(this.#pendingSources ?? [])]
  }

  /**
   * True when `link` need not get an update from `origin` (that may carry pending structs from
   * `sources`): each of them is `link` itself or gets it to `link` directly.
   */
  leaves(link: RelayLink, origin: unknown, sources?: readonly unknown[]): boolean {
    const skips = (source: unknown): boolean => source === link || this.covers(source, link)
    return skips(origin) && (sources === undefined || sources.every(skips))
  }

  /** Records that the room is synced with `link` both ways; true when that is news. */
  sync(link: RelayLink): boolean {
    const synced = this.#synced ?? []
    if (synced.includes(link)) return false
    this.#synced = appended(synced, link)
    return true
  }

  /** Records that `link` is no longer synced (it dropped or resyncs); true when it was. */
  unsync(link: RelayLink): boolean {
    const synced = this.#synced
    if (synced === undefined || !synced.includes(link)) return false
    this.#synced = synced.length === 1 ? undefined : without(synced, link)
    return true
  }

  /** The peer ids this room is synced with, as this node announces them. */
  ids(): string[] {
    const ids: string[] = []
    for (const link of this.#synced ?? []) if (link.peerId !== undefined) ids.push(link.peerId)
    return ids
  }

  /** What `link`'s node announced it is synced with. */
  heard(link: RelayLink, ids: readonly string[]): void {
    const theirs = this.#theirs ?? []
    const heard = { link, ids: announced(ids) }
    const at = theirs.findIndex((h) => h.link === link)
    this.#theirs = at < 0 ? appended(theirs, heard) : theirs.map((h, i) => (i === at ? heard : h))
  }

  /** Forgets what `link`'s node announced (its room resyncs or the link closed). */
  forget(link: RelayLink): void {
    const theirs = this.#theirs
    const at = theirs?.findIndex((h) => h.link === link) ?? -1
    if (theirs === undefined || at < 0) return
    this.#theirs = theirs.length === 1 ? undefined : without(theirs, theirs[at] as Heard)
  }

  /** The peer ids `link`'s node last announced, for status. */
  announcedBy(link: RelayLink): string[] {
    return [...(this.#heardFrom(link) ?? [])]
  }

  /** True when `target` gets what came from `origin` (a link) from `origin`'s node itself. */
  covers(origin: unknown, target: RelayLink): boolean {
    // Only links are heard from: any other origin (a local write, a light peer) is relayed to all.
    const theirs = this.#heardFrom(origin)
    if (theirs === undefined || target.peerId === undefined || !theirs.has(target.peerId)) return false
    const source = (origin as RelayLink).peerId
    return source !== undefined && (this.#heardFrom(target)?.has(source) ?? false)
  }

  #heardFrom(link: unknown): ReadonlySet<string> | undefined {
    const theirs = this.#theirs
    if (theirs === undefined) return undefined
    for (const h of theirs) if (h.link === link) return h.ids
    return undefined
  }
}
