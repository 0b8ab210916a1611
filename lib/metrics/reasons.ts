/**
 * Counts by reason over a fixed list of reasons: what a subsystem drops, refuses or ends, and
 * why. Written once here for every subsystem that counts so (the device, the relay's client and
 * server, the path probes, LAN announcements, the join gate, link reports, service messages);
 * `/metrics` shows a {@link ReasonCounter.snapshot} with `sampleCounts` (registry.ts).
 *
 * `add` runs on packet paths (a flood of forged packets is a flood of drops), so it allocates
 * nothing: the counts live in a Float64Array (exact to 2^53, never a boxed number) at an index
 * found in a Map, which stays fast however many counters share the code (a micro-benchmark
 * against a `Record` per class, with one and with six counters in use: no slower).
 * @module
 */

/** Counts per reason of a fixed list; each starts at 0. */
export class ReasonCounter<R extends string> {
  /** The reasons, in the order given. */
  readonly reasons: readonly R[];
  readonly #index = new Map<string, number>();
  readonly #counts: Float64Array;

  /** Counters for `reasons` (each once). */
  constructor(reasons: readonly R[]) {
    this.reasons = [...reasons];
    for (const [i, r] of this.reasons.entries()) {
      if (this.#index.has(r)) throw new Error(`reason "${r}" given twice`);
      this.#index.set(r, i);
    }
    this.#counts = new Float64Array(this.reasons.length);
  }

  /** Counts `n` (default 1) for `reason`; allocates nothing. */
  add(reason: R, n = 1): void {
    this.#counts[this.#index.get(reason)!] += n;
  }

  /** The count of one reason. */
  get(reason: R): number {
    return this.#counts[this.#index.get(reason)!];
  }

  /** The counts of every reason added up. */
  total(): number {
    let t = 0;
    for (const c of this.#counts) t += c;
    return t;
  }

  /** A copy of every count, keyed by reason in the order given. */
  snapshot(): Record<R, number> {
    const out = {} as Record<R, number>;
    for (const [i, r] of this.reasons.entries()) out[r] = this.#counts[i];
    return out;
  }
}
