/**
 * The device's session indices (32-bit, unsigned on the wire) mapped to their entries. Keys are
 * stored as signed 32-bit integers: half of all random indices are 2^31 or more, which V8 would
 * otherwise box as a heap number for every lookup, that is for every packet received.
 * @module
 */

/** A map from unsigned 32-bit indices to `V`, keyed without allocating. */
export class IndexTable<V> {
  readonly #map = new Map<number, V>();

  /** The entry of `index`. */
  get(index: number): V | undefined {
    return this.#map.get(index | 0);
  }

  /** Whether `index` has an entry. */
  has(index: number): boolean {
    return this.#map.has(index | 0);
  }

  /** Sets the entry of `index`. */
  set(index: number, value: V): void {
    this.#map.set(index | 0, value);
  }

  /** Removes the entry of `index`; false when there was none. */
  delete(index: number): boolean {
    return this.#map.delete(index | 0);
  }

  /** How many entries there are. */
  get size(): number {
    return this.#map.size;
  }
}
