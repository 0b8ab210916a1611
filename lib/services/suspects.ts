/**
 * Instances this node's calls found silent: one that let a call time out is suspect until there
 * is evidence it is alive again, an answer to a call or to a liveness ping, however long that
 * takes. A fixed time would not do: a stopped node is judged down by the peers' health only after
 * three lost probes (about 15 s at the default 5 s interval), and calls would go to it again in
 * between.
 *
 * The owner pings each suspect about every `pingIntervalMs` ({@link Suspects.due} says which are
 * due, each with a fresh ping id) and hands over the pongs ({@link Suspects.answered}). Bounded:
 * at most `max` suspects (the oldest is forgotten for a new one), and {@link Suspects.retain}
 * forgets those no longer members, so the pings sent are at most `max` per interval.
 *
 * Pure: the clock is a collaborator.
 * @module
 */

/** Options of {@link Suspects}. */
export interface SuspectsOptions {
  /** How often a suspect is pinged, ms. Default 1000. */
  pingIntervalMs?: number;
  /** Most suspects tracked. Default 256. */
  max?: number;
  /** Monotonic ms. Default `performance.now`. */
  now?: () => number;
}

interface Suspect {
  /** When it became suspect. */
  since: number;
  /** When it is to be pinged next. */
  nextPingAt: number;
  /** The ids of the pings sent to it, first and last (0 before the first). */
  firstPing: number;
  lastPing: number;
}

/** A ping to send: to whom, and its id. */
export interface DuePing {
  /** The suspect's overlay address. */
  address: string;
  /** The ping's id, for matching the pong. */
  id: number;
}

/** The suspects of one node's calls; see the module docs. */
export class Suspects {
  readonly #now: () => number;
  readonly #interval: number;
  readonly #max: number;
  // Insertion order: the oldest first, for eviction.
  readonly #all = new Map<string, Suspect>();
  #nextPing = 1;

  /** An empty set. Throws a RangeError on an interval or bound out of range. */
  constructor(opts: SuspectsOptions = {}) {
    this.#now = opts.now ?? (() => performance.now());
    this.#interval = opts.pingIntervalMs ?? 1000;
    this.#max = opts.max ?? 256;
    if (!(Number.isFinite(this.#interval) && this.#interval >= 10)) {
      throw new RangeError(`suspects: pingIntervalMs must be 10 or more, got ${this.#interval}`);
    }
    if (!(Number.isInteger(this.#max) && this.#max >= 1)) {
      throw new RangeError(`suspects: max must be a positive integer, got ${this.#max}`);
    }
  }

  /** How many are suspect now. */
  get size(): number {
    return this.#all.size;
  }

  /** Marks `address` suspect (no change when it is already); its first ping is due at once. */
  mark(address: string): void {
    if (this.#all.has(address)) return;
    if (this.#all.size >= this.#max) this.#all.delete(this.#all.keys().next().value!);
    const now = this.#now();
    this.#all.set(address, { since: now, nextPingAt: now, firstPing: 0, lastPing: 0 });
  }

  /** Whether `address` is suspect. */
  has(address: string): boolean {
    return this.#all.has(address);
  }

  /** It answered a call: no longer suspect. Returns whether it was. */
  clear(address: string): boolean {
    return this.#all.delete(address);
  }

  /**
   * A pong `id` came from `address`: it is no longer suspect when the id is within the range of
   * pings sent since it became suspect (ids are one counter for all suspects, so a pong carrying
   * another suspect's id counts too: the overlay address is authenticated, and any pong from it
   * shows it is alive). Returns whether it cleared a suspect (false: a stray or stale pong).
   */
  answered(address: string, id: number): boolean {
    const s = this.#all.get(address);
    if (s === undefined || s.firstPing === 0 || id < s.firstPing || id > s.lastPing) return false;
    return this.#all.delete(address);
  }

  /** The pings due now, each suspect at most once per interval; they count as sent. */
  due(): DuePing[] {
    const now = this.#now();
    const out: DuePing[] = [];
    for (const [address, s] of this.#all) {
      if (now < s.nextPingAt) continue;
      const id = this.#nextPing++;
      if (s.firstPing === 0) s.firstPing = id;
      s.lastPing = id;
      s.nextPingAt = now + this.#interval;
      out.push({ address, id });
    }
    return out;
  }

  /** Forgets the suspects `keep` says no (members that left the mesh). */
  retain(keep: (address: string) => boolean): void {
    for (const address of [...this.#all.keys()]) if (!keep(address)) this.#all.delete(address);
  }

  /** The suspects' addresses, the oldest first. */
  list(): string[] {
    return [...this.#all.keys()];
  }

  /** How long `address` has been suspect, ms (undefined: it is not). */
  age(address: string): number | undefined {
    const s = this.#all.get(address);
    return s === undefined ? undefined : this.#now() - s.since;
  }
}
