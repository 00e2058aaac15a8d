import { dialableUrl, type JsonValue } from '../common/index.js'
import { MAX_NEWS_PER_MESSAGE } from './dissemination.js'
import type { MemberNews, MemberRecord, MemberState } from './member-record.js'

/** Most member records taken from one gossip message; the rest are ignored. */
export const MAX_GOSSIP_RECORDS = 10_000

const STATES: readonly MemberState[] = ['alive', 'suspect', 'dead', 'left']

/** Validates one member record from the network, with the state it is news of; throws on anything malformed. */
const parseNewsItem = (raw: unknown): MemberNews => {
  const r = raw as (Partial<Omit<MemberRecord, 'meta'>> & { meta?: unknown; state?: unknown }) | null
  if (
    !r ||
    typeof r.id !== 'string' ||
    r.id.length === 0 ||
    r.id.length > 128 ||
    typeof r.name !== 'string' ||
    typeof r.url !== 'string' ||
    !Array.isArray(r.capabilities) ||
    !r.capabilities.every((c) => typeof c === 'string') ||
    typeof r.meta !== 'object' ||
    r.meta === null ||
    Array.isArray(r.meta) ||
    typeof r.startedAt !== 'number' ||
    typeof r.incarnation !== 'string' ||
    r.incarnation.length > 64 ||
    typeof r.heartbeat !== 'number' ||
    !Number.isFinite(r.heartbeat) ||
    typeof r.leaving !== 'boolean' ||
    (r.state !== undefined && !STATES.includes(r.state as MemberState))
  ) {
    throw new Error('malformed member record')
  }
  const record: MemberRecord = {
    id: r.id,
    name: r.name.slice(0, 256),
    url: dialableUrl(r.url),
    capabilities: r.capabilities.slice(0, 64),
    // Parsed from JSON and checked to be an object above.
    meta: r.meta as Record<string, JsonValue>,
    startedAt: r.startedAt,
    incarnation: r.incarnation,
    heartbeat: r.heartbeat,
    leaving: r.leaving,
  }
  const state = record.leaving ? 'left' : ((r.state as MemberState | undefined) ?? 'alive')
  return { record, state }
}

/** A member record on the wire: the record, and the state it is news of (absent: alive). */
export const newsJson = (news: MemberNews): MemberRecord & { state: MemberState } => ({
  ...news.record,
  state: news.state,
})

/** Validates a member table (a `gossip` message, or records read from a backbone); throws on anything malformed. */
export const parseNews = (text: string): MemberNews[] => {
  const parsed: unknown = JSON.parse(text)
  if (!Array.isArray(parsed)) throw new Error('gossip must be an array of member records')
  // A mesh that outgrew the cap still syncs: the records past it wait for a later exchange.
  return parsed.slice(0, MAX_GOSSIP_RECORDS).map(parseNewsItem)
}

/** Validates member records (as a backbone stores them); throws on anything malformed. */
export const parseGossip = (text: string): MemberRecord[] => parseNews(text).map((n) => n.record)

/** Kinds of SWIM message: `ping` asks for an `ack`; `req` asks the receiver to ping `target` for the sender; `news` only carries news. */
export type SwimKind = 'ping' | 'ack' | 'req' | 'news'

/** One SWIM message (peer message `swim`, see docs/membership.md). */
export interface SwimMessage {
  kind: SwimKind
  /** The sender's probe number; an ack repeats the ping's. */
  seq: number
  /** The member a `req` asks to probe, or an ack relayed for. */
  target?: string
  /** A digest of the sender's live member table: a mismatch that lasts asks for the whole table. */
  sum?: string
  news: MemberNews[]
}

const KINDS: readonly SwimKind[] = ['ping', 'ack', 'req', 'news']

/** Encodes a SWIM message as the JSON a `swim` peer message carries. */
export const swimJson = (message: SwimMessage): string =>
  JSON.stringify({
    k: KINDS.indexOf(message.kind),
    s: message.seq,
    ...(message.target === undefined ? {} : { t: message.target }),
    ...(message.sum === undefined ? {} : { d: message.sum }),
    ...(message.news.length === 0 ? {} : { n: message.news.map(newsJson) }),
  })

/** Validates a SWIM message from the network; throws on anything malformed. */
export const parseSwim = (text: string): SwimMessage => {
  const raw = JSON.parse(text) as { k?: unknown; s?: unknown; t?: unknown; d?: unknown; n?: unknown } | null
  const kind = typeof raw?.k === 'number' ? KINDS[raw.k] : undefined
  if (!raw || kind === undefined || typeof raw.s !== 'number' || !Number.isSafeInteger(raw.s)) {
    throw new Error('malformed swim message')
  }
  if (raw.t !== undefined && (typeof raw.t !== 'string' || raw.t.length > 128)) throw new Error('malformed swim target')
  if (raw.d !== undefined && (typeof raw.d !== 'string' || raw.d.length > 16)) throw new Error('malformed swim digest')
  if (raw.n !== undefined && (!Array.isArray(raw.n) || raw.n.length > MAX_NEWS_PER_MESSAGE)) {
    throw new Error('malformed swim news')
  }
  return {
    kind,
    seq: raw.s,
    target: raw.t,
    sum: raw.d,
    news: raw.n === undefined ? [] : (raw.n as unknown[]).map(parseNewsItem),
  }
}
