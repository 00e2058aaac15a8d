import { dialableUrl, type JsonValue } from '../common/index.js'
import type { MemberRecord } from './member-record.js'

/** Most member records taken from one gossip message; the rest are ignored. */
export const MAX_GOSSIP_RECORDS = 10_000

/** Most links taken from one member record (ids longer than a member id are dropped). */
export const MAX_RECORD_LINKS = 1024

/** Validates gossip received from the network; throws on anything malformed. */
export const parseGossip = (text: string): MemberRecord[] => {
  const parsed: unknown = JSON.parse(text)
  if (!Array.isArray(parsed)) throw new Error('gossip must be an array of member records')
  // A mesh that outgrew the cap still gossips: the records past it wait for a later round.
  return parsed.slice(0, MAX_GOSSIP_RECORDS).map((raw: unknown) => {
    const r = raw as (Partial<Omit<MemberRecord, 'meta'>> & { meta?: unknown }) | null
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
      typeof r.leaving !== 'boolean' ||
      (r.links !== undefined && (!Array.isArray(r.links) || !r.links.every((l) => typeof l === 'string')))
    ) {
      throw new Error('malformed member record')
    }
    return {
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
      ...(r.links && { links: r.links.slice(0, MAX_RECORD_LINKS).filter((id) => id.length <= 128) }),
    }
  })
}
