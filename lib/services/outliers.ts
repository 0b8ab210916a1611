/**
 * Outlier ejection: an instance whose calls from this node fail repeatedly is taken out of the
 * rotation for a back-off, then probed back, as Envoy's outlier detection and Linkerd's failure
 * accrual do.
 *
 * Per instance (a service at an overlay address; `""` for this node's own): `consecutive`
 * failures in a row (a `timeout` or a `remote-error`: the instance ran, or may have run, the call
 * and failed; refusals that say the action did not run, such as `no-instance`, `rate-limited`,
 * `bad-request`, neither count nor reset) eject it for `baseMs` × 2^(ejections − 1), at most
 * `maxMs`. When the back-off ends it is probing: one call at a time may go to it; an answer
 * brings it back, a failure ejects it again for twice as long. An instance that stayed in for
 * `maxMs` since it came back starts again from `baseMs`.
 *
 * Ejection only orders: callers try ejected instances after every other one (better a call that
 * may fail than none), so it never fails a call on its own. Bounded: at most `max` instances
 * tracked (the oldest forgotten), and {@link Outliers.retain} forgets former members.
 *
 * Pure: the clock is a collaborator.
 * @module
 */

/** Options of {@link Outliers}. */
export interface OutliersOptions {
  /** Failures in a row that eject an instance. Default 5. */
  consecutive?: number;
  /** The first back-off, ms. Default 30000. */
  baseMs?: number;
  /** The longest back-off, ms. Default 300000. */
  maxMs?: number;
  /** Most instances tracked. Default 1024. */
  max?: number;
  /** Monotonic ms. Default `performance.now`. */
  now?: () => number;
}

/** Where an instance stands: in the rotation, ejected, or let back for one call at a time. */
export type OutlierState = "in" | "ejected" | "probing";

/** An ejected or probing instance, for `/status`. */
export interface Ejection {
  /** The service. */
  service: string;
  /** The instance's overlay address (`""`: this node's own). */
  address: string;
  /** `ejected` (out for the back-off) or `probing` (one call at a time may go to it). */
  state: "ejected" | "probing";
  /** Ms until it may be probed (0 when probing). */
  remainingMs: number;
  /** Ejections in a row (the back-off doubles with each). */
  ejections: number;
}

interface Record {
  failures: number;
  ejections: number;
  /** When the current ejection ends (0: not ejected). */
  until: number;
  /** When it last came back into the rotation. */
  backAt: number;
  /** A probe call is under way. */
  probing: boolean;
}

/** Counts failures per instance and ejects outliers; see the module docs. */
export class Outliers {
  readonly #now: () => number;
  readonly #consecutive: number;
  readonly #base: number;
  readonly #maxMs: number;
  readonly #max: number;
  // Insertion order: the oldest first, for eviction.
  readonly #all = new Map<string, Record>();

  /** An empty table. Throws a RangeError on an option out of range. */
  constructor(opts: OutliersOptions = {}) {
    this.#now = opts.now ?? (() => performance.now());
    this.#consecutive = opts.consecutive ?? 5;
    this.#base = opts.baseMs ?? 30_000;
    this.#maxMs = opts.maxMs ?? 300_000;
    this.#max = opts.max ?? 1024;
    const int = (v: number, min: number) => Number.isInteger(v) && v >= min;
    if (!int(this.#consecutive, 1)) {
      throw new RangeError(`outliers: consecutive must be 1 or more, got ${this.#consecutive}`);
    }
    if (!int(this.#base, 1) || !int(this.#maxMs, this.#base)) {
      throw new RangeError(
        `outliers: baseMs must be 1 or more and maxMs at least baseMs, got ${this.#base}, ${this.#maxMs}`,
      );
    }
    if (!int(this.#max, 1)) throw new RangeError(`outliers: max must be 1 or more`);
  }

  /** Where the instance stands now (an ejection whose back-off ended is `probing`). */
  state(service: string, address: string): OutlierState {
    const r = this.#all.get(key(service, address));
    if (r === undefined || r.until === 0) return "in";
    return this.#now() < r.until ? "ejected" : "probing";
  }

  /**
   * Whether a call may go to the instance as a regular pick: in the rotation, or probing with no
   * probe under way (the call then is the probe).
   */
  available(service: string, address: string): boolean {
    const r = this.#all.get(key(service, address));
    if (r === undefined || r.until === 0) return true;
    return this.#now() >= r.until && !r.probing;
  }

  /** A call is going to the instance: when it is probing, this call is its probe. */
  sent(service: string, address: string): void {
    const r = this.#all.get(key(service, address));
    if (r !== undefined && r.until !== 0 && this.#now() >= r.until) r.probing = true;
  }

  /** The instance answered (or refused without failing): back in the rotation, count reset. */
  succeeded(service: string, address: string): void {
    const r = this.#all.get(key(service, address));
    if (r === undefined) return;
    r.failures = 0;
    if (r.until !== 0) r.backAt = this.#now();
    r.until = 0;
    r.probing = false;
  }

  /** A refusal that says nothing of the instance's health: a probe under way ends, no more. */
  neutral(service: string, address: string): void {
    const r = this.#all.get(key(service, address));
    if (r !== undefined) r.probing = false;
  }

  /** The instance failed a call; returns true when that ejected it (now or again). */
  failed(service: string, address: string): boolean {
    const k = key(service, address);
    const now = this.#now();
    let r = this.#all.get(k);
    if (r === undefined) {
      if (this.#all.size >= this.#max) this.#all.delete(this.#all.keys().next().value!);
      r = { failures: 0, ejections: 0, until: 0, backAt: 0, probing: false };
      this.#all.set(k, r);
    }
    if (r.until !== 0 && now < r.until) return false; // Already out: a call that was under way.
    const probeFailed = r.until !== 0;
    r.failures++;
    if (!probeFailed && r.failures < this.#consecutive) return false;
    // Back in the rotation for a whole longest back-off: start again from the first one.
    if (!probeFailed && now - r.backAt >= this.#maxMs) r.ejections = 0;
    r.ejections++;
    const backoff = Math.min(this.#maxMs, this.#base * 2 ** Math.min(r.ejections - 1, 30));
    r.until = now + backoff;
    r.failures = 0;
    r.probing = false;
    return true;
  }

  /** Forgets the instances `keep` says no of (members that left). */
  retain(keep: (address: string) => boolean): void {
    for (const [k, _] of this.#all) {
      const address = k.slice(k.indexOf("\u0000") + 1);
      if (address !== "" && !keep(address)) this.#all.delete(k);
    }
  }

  /** The instances ejected or probing now, oldest ejection first. */
  list(): Ejection[] {
    const now = this.#now();
    const out: Ejection[] = [];
    for (const [k, r] of this.#all) {
      if (r.until === 0) continue;
      const cut = k.indexOf("\u0000");
      out.push({
        service: k.slice(0, cut),
        address: k.slice(cut + 1),
        state: now < r.until ? "ejected" : "probing",
        remainingMs: Math.max(0, Math.ceil(r.until - now)),
        ejections: r.ejections,
      });
    }
    return out;
  }
}

function key(service: string, address: string): string {
  return `${service}\u0000${address}`;
}
