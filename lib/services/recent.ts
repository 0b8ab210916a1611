/**
 * A bounded set of recently seen keys: once full, the oldest is forgotten. For deduplication
 * where a late duplicate after many newer keys is rare enough to accept.
 * @module
 */

/** Remembers the last `capacity` keys added. */
export class RecentSet {
  readonly #capacity: number;
  readonly #keys = new Set<string>();

  /** An empty set holding at most `capacity` keys. */
  constructor(capacity: number) {
    if (!(Number.isInteger(capacity) && capacity >= 1)) {
      throw new RangeError("capacity must be a positive integer");
    }
    this.#capacity = capacity;
  }

  /** Keys held now. */
  get size(): number {
    return this.#keys.size;
  }

  /** True when `key` was added lately. */
  has(key: string): boolean {
    return this.#keys.has(key);
  }

  /** Adds `key`; false when it was there already. */
  add(key: string): boolean {
    if (this.#keys.has(key)) return false;
    if (this.#keys.size >= this.#capacity) {
      this.#keys.delete(this.#keys.values().next().value!);
    }
    this.#keys.add(key);
    return true;
  }
}
