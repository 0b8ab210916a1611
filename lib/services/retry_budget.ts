/**
 * A retry budget, as Finagle's and Envoy's: retries may add at most `ratio` of the calls made
 * over the last `windowMs`, plus a small floor (`minPerWindow`) so that a caller making few calls
 * can still retry. When every instance fails, the extra load a caller puts on them is then at
 * most 20% (by default) instead of the ×(retries + 1) of unbounded retries: no retry storm.
 *
 * The window is a ring of one-second buckets (calls, retries), so memory is fixed and old
 * figures fall out as time passes. Pure: the clock is a collaborator.
 * @module
 */

/** Options of {@link RetryBudget}. */
export interface RetryBudgetOptions {
  /** Retries allowed per call made, over the window. Default 0.2. */
  ratio?: number;
  /** Retries always allowed per window. Default 10. */
  minPerWindow?: number;
  /** The window, ms (whole seconds). Default 10000. */
  windowMs?: number;
  /** Monotonic ms. Default `performance.now`. */
  now?: () => number;
}

const BUCKET_MS = 1000;

/** The calls and retries of one caller's recent past; see the module docs. */
export class RetryBudget {
  readonly #now: () => number;
  readonly #ratio: number;
  readonly #floor: number;
  readonly #calls: number[];
  readonly #retries: number[];
  /** The second the newest bucket is for. */
  #second = -Infinity;

  /** An empty budget. Throws a RangeError on an option out of range. */
  constructor(opts: RetryBudgetOptions = {}) {
    this.#now = opts.now ?? (() => performance.now());
    this.#ratio = opts.ratio ?? 0.2;
    this.#floor = opts.minPerWindow ?? 10;
    const windowMs = opts.windowMs ?? 10_000;
    if (!(Number.isFinite(this.#ratio) && this.#ratio >= 0 && this.#ratio <= 1)) {
      throw new RangeError(`retry budget: ratio must be 0 to 1, got ${this.#ratio}`);
    }
    if (!(Number.isInteger(this.#floor) && this.#floor >= 0)) {
      throw new RangeError(`retry budget: minPerWindow must be 0 or more, got ${this.#floor}`);
    }
    if (!(Number.isInteger(windowMs) && windowMs >= BUCKET_MS && windowMs % BUCKET_MS === 0)) {
      throw new RangeError(`retry budget: windowMs must be whole seconds, got ${windowMs}`);
    }
    this.#calls = new Array(windowMs / BUCKET_MS).fill(0);
    this.#retries = new Array(windowMs / BUCKET_MS).fill(0);
  }

  /** A call is made (its first attempt). */
  call(): void {
    this.#calls[this.#slot()]++;
  }

  /** Takes one retry from the budget: false (and nothing taken) when it is spent. */
  tryRetry(): boolean {
    const slot = this.#slot();
    const calls = sum(this.#calls);
    const retries = sum(this.#retries);
    if (retries >= this.#floor + Math.floor(this.#ratio * calls)) return false;
    this.#retries[slot]++;
    return true;
  }

  /** The bucket of now, after clearing those the window left behind. */
  #slot(): number {
    const n = this.#calls.length;
    const second = Math.floor(this.#now() / BUCKET_MS);
    const gone = second - this.#second;
    if (gone >= n) {
      this.#calls.fill(0);
      this.#retries.fill(0);
    } else {
      for (let i = 1; i <= gone; i++) {
        const s = (this.#second + i) % n;
        this.#calls[s] = 0;
        this.#retries[s] = 0;
      }
    }
    if (gone > 0) this.#second = second;
    return ((second % n) + n) % n;
  }
}

function sum(a: readonly number[]): number {
  let s = 0;
  for (const x of a) s += x;
  return s;
}
