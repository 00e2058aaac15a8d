/** What a reader of a {@link SmallSet} (or of a `Set`) may use. */
export interface ReadonlyMembers<T> extends Iterable<T> {
  readonly size: number
  has(member: T): boolean
}

const NONE: readonly never[] = []

/**
 * A set that holds its only member without a `Set`: an empty `Set` alone costs about 150
 * bytes of heap, and a node keeps sets per room that anyone may open with a 160-byte upgrade
 * (a room's light peers, most often one). A `Set` is made for the second member, and dropped
 * once the set is empty again. `undefined` is not a member.
 */
export class SmallSet<T> implements ReadonlyMembers<T> {
  #one: T | undefined
  #many: Set<T> | undefined

  get size(): number {
    return this.#many ? this.#many.size : this.#one === undefined ? 0 : 1
  }

  has(member: T): boolean {
    return this.#many ? this.#many.has(member) : this.#one !== undefined && this.#one === member
  }

  add(member: T): void {
    if (this.#many) this.#many.add(member)
    else if (this.#one === undefined) this.#one = member
    else if (this.#one !== member) {
      this.#many = new Set([this.#one, member])
      this.#one = undefined
    }
  }

  /** Removes `member`; true when it was one. */
  delete(member: T): boolean {
    if (this.#many) {
      const deleted = this.#many.delete(member)
      if (this.#many.size === 0) this.#many = undefined
      return deleted
    }
    if (this.#one === undefined || this.#one !== member) return false
    this.#one = undefined
    return true
  }

  clear(): void {
    this.#one = undefined
    this.#many = undefined
  }

  [Symbol.iterator](): Iterator<T> {
    if (this.#many) return this.#many.values()
    return this.#one === undefined ? NONE.values() : [this.#one].values()
  }
}
