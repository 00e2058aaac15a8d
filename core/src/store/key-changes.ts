import type { JsonValue } from '../common/index.js'

/** What one transaction changed for one key. */
export interface KeyChange {
  key: string
  /** The value before, or undefined when the key was absent. */
  previous: JsonValue | undefined
  /** The value after, or undefined when the key was removed. */
  value: JsonValue | undefined
}

/**
 * The keys one transaction changed, each once, in the order they first changed. Their
 * {@link KeyChange} records are built on request, and only then: a cold join changes a
 * million keys, and usually nobody listens for change events.
 */
export interface KeyChanges {
  readonly keys: string[]
  /** The change of every key; call it while the transaction is reported (it reads the store as it is then). */
  changes(): KeyChange[]
}

/**
 * Collects a transaction's changed keys. A key's earlier value is remembered only when it had
 * one, so a transaction that only adds keys (a cold join) keeps nothing per key but the key.
 */
export class KeyChangeSet implements KeyChanges {
  /** The noted keys in its first `#length` places: {@link reserve} may have grown it ahead. */
  #keys: string[] = []
  #length = 0
  /** Earlier values of the keys noted with one (absent: the key was absent before). */
  #previous = new Map<string, JsonValue | undefined>()
  #valueOf: (key: string) => JsonValue | undefined
  #built: KeyChange[] | undefined

  /** `valueOf` reads a key's value once the transaction is applied. */
  constructor(valueOf: (key: string) => JsonValue | undefined) {
    this.#valueOf = valueOf
  }

  /** Notes `key`, which held `previous` before, unless it was noted earlier in the transaction. */
  noteChanged(key: string, previous: JsonValue | undefined): void {
    if (this.#previous.has(key)) return
    this.#previous.set(key, previous)
    this.noteAdded(key)
  }

  /** Notes `key`, absent before the transaction, as added. The caller knows it was not noted yet. */
  noteAdded(key: string): void {
    if (this.#length < this.#keys.length) this.#keys[this.#length++] = key
    else this.#length = this.#keys.push(key)
  }

  /**
   * Makes room for `n` more keys at once: a cold join notes a million, and an array grown push
   * by push leaves a trail of ever larger copies for the collector.
   */
  reserve(n: number): void {
    if (n > 1024) this.#keys.length = this.#length + n
  }

  /** The changed keys, each once, in the order they first changed. */
  get keys(): string[] {
    if (this.#keys.length !== this.#length) this.#keys.length = this.#length
    return this.#keys
  }

  /** True when `key` was noted through {@link noteChanged}. */
  noted(key: string): boolean {
    return this.#previous.size > 0 && this.#previous.has(key)
  }

  changes(): KeyChange[] {
    this.#built ??= this.keys.map((key) => ({ key, previous: this.#previous.get(key), value: this.#valueOf(key) }))
    return this.#built
  }
}
