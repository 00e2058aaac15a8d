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

/** What a room knows of one link: whether it is synced with it, and what its node announced. */
interface LinkView {
  readonly link: RelayLink
  /** Synced both ways: the link's peer id goes to every other link. */
  synced: boolean
  /** The peer ids the link's node last said it is synced with, for this room. */
  ids: ReadonlySet<string> | undefined
}

const NO_VIEWS: readonly LinkView[] = Object.freeze([])

/**
 * What a room knows about who gets its updates from whom; see the file header. One record per
 * link, in an array replaced when a link comes or goes (a node has few links, and a room that
 * anyone may open must cost little: e2e/socket-cost.test.ts); the set of pending sources is
 * made on first use: most rooms never hold pending structs.
 */
export class RelayHorizon {
  #views: readonly LinkView[] = NO_VIEWS
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
    const view = this.#viewOf(link) ?? this.#add(link)
    if (view.synced) return false
    view.synced = true
    return true
  }

  /** Records that `link` is no longer synced (it dropped or resyncs); true when it was. */
  unsync(link: RelayLink): boolean {
    const view = this.#viewOf(link)
    if (!view?.synced) return false
    view.synced = false
    this.#drop(view)
    return true
  }

  /** The peer ids this room is synced with, as this node announces them. */
  ids(): string[] {
    const ids: string[] = []
    for (const view of this.#views) if (view.synced && view.link.peerId !== undefined) ids.push(view.link.peerId)
    return ids
  }

  /** What `link`'s node announced it is synced with. */
  heard(link: RelayLink, ids: readonly string[]): void {
    ;(this.#viewOf(link) ?? this.#add(link)).ids = announced(ids)
  }

  /** Forgets what `link`'s node announced (its room resyncs or the link closed). */
  forget(link: RelayLink): void {
    const view = this.#viewOf(link)
    if (!view) return
    view.ids = undefined
    this.#drop(view)
  }

  /** The peer ids `link`'s node last announced, for status. */
  announcedBy(link: RelayLink): string[] {
    return [...(this.#viewOf(link)?.ids ?? [])]
  }

  /** True when `target` gets what came from `origin` (a link) from `origin`'s node itself. */
  covers(origin: unknown, target: RelayLink): boolean {
    // Only links have views: any other origin (a local write, a light peer) is relayed to all.
    const theirs = this.#viewOf(origin)?.ids
    if (theirs === undefined || target.peerId === undefined || !theirs.has(target.peerId)) return false
    const source = (origin as RelayLink).peerId
    return source !== undefined && (this.#viewOf(target)?.ids?.has(source) ?? false)
  }

  #viewOf(link: unknown): LinkView | undefined {
    for (const view of this.#views) if (view.link === link) return view
    return undefined
  }

  #add(link: RelayLink): LinkView {
    const view: LinkView = { link, synced: false, ids: undefined }
    this.#views = appended(this.#views, view)
    return view
  }

  /** Drops a view that holds nothing any more. */
  #drop(view: LinkView): void {
    if (!view.synced && view.ids === undefined)
      this.#views = this.#views.length === 1 ? NO_VIEWS : without(this.#views, view)
  }
}
