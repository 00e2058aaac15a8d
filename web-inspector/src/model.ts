import type { FeedHandle, FeedState, OpenFeed } from './feed.js'
import { compareStateVectors } from './relation.js'
import type {
  Commit,
  FeedMessage,
  HistoryRelation,
  Member,
  MemberState,
  MergeReport,
  NodeStatus,
  PeerStatus,
} from './types.js'

/** How the inspector sees a node: what its members say, plus whether its own feed answers. */
export type NodeHealth = MemberState | 'unreachable' | 'unknown'

/** The state of the link between two nodes, merged from both ends' status. */
export type LinkState = 'connected' | 'syncing' | 'quarantined' | 'reconnecting' | 'cut' | 'none' | 'unknown'

/** One node the inspector follows: one feed, and the last picture that feed gave. */
export interface NodeEntry {
  /** Advertised peer URL, `ws://HOST:PORT/mesh`. */
  readonly peerUrl: string
  /** `ws://HOST:PORT/mesh/_inspect`. */
  readonly feedUrl: string
  /** `http://HOST:PORT/mesh`; the REST API is below `/api`. */
  readonly httpBase: string
  id: string | undefined
  name: string
  feed: FeedState
  status: NodeStatus | undefined
  members: Member[]
  /** Key → value as JSON text; text compares cheaply and is what the table shows. */
  data: Map<string, string>
  /** Cut peers as the control API last reported them (only with a token). */
  cuts: Set<string>
  /** Another feed already follows this node (it was reached under two URLs). */
  duplicate: boolean
  /** The node announced a graceful leave; its feed is stopped. */
  left: boolean
  /** True once a `hello` arrived on the current connection. */
  loaded: boolean
  /** A fresh `hello` was asked for (a change listed more keys than it carried). */
  resyncing: boolean
  handle: FeedHandle | undefined
}

/** One commit as some node applied it. */
export interface CommitEntry extends Commit {
  /** Id of the node that applied it. */
  node: string
}

/** One node's `merge` report. */
export interface MergeRecord extends MergeReport {
  time: number
  node: string
}

/** A quarantine or a warning raised by a node's `conflict` event. */
export interface ConflictRecord {
  time: number
  node: string
  peer: string
  room: string
  policy: string
  keys: string[]
}

/** One key both sides of a divergence changed: what each node held, and what won. */
export interface EpisodeConflict {
  key: string
  /** Node id → value (JSON text) that node held before the merge. */
  values: Map<string, string>
  /** The value (JSON text) after the merge. */
  winner: string | undefined
}

/** Divergent histories meeting: the merges of one heal, until every node agrees again. */
export interface MergeEpisode {
  id: number
  start: number
  last: number
  merges: MergeRecord[]
  quarantines: ConflictRecord[]
  conflicts: Map<string, EpisodeConflict>
  /** When the inspector received the latest merge of the episode (inspector clock). */
  receivedAt: number
  /** When every reachable node held the same history and values again (inspector clock). */
  agreedAt: number | undefined
  /** How many nodes agreed then. */
  agreedNodes: number
}

/** Which parts of the page must redraw; views clear the flags they drew. */
export interface Dirty {
  graph: boolean
  nodes: boolean
  keys: boolean
  merges: boolean
  commits: boolean
  controls: boolean
}

/** Options of {@link ClusterModel}. */
export interface ClusterModelOptions {
  openFeed: OpenFeed
  /** Called after every change of the model; the page batches redraws per animation frame. */
  onUpdate?: () => void
  /** Called when a node's feed delivered its `hello` (first connect and every reconnect). */
  onLoaded?: (entry: NodeEntry) => void
  now?: () => number
  /** Commits kept across all nodes. Default 2000. */
  maxCommits?: number
  /** Merge episodes kept. Default 100. */
  maxEpisodes?: number
}

/** A merge that arrives this soon after agreement still belongs to the same heal. */
const EPISODE_GRACE_MS = 1500

