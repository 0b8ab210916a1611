/**
 * Per-source token buckets, as wireguard-go's ratelimiter: each source may send `perSecond`
 * messages a second with bursts of `burst`. The table is bounded: when it is full, entries idle
 * for a second are swept, and a source that still finds no room is refused (a flood of spoofed
 * sources then costs the table nothing but refusals).
 * @module
 */

/**
 * A token bucket's refill: `tokens` after `elapsedMs` at `perMs` tokens a millisecond, capped at
 * `max`. The one formula of every bucket in weft (join and handshake limits, callers of a
 * service, log budgets, a relay's rate per member).
 * @example
 * ```ts
 * refilled(0, 500, 20 / 1000, 5); // 5: half a second at 20 a second, capped at the burst
 * ```
 */
export function refilled(tokens: number, elapsedMs: number, perMs: number, max: number): number {
  return Math.min(max, tokens + elapsedMs * perMs);
}

/** Options of a {@link RateLimiter}. */
export interface RateLimiterOptions {
  /** Messages a second each source may send in the long run. Default 20. */
  perSecond?: number;
  /** Messages a source may send at once after being quiet. Default 5. */
  burst?: number;
  /** Most sources tracked at once. Default 65,536. */
  maxEntries?: number;
  /** Monotonic milliseconds. Default `performance.now`. */
  now?: () => number;
  /**
   * Let a new source through, untracked, when the table is full (default: refuse it). For
   * limits that spoofed sources can fill, where refusing would shut out real ones.
   */
  failOpen?: boolean;
}

interface Bucket {
  tokens: number;
  at: number;
}

/**
 * A per-source rate limiter.
 *
 * @example
 * ```ts
 * import { RateLimiter } from "./ratelimiter.ts";
 * const limiter = new RateLimiter({ perSecond: 20, burst: 5 });
 * if (!limiter.allow("192.0.2.7")) console.log("dropped");
 * ```
 */
export class RateLimiter {
  readonly #rate: number;
  readonly #burst: number;
  readonly #max: number;
  readonly #now: () => number;
  readonly #failOpen: boolean;
  readonly #buckets = new Map<string, Bucket>();
  #sweptAt = -Infinity;

  constructor(opts: RateLimiterOptions = {}) {
    this.#rate = opts.perSecond ?? 20;
    this.#burst = opts.burst ?? 5;
    this.#max = opts.maxEntries ?? 65_536;
    this.#now = opts.now ?? (() => performance.now());
    this.#failOpen = opts.failOpen ?? false;
    if (!(this.#rate > 0) || !(this.#burst >= 1) || !(this.#max >= 1)) {
      throw new RangeError("rate limiter: perSecond > 0, burst >= 1 and maxEntries >= 1");
    }
  }

  /** Sources currently tracked. */
  get size(): number {
    return this.#buckets.size;
  }

  /** True when `source` may send one more message now (and counts it). */
  allow(source: string): boolean {
    const now = this.#now();
    let b = this.#buckets.get(source);
    if (!b) {
      if (this.#buckets.size >= this.#max) {
        this.#sweep(now);
        if (this.#buckets.size >= this.#max) return this.#failOpen;
      }
      b = { tokens: this.#burst, at: now };
      this.#buckets.set(source, b);
    } else {
      b.tokens = refilled(b.tokens, now - b.at, this.#rate / 1000, this.#burst);
      b.at = now;
    }
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  /** True when `allow(source)` would succeed now (or may, for a new source); counts nothing. */
  wouldAllow(source: string): boolean {
    const b = this.#buckets.get(source);
    if (!b) return true;
    return b.tokens + ((this.#now() - b.at) * this.#rate) / 1000 >= 1;
  }

  /** Forgets every source. */
  clear(): void {
    this.#buckets.clear();
  }

  // Entries whose bucket would be full again are indistinguishable from new ones: drop them.
  #sweep(now: number): void {
    if (now - this.#sweptAt < 1000) return;
    this.#sweptAt = now;
    const full = (this.#burst * 1000) / this.#rate;
    for (const [k, b] of this.#buckets) if (now - b.at >= full) this.#buckets.delete(k);
  }
}
