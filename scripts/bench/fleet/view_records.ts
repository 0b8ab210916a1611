/**
 * A whole view's records as the simulated members read them: by key, and only what a member
 * looks at (its own record's LAN candidates, the watched member's endpoints). A view is unpacked
 * once for every member that takes it, and kept a while for those still taking it; kept whole
 * (every field of 10,000 records), the views of a fleet of 10,000 held a hundred MiB.
 * @module
 */

/** A record as a simulated member reads it. */
export interface SlimRecord {
  publicKey: string;
  endpoints?: string[];
  lan?: string[];
}

/** A view's (or delta's) records by key, and the keys it removes. */
export interface ViewIndex {
  byKey: Map<string, SlimRecord>;
  remove: Set<string>;
}

/** Indexes `records` by key (a later record of a key wins, as when they are applied in turn). */
export function indexRecords(
  records: readonly { publicKey: string; endpoints?: string[]; lan?: string[] }[],
  remove: readonly string[] = [],
): ViewIndex {
  const byKey = new Map<string, SlimRecord>();
  for (const r of records) {
    const slim: SlimRecord = { publicKey: r.publicKey };
    if (r.endpoints !== undefined) slim.endpoints = r.endpoints;
    if (r.lan !== undefined) slim.lan = r.lan;
    byKey.set(r.publicKey, slim);
  }
  return { byKey, remove: new Set(remove) };
}

/**
 * Indexes (or null: what did not unpack) by a key, at most `maxRecords` records in all: the
 * oldest go first, one at a time (the one just set stays, whatever its size).
 */
export class IndexCache<K> {
  readonly #max: number;
  readonly #map = new Map<K, ViewIndex | null>();
  #records = 0;

  constructor(maxRecords: number) {
    this.#max = maxRecords;
  }

  /** The index kept for `key`: undefined when none is. */
  get(key: K): ViewIndex | null | undefined {
    return this.#map.get(key);
  }

  /** Keeps `index` for `key`, dropping the oldest while the records kept pass the bound. */
  set(key: K, index: ViewIndex | null): void {
    const old = this.#map.get(key);
    if (old !== undefined) {
      this.#records -= sizeOf(old);
      this.#map.delete(key);
    }
    this.#map.set(key, index);
    this.#records += sizeOf(index);
    for (const [k, v] of this.#map) {
      if (this.#records <= this.#max || k === key) break;
      this.#map.delete(k);
      this.#records -= sizeOf(v);
    }
  }

  /** Indexes kept, and the records in them. */
  get size(): { indexes: number; records: number } {
    return { indexes: this.#map.size, records: this.#records };
  }
}

function sizeOf(index: ViewIndex | null): number {
  return index ? index.byKey.size + index.remove.size : 0;
}