const SEVERITY: Record<MemberState, number> = { alive: 0, suspect: 1, dead: 2, left: 3 }

const trimSlash = (url: string): string => url.replace(/\/+$/, '')

/** `ws://h:p/mesh` → `http://h:p/mesh`. */
export const httpBaseOf = (peerUrl: string): string => {
  const url = new URL(peerUrl)
  const protocol = url.protocol === 'wss:' ? 'https:' : 'http:'
  return trimSlash(`${protocol}//${url.host}${url.pathname}`)
}

/** `ws://h:p/mesh` → `ws://h:p/mesh/_inspect`. */
export const feedUrlOf = (peerUrl: string): string => `${trimSlash(peerUrl)}/_inspect`

// eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- undefined for undefined, whatever the lib's type says
const json = (value: unknown): string => JSON.stringify(value) ?? 'null'

/**
 * Everything the inspector knows about the cluster, built from one feed per node: the page
 * opens the node it was loaded from, then every node member it hears of. Holds no DOM, so
 * it runs in tests with fake feeds.
 */
export class ClusterModel {
  readonly dirty: Dirty = { graph: true, nodes: true, keys: true, merges: true, commits: true, controls: true }
  #openFeed: OpenFeed
  #onUpdate: () => void
  #onLoaded: (entry: NodeEntry) => void
  #now: () => number
  #maxCommits: number
  #maxEpisodes: number
  #entries = new Map<string, NodeEntry>()
  #byId = new Map<string, NodeEntry>()
  #keyCounts = new Map<string, number>()
  #sortedKeys: string[] | undefined
  #divergent = new Set<string>()
  #keysVersion = 0
  #filterCache: { text: string; divergentOnly: boolean; version: number; keys: string[] } | undefined
  #commits: CommitEntry[] = []
  #episodes: MergeEpisode[] = []
  #episodeSeq = 0
  #lights: Member[] = []
  #names = new Map<string, string>()

  constructor(options: ClusterModelOptions) {
    this.#openFeed = options.openFeed
    this.#onUpdate = options.onUpdate ?? (() => {})
    this.#onLoaded = options.onLoaded ?? (() => {})
    this.#now = options.now ?? Date.now
    this.#maxCommits = options.maxCommits ?? 2000
    this.#maxEpisodes = options.maxEpisodes ?? 100
  }

  /** Starts from one node's peer URL (`ws://HOST:PORT/mesh`); the others are discovered. */
  start(peerUrl: string): void {
    this.#ensure(trimSlash(peerUrl))
  }

