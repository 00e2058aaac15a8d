import type { Member, MemberNews, MemberRecord, MemberState } from './member-record.js'

/** What a node holds about one other member. */
export interface Entry {
  record: MemberRecord
  state: MemberState
  seenAt: number
  /** When this node learned the member left or died; its record is synced only for a while after. */
  departedAt?: number
  /** A suspect is dead at this time unless it refutes. */
  deadline?: number
  /** Last rise of its heartbeat read from a backbone: such members are also judged by silence. */
  heardAt?: number
  /** Incarnations of earlier lives of this id: their news is stale. */
  retired: string[]
}

/** The member an entry describes, as `node.members()` lists it. */
export const toMember = (entry: Entry): Member => {
  const r = entry.record
  return {
    id: r.id,
    name: r.name,
    url: r.url,
    role: 'node',
    capabilities: r.capabilities,
    state: entry.state,
    startedAt: r.startedAt,
    lastSeen: entry.seenAt,
    meta: r.meta,
  }
}

/**
 * SWIM's rules for news of the same life as the entry: a higher version wins; at an equal one
 * suspect beats alive and dead beats both; a member that left stays left. Returns the state
 * the entry moves to, or undefined when the news changes nothing.
 */
export const nextState = (entry: Entry, news: MemberNews): MemberState | undefined => {
  const h = news.record.heartbeat
  const cur = entry.record.heartbeat
  if (entry.state === 'left') return undefined
  switch (news.state) {
    case 'left':
      return 'left'
    case 'alive':
      return h > cur ? 'alive' : undefined
    case 'suspect':
      return h > cur || (h === cur && entry.state === 'alive') ? 'suspect' : undefined
    case 'dead':
      return h > cur || (h === cur && entry.state !== 'dead') ? 'dead' : undefined
  }
}

/**
 * A short digest of this node (`self`, at its announced version) and the live members: their
 * ids, lives and versions (a backbone member's version rises every beat and is left out).
 * Equal digests mean the same live table.
 */
export const tableDigest = (self: MemberRecord, entries: Iterable<Entry>): string => {
  const rows = [`${self.id}:${self.incarnation}:${self.heartbeat}`]
  for (const entry of entries) {
    if (entry.state !== 'alive' && entry.state !== 'suspect') continue
    const r = entry.record
    rows.push(`${r.id}:${r.incarnation}:${entry.heardAt === undefined ? r.heartbeat : 0}`)
  }
  let hash = 0x811c9dc5
  for (const ch of rows.sort().join('|')) hash = Math.imul(hash ^ ch.charCodeAt(0), 0x01000193)
  return (hash >>> 0).toString(36)
}
