/**
 * A map of the leader document's records by key (its join records, one a member and kept for
 * good) whose copy costs what the copy changes, not the map's size. Each batch of changes edits a
 * copy of the state ({@link RecordMap.fork}): the fork holds only its own entries over the map it
 * was made from. Spreading 10,000 join records into a new object for each batch cost the leader
 * 10 to 12 ms a batch at 10,000 members, and each copy, too large for V8's young generation, went
 * straight to the old one for its full collections to sweep.
 *
 * Once a fork's copy is the state, {@link RecordMap.settle} hands it the whole map: its entries
 * are written into its parent's map, which it takes over, and the parent keeps the values those
 * keys had (it becomes a fork of the settled map, undoing its changes), so a map once made reads
 * the same for good, whoever still holds it, at a cost of what changed. Older maps point at newer
 * ones, never back: a map nothing holds any more is collected. A map that others read
 * through (forked, or settled) is never edited in place: an edit of it throws.
 *
 * Its JSON is a plain object of the records, as the document on disk and in a store has it.
 * @module
 */

/** A key a fork removed (the map under it may hold it). */
const GONE = null;

/** Records by key: the whole map, or a fork's entries over another map's. See the module docs. */
export class RecordMap<V extends object> {
  // The whole map (a settled map), or null for a fork: its own entries over #base.
  #map: Map<string, V> | null;
  #own: Map<string, V | typeof GONE> = new Map();
  #base: RecordMap<V> | null = null;
  #size: number;
  // A map others read through (forked, or a whole map taken over from an older one): edited only
  // in a fork, or they would see the edit.
  #shared = false;

  /** A whole map of `entries`. */
  constructor(entries: Iterable<readonly [string, V]> = []) {
    this.#map = new Map(entries);
    this.#size = this.#map.size;
  }

  /** A whole map of a plain object's records (a parsed document's). */
  static of<V extends object>(records: Readonly<Record<string, V>>): RecordMap<V> {
    return new RecordMap(Object.entries(records));
  }

  /** A copy to edit: costs nothing until edited, and then what it changes. */
  fork(): RecordMap<V> {
    this.#shared = true;
    const f = new RecordMap<V>();
    f.#map = null;
    f.#base = this;
    f.#size = this.#size;
    return f;
  }

  /** How many records. */
  get size(): number {
    return this.#size;
  }

  /** The record at `key`. */
  get(key: string): V | undefined {
    // deno-lint-ignore no-this-alias
    let m: RecordMap<V> = this;
    while (m.#map === null) {
      const v = m.#own.get(key);
      if (v !== undefined) return v ?? undefined;
      m = m.#base!;
    }
    return m.#map.get(key);
  }

  /** Whether there is a record at `key`. */
  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  /** Puts `value` at `key`, in place when the key has a record (as a plain object keeps order). */
  set(key: string, value: V): void {
    if (this.#map !== null) {
      this.#unshared();
      this.#map.set(key, value);
      this.#size = this.#map.size;
      return;
    }
    this.#unshared();
    if (!this.has(key)) this.#size++;
    this.#own.set(key, value);
  }

  /** Removes the record at `key`; whether there was one. */
  delete(key: string): boolean {
    if (this.#map !== null) {
      this.#unshared();
      const had = this.#map.delete(key);
      this.#size = this.#map.size;
      return had;
    }
    this.#unshared();
    if (!this.has(key)) return false;
    this.#own.set(key, GONE);
    this.#size--;
    return true;
  }

  /** Refuses an edit in place of a map others read through (a bug: edit a fork). */
  #unshared(): void {
    if (this.#shared) throw new Error("a record map others read through is edited in a fork");
  }

  /** The records, by key, in the order a plain object edited the same way would list them. */
  entries(): IterableIterator<[string, V]> {
    return this.#whole().entries();
  }

  /** The keys (see {@link entries}). */
  keys(): IterableIterator<string> {
    return this.#whole().keys();
  }

  /** The records (see {@link entries}). */
  values(): IterableIterator<V> {
    return this.#whole().values();
  }

  /** {@link entries}. */
  [Symbol.iterator](): IterableIterator<[string, V]> {
    return this.entries();
  }

  /** The records as a plain object (the document's JSON). */
  toJSON(): Record<string, V> {
    return Object.fromEntries(this.entries());
  }

  /** The whole map: a settled one's own, else one made (a fork is rarely listed whole). */
  #whole(): Map<string, V> {
    if (this.#map !== null) return this.#map;
    const forks = this.#forks();
    const whole = new Map(forks[forks.length - 1].#base!.#map!);
    for (let i = forks.length - 1; i >= 0; i--) {
      for (const [k, v] of forks[i].#own) {
        if (v === GONE) whole.delete(k);
        else whole.set(k, v);
      }
    }
    return whole;
  }

  /**
   * What this fork changed of `from`, when it is `from`'s fork (made by `from.fork()` and not
   * settled): the records new or replaced and the keys removed, for what costs what changed (the
   * journal's line). Null when it is not: compare the maps whole.
   */
  changesFrom(from: RecordMap<V>): { set: [string, V][]; removed: string[] } | null {
    if (this.#map !== null || this.#base !== from) return null;
    const set: [string, V][] = [];
    const removed: string[] = [];
    for (const [k, v] of this.#own) {
      const was = from.get(k);
      if (v === GONE) {
        if (was !== undefined) removed.push(k);
      } else if (v !== was) set.push([k, v]);
    }
    return { set, removed };
  }

  /**
   * Entries a fork holds of its own over the map it was made from (null: a whole map): what its
   * copy changed, not a copy of the rest. For tests.
   */
  get ownEntries(): number | null {
    return this.#map === null ? this.#own.size : null;
  }

  /**
   * Makes this map whole (its copy is the state now): the whole map under it is taken over with
   * this fork's entries written in, and the maps between keep what they held (see the module
   * docs). Costs what the forks changed; a whole map stays as it is.
   */
  settle(): void {
    if (this.#map !== null) return;
    const forks = this.#forks();
    // From the fork nearest the whole map up to this one, each takes the map over in turn.
    for (let i = forks.length - 1; i >= 0; i--) forks[i].#takeOver();
  }

  /** The forks from this map down to the whole map under them, this first (none: a whole map). */
  #forks(): RecordMap<V>[] {
    const forks: RecordMap<V>[] = [];
    // deno-lint-ignore no-this-alias
    let m: RecordMap<V> = this;
    while (m.#map === null) {
      forks.push(m);
      m = m.#base!;
    }
    return forks;
  }

  /** Takes the whole map over from the map under this fork, which keeps what it held. */
  #takeOver(): void {
    const under = this.#base!;
    const map = under.#map!;
    const undo = new Map<string, V | typeof GONE>();
    for (const [k, v] of this.#own) {
      const was = map.get(k);
      undo.set(k, was === undefined ? GONE : was);
      if (v === GONE) map.delete(k);
      else map.set(k, v);
    }
    this.#map = map;
    this.#own = new Map();
    this.#base = null;
    this.#shared = true;
    under.#map = null;
    under.#own = undo;
    under.#base = this;
  }
}