  /** Stops every feed. */
  stop(): void {
    for (const entry of this.#entries.values()) entry.handle?.stop()
  }

  // ------------------------------------------------------------------ queries

  /** The nodes to show, sorted by name: one per node id, graceful leavers included (greyed). */
  nodes(): NodeEntry[] {
    return [...this.#entries.values()]
      .filter((e) => !e.duplicate)
      .sort((a, b) => a.name.localeCompare(b.name) || a.peerUrl.localeCompare(b.peerUrl))
  }

  /** Nodes whose feed is open and loaded: their data is live and counts for divergence. */
  online(): NodeEntry[] {
    return this.nodes().filter((e) => e.feed === 'open' && e.loaded && !e.left)
  }

  /** The node with this id, if followed. */
  node(id: string): NodeEntry | undefined {
    return this.#byId.get(id)
  }

  /**
   * A display name for a node id or `light:<n>`, falling back to a short id. A commit that
   * carries several authors' operations has a comma-separated origin: each is named.
   */
  nameOf(id: string): string {
    if (id.includes(','))
      return id
        .split(',')
        .map((one) => this.nameOf(one))
        .join(', ')
    return this.#names.get(id) ?? (id.startsWith('light:') || id.startsWith('client:') ? id : id.slice(0, 8))
  }

  /** Light peers (browser tabs, y-websocket clients) any node lists, once each. */
  lightPeers(): Member[] {
    return this.#lights
  }

  /** What the cluster says about a node, with the inspector's own reachability folded in. */
  health(entry: NodeEntry): NodeHealth {
    if (entry.left) return 'left'
    if (entry.feed === 'open') return 'alive'
    let worst: MemberState | undefined
    for (const other of this.online()) {
      const member = other.members.find((m) => m.id === entry.id)
      if (member && (worst === undefined || SEVERITY[member.state] > SEVERITY[worst])) worst = member.state
    }
    if (worst === undefined) return 'unknown'
    return worst === 'alive' ? 'unreachable' : worst
  }

  /** The peer reports that `from` gives about `to` (both directions of a link may be listed). */
  peerReports(from: NodeEntry, to: NodeEntry): PeerStatus[] {
    if (from.feed !== 'open' || !from.status) return []
    return from.status.peers.filter((p) => (to.id !== undefined && p.id === to.id) || p.url === to.peerUrl)
  }

  /** The link between two nodes, merged from what both ends report. */
  linkState(a: NodeEntry, b: NodeEntry): LinkState {
    const reports = [...this.peerReports(a, b), ...this.peerReports(b, a)]
    const open = reports.filter((p) => p.link === 'open')
    if (open.length > 0) {
      const rooms = open.flatMap((p) => Object.values(p.rooms).map((r) => r.state))
      if (rooms.includes('quarantined')) return 'quarantined'
      if (rooms.includes('syncing')) return 'syncing'
      return 'connected'
    }
    // A dialer goes dormant with no open link only when its node refuses the peer: a cut.
    const known = (b.id !== undefined && a.cuts.has(b.id)) || (a.id !== undefined && b.cuts.has(a.id))
    if (known || reports.some((p) => p.link === 'dormant')) return 'cut'
    if (reports.some((p) => p.link === 'connecting' || p.link === 'handshake' || p.link === 'waiting')) {
      return 'reconnecting'
    }
    if (a.feed !== 'open' && b.feed !== 'open') return 'unknown'
    return 'none'
  }

  /** Every pair of shown nodes (left nodes excluded) with its link state. */
  links(): Array<{ a: NodeEntry; b: NodeEntry; state: LinkState }> {
    const nodes = this.nodes().filter((e) => !e.left && e.id !== undefined)
    const links: Array<{ a: NodeEntry; b: NodeEntry; state: LinkState }> = []
    for (let i = 0; i < nodes.length; i++) {
      for (let j = i + 1; j < nodes.length; j++) {
        const a = nodes[i] as NodeEntry
        const b = nodes[j] as NodeEntry
        links.push({ a, b, state: this.linkState(a, b) })
      }
    }
    return links
  }

  /** Live history relation of `a` to `b` from their current state vectors; null if unknown. */
  relation(a: NodeEntry, b: NodeEntry): HistoryRelation | null {
    if (!a.status || !b.status || a.feed !== 'open' || b.feed !== 'open') return null
    return compareStateVectors(a.status.stateVector, b.status.stateVector)
  }

  /** Every key any node holds, sorted. */
  keys(): string[] {
    this.#sortedKeys ??= [...this.#keyCounts.keys()].sort()
    return this.#sortedKeys
  }

  /** Keys whose values differ between reachable nodes. */
  divergentKeys(): ReadonlySet<string> {
    return this.#divergent
  }

  /** Keys matching a substring filter, optionally only divergent ones; cached until data changes. */
  filteredKeys(text: string, divergentOnly: boolean): string[] {
    const cache = this.#filterCache
    if (cache && cache.text === text && cache.divergentOnly === divergentOnly && cache.version === this.#keysVersion) {
      return cache.keys
    }
    const needle = text.toLowerCase()
    const keys = this.keys().filter(
      (k) => (!divergentOnly || this.#divergent.has(k)) && (needle === '' || k.toLowerCase().includes(needle)),
    )
    this.#filterCache = { text, divergentOnly, version: this.#keysVersion, keys }
    return keys
  }

  /** Recent commits, newest first, filtered by the node that applied them, origin and key. */
  commits(filter: { on?: string; origin?: string; key?: string; limit?: number } = {}): CommitEntry[] {
    const out: CommitEntry[] = []
    const limit = filter.limit ?? 300
    const needle = filter.key?.toLowerCase() ?? ''
    for (let i = this.#commits.length - 1; i >= 0 && out.length < limit; i--) {
      const c = this.#commits[i] as CommitEntry
      if (filter.on && c.node !== filter.on) continue
      if (filter.origin && c.origin !== filter.origin && !c.origin.split(',').includes(filter.origin)) continue
      if (needle && !c.keys.some((k) => k.toLowerCase().includes(needle))) continue
      out.push(c)
    }
    return out
  }

  /** Merge episodes, newest first. */
  episodes(): MergeEpisode[] {
    return [...this.#episodes].reverse()
  }

  /** True when every reachable node has the same history and the same values. */
  agreed(): boolean {
    const online = this.online()
    if (online.length === 0 || this.#divergent.size > 0) return false
    const first = online[0]?.status
    if (!first) return false
    for (const entry of online) {
      const status = entry.status
      if (!status || status.conflicts.length > 0) return false
      if (compareStateVectors(first.stateVector, status.stateVector) !== 'equal') return false
    }
    return true
  }

  // ------------------------------------------------------------------ updates

  /** Records the cut list a node's control API answered with. */
  setCuts(id: string, cuts: readonly string[]): void {
    const entry = this.#byId.get(id)
    if (!entry) return
    entry.cuts = new Set(cuts)
    this.#touch('graph', 'nodes')
  }

  #ensure(peerUrl: string): NodeEntry {
    const existing = this.#entries.get(peerUrl)
    if (existing) return existing
    const host = new URL(peerUrl).host
    const entry: NodeEntry = {
      peerUrl,
      feedUrl: feedUrlOf(peerUrl),
      httpBase: httpBaseOf(peerUrl),
      id: undefined,
      name: host,
      feed: 'connecting',
      status: undefined,
      members: [],
      data: new Map(),
      cuts: new Set(),
      duplicate: false,
      left: false,
      loaded: false,
      resyncing: false,
      handle: undefined,
    }
    this.#entries.set(peerUrl, entry)
    this.#open(entry)
    this.#touch('graph', 'nodes', 'keys', 'controls')
    return entry
  }

  #open(entry: NodeEntry): void {
    entry.handle = this.#openFeed(entry.feedUrl, {
      message: (message) => {
        if (entry.duplicate) return
        this.#receive(entry, message)
        this.#checkAgreement()
        if (message.type === 'hello' && entry.loaded) this.#onLoaded(entry)
        this.#onUpdate()
      },
      state: (state) => {
        if (entry.duplicate) return
        entry.feed = state
        if (state !== 'open' && entry.loaded) {
          // Its data is stale from now on: it no longer counts for divergence.
          entry.loaded = false
          this.#recomputeAll()
        }
        // A leaver's last words may have reached the others before its feed closed.
        if (state === 'closed') for (const other of this.online()) this.#learn(other)
        this.#touch('graph', 'nodes', 'keys', 'controls')
        this.#checkAgreement()
        this.#onUpdate()
      },
    })
  }

  #receive(entry: NodeEntry, message: FeedMessage): void {
    switch (message.type) {
      case 'hello':
        return this.#hello(entry, message)
      case 'status':
        entry.status = message.status
        entry.members = message.members
        this.#learn(entry)
        return this.#touch('graph', 'nodes')
      case 'change': {
        if (!entry.loaded) return
        for (const [key, value] of Object.entries(message.values)) {
          this.#set(entry, key, json(value))
          this.#checkKey(key)
        }
        for (const key of message.removed) {
          this.#set(entry, key, undefined)
          this.#checkKey(key)
        }
        if (message.more.length > 0 && !entry.resyncing) {
          // Too many keys for one message: ask for a fresh hello, which carries them all.
          entry.resyncing = true
          entry.handle?.resync()
        }
        this.#keysVersion++
        return this.#touch('keys')
      }
      case 'commit':
        if (entry.id) this.#addCommits([{ ...message.commit, node: entry.id }])
        return this.#touch('commits')
      case 'merge':
        if (entry.id) this.#addMerge({ ...message.report, time: message.time, node: entry.id })
        return this.#touch('merges')
      case 'conflict': {
        if (!entry.id) return
        const keys = message.keys.map((k) =>
          typeof k === 'object' && k !== null && typeof (k as { key?: unknown }).key === 'string'
            ? (k as { key: string }).key
            : String(k),
        )
        this.#addQuarantine({
          time: message.time,
          node: entry.id,
          peer: message.peer,
          room: message.room,
          policy: message.policy,
          keys,
        })
        return this.#touch('merges')
      }
    }
  }

  #hello(entry: NodeEntry, message: Extract<FeedMessage, { type: 'hello' }>): void {
    const id = message.status.id
    const owner = this.#byId.get(id)
    if (owner && owner !== entry && !owner.duplicate && owner.feed === 'open') {
      // The same node under a second URL (e.g. the page's host vs. the advertised one).
      entry.duplicate = true
      entry.handle?.stop()
      this.#touch('graph', 'nodes', 'keys', 'controls')
      return
    }
    if (owner && owner !== entry) {
      owner.duplicate = true
      owner.handle?.stop()
      this.#dropData(owner)
    }
    // A new node at a known URL (a restart on a fixed port) replaces the old id.
    if (entry.id !== undefined && entry.id !== id && this.#byId.get(entry.id) === entry) this.#byId.delete(entry.id)
    entry.id = id
    entry.name = message.status.name
    entry.status = message.status
    entry.members = message.members
    entry.loaded = true
    entry.resyncing = false
    entry.left = false
    this.#byId.set(id, entry)
    this.#names.set(id, entry.name)
    this.#dropData(entry)
    for (const [key, value] of Object.entries(message.data)) this.#set(entry, key, json(value))
    this.#commits = this.#commits.filter((c) => c.node !== id)
    this.#addCommits(message.history.map((c) => ({ ...c, node: id })))
    this.#commits.sort((a, b) => a.time - b.time)
    this.#learn(entry)
    this.#recomputeAll()
    this.#touch('graph', 'nodes', 'keys', 'commits', 'controls')
  }

  /** Discovery: opens a feed to every node member not yet followed; notes names and leavers. */
  #learn(from: NodeEntry): void {
    for (const member of from.members) {
      this.#names.set(member.id, member.name)
      if (member.role !== 'node' || member.url === '') continue
      const url = trimSlash(member.url)
      const known = this.#byId.get(member.id)
      if (member.state === 'left') {
        if (known && !known.left && known.feed !== 'open') {
          known.left = true
          known.handle?.stop()
          this.#dropData(known)
          this.#recomputeAll()
          this.#touch('graph', 'nodes', 'keys', 'controls')
        }
        continue
      }
      if (known) continue
      const atUrl = this.#entries.get(url)
      if (atUrl?.left && atUrl.id !== member.id) {
        // A new node came up where a leaver used to be: follow it.
        atUrl.left = false
        atUrl.handle?.stop()
        this.#open(atUrl)
        continue
      }
      if (!atUrl) this.#ensure(url)
    }
    const lights = new Map<string, Member>()
    for (const entry of this.online()) {
      for (const m of entry.members) if (m.role === 'light' && !lights.has(m.id)) lights.set(m.id, m)
    }
    this.#lights = [...lights.values()].sort((a, b) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id))
  }

  #set(entry: NodeEntry, key: string, text: string | undefined): void {
    const had = entry.data.has(key)
    if (text === undefined) {
      if (!had) return
      entry.data.delete(key)
      const count = (this.#keyCounts.get(key) ?? 1) - 1
      if (count <= 0) {
        this.#keyCounts.delete(key)
        this.#divergent.delete(key)
        this.#sortedKeys = undefined
      } else this.#keyCounts.set(key, count)
      return
    }
    entry.data.set(key, text)
    if (!had) {
      const count = this.#keyCounts.get(key) ?? 0
      this.#keyCounts.set(key, count + 1)
      if (count === 0) this.#sortedKeys = undefined
    }
  }

  #dropData(entry: NodeEntry): void {
    for (const key of [...entry.data.keys()]) this.#set(entry, key, undefined)
  }

  /** Re-decides whether one key differs between reachable nodes (a missing key differs too). */
  #checkKey(key: string, online = this.online()): void {
    let divergent = false
    if (online.length > 1 && this.#keyCounts.has(key)) {
      const first = online[0]?.data.get(key)
      for (let i = 1; i < online.length; i++) {
        if (online[i]?.data.get(key) !== first) {
          divergent = true
          break
        }
      }
    }
    if (divergent) this.#divergent.add(key)
    else this.#divergent.delete(key)
  }

  #recomputeAll(): void {
    const online = this.online()
    this.#divergent.clear()
    for (const key of this.#keyCounts.keys()) this.#checkKey(key, online)
    this.#keysVersion++
  }

  #addCommits(commits: CommitEntry[]): void {
    this.#commits.push(...commits)
    if (this.#commits.length > this.#maxCommits) this.#commits.splice(0, this.#commits.length - this.#maxCommits)
  }

  /** The open episode a new record joins, or a new one. */
  #episode(time: number): MergeEpisode {
    const last = this.#episodes[this.#episodes.length - 1]
    const now = this.#now()
    if (last && (last.agreedAt === undefined || now - last.agreedAt < EPISODE_GRACE_MS)) {
      last.agreedAt = undefined
      last.last = time
      last.receivedAt = now
      return last
    }
    const episode: MergeEpisode = {
      id: ++this.#episodeSeq,
      start: time,
      last: time,
      merges: [],
      quarantines: [],
      conflicts: new Map(),
      receivedAt: now,
      agreedAt: undefined,
      agreedNodes: 0,
    }
    this.#episodes.push(episode)
    if (this.#episodes.length > this.#maxEpisodes) this.#episodes.shift()
    return episode
  }

  #addMerge(record: MergeRecord): void {
    // Equal histories met: nothing was merged, nothing to show.
    if (record.relation === 'equal' && record.conflicts.length === 0) return
    const episode = this.#episode(record.time)
    episode.merges.push(record)
    for (const c of record.conflicts) {
      const entry = episode.conflicts.get(c.key) ?? { key: c.key, values: new Map(), winner: undefined }
      entry.values.set(record.node, json(c.local))
      if (!entry.values.has(record.peer)) entry.values.set(record.peer, json(c.remote))
      entry.winner = json(c.winner)
      episode.conflicts.set(c.key, entry)
    }
  }

  #addQuarantine(record: ConflictRecord): void {
    this.#episode(record.time).quarantines.push(record)
  }

  #checkAgreement(): void {
    const open = this.#episodes.filter((e) => e.agreedAt === undefined)
    if (open.length === 0 || !this.agreed()) return
    const now = this.#now()
    const nodes = this.online().length
    for (const episode of open) {
      episode.agreedAt = now
      episode.agreedNodes = nodes
    }
    this.#touch('merges')
  }

  #touch(...parts: Array<keyof Dirty>): void {
    for (const part of parts) this.dirty[part] = true
  }
}
