/** How many shards the ids of a capability are cut into (DESIGN §8). */
export const SHARDS = 4096

/** murmur3's 32-bit finalizer: every input bit flips about half of the output bits. */
const mix32 = (x: number): number => {
  let h = x
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

/** One FNV-1a step. */
const fnv = (h: number, byte: number): number => Math.imul(h ^ byte, 0x01000193)

/**
 * A stable 32-bit hash of a string: FNV-1a over its UTF-8 bytes (a lone surrogate counts as
 * U+FFFD, as `TextEncoder` writes it), finished with murmur3's mixer. Every node, of any
 * version and platform, computes the same value. The bytes are made on the fly: every call
 * hashes its id on both ends, and a `TextEncoder` buffer per id was most of what that cost.
 */
export const stableHash = (text: string): number => {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    let c = text.charCodeAt(i)
    if (c < 0x80) {
      h = fnv(h, c)
      continue
    }
    if (c < 0x800) {
      h = fnv(fnv(h, 0xc0 | (c >> 6)), 0x80 | (c & 0x3f))
      continue
    }
    if (c >= 0xd800 && c <= 0xdfff) {
      const next = i + 1 < text.length ? text.charCodeAt(i + 1) : 0
      if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        const point = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00)
        h = fnv(fnv(h, 0xf0 | (point >> 18)), 0x80 | ((point >> 12) & 0x3f))
        h = fnv(fnv(h, 0x80 | ((point >> 6) & 0x3f)), 0x80 | (point & 0x3f))
        i++
        continue
      }
      c = 0xfffd
    }
    h = fnv(fnv(fnv(h, 0xe0 | (c >> 12)), 0x80 | ((c >> 6) & 0x3f)), 0x80 | (c & 0x3f))
  }
  return mix32(h)
}

/** The shard of an id: `stableHash(id) mod 4096`. */
export const shardOf = (id: string): number => stableHash(id) % SHARDS

/** A member as placement sees it. */
export interface PlacementMember {
  readonly id: string
  readonly state: string
  readonly capabilities: readonly string[]
}

/** What placement reads of membership. */
export interface PlacementHost {
  /** Grows whenever a member's state or capabilities change. */
  readonly version: number
  /** Every node member, this one included. */
  members(): Iterable<PlacementMember>
}

/**
 * Who owns each shard of each capability: among the alive members that declare the
 * capability, the one with the highest weight for the shard (rendezvous hashing), so every
 * node that sees the same membership computes the same owner, and a join or a death moves
 * only the shards the newcomer wins or the dead member held. Tables are computed per
 * capability on first use and dropped whenever membership moves.
 */
export class Placement {
  #host: PlacementHost
  #version = -1
  #tables = new Map<string, Array<string | undefined>>()
  #declared = new Map<string, string[]>()

  constructor(host: PlacementHost) {
    this.#host = host
  }

  /** The member that owns `id` of `capability`, or undefined when no alive member declares it. */
  ownerOf(capability: string, id: string): string | undefined {
    return this.ownerOfShard(capability, shardOf(id))
  }

  /** The owner of one shard of a capability. */
  ownerOfShard(capability: string, shard: number): string | undefined {
    return this.#table(capability)?.[shard]
  }

  /** How many shards of `capability` `member` owns. */
  owned(capability: string, member: string): number {
    let count = 0
    for (const owner of this.#table(capability) ?? []) if (owner === member) count++
    return count
  }

  /** The alive members that declare `capability`, sorted by id. */
  candidates(capability: string): readonly string[] {
    this.#refresh()
    return this.#declared.get(capability) ?? []
  }

  #refresh(): void {
    const version = this.#host.version
    if (version === this.#version) return
    this.#version = version
    this.#tables.clear()
    this.#declared.clear()
    for (const member of this.#host.members()) {
      if (member.state !== 'alive') continue
      for (const capability of new Set(member.capabilities)) {
        let ids = this.#declared.get(capability)
        if (!ids) this.#declared.set(capability, (ids = []))
        ids.push(member.id)
      }
    }
    for (const ids of this.#declared.values()) ids.sort()
  }

  #table(capability: string): Array<string | undefined> | undefined {
    this.#refresh()
    const cached = this.#tables.get(capability)
    if (cached) return cached
    // Only declared capabilities get a table: names a peer makes up cost nothing to hold.
    const ids = this.#declared.get(capability)
    if (!ids) return undefined
    const salt = stableHash(capability)
    const members = ids.map((id) => ({ id, hash: stableHash(id) }))
    const table = new Array<string | undefined>(SHARDS)
    for (let shard = 0; shard < SHARDS; shard++) {
      const key = mix32(salt ^ Math.imul(shard + 1, 0x9e3779b1))
      let best: string | undefined
      let bestWeight = -1
      for (const member of members) {
        const weight = mix32(member.hash ^ key)
        // Ties (rare) go to the smaller id, which every node agrees on: ids are sorted.
        if (weight > bestWeight) {
          best = member.id
          bestWeight = weight
        }
      }
      table[shard] = best
    }
    this.#tables.set(capability, table)
    return table
  }
}
