/**
 * What each caller (an overlay address) may ask of this node's services: a token bucket of
 * calls per second, and a most handlers running at once for it. A call over either is refused
 * (`rate-limited`) before it runs, so a busy caller slows itself down rather than the node.
 * The figures are a user setting (`--service-caller-limit`, parsed by {@link parseCallerLimit}
 * in lib/members/service_backends.ts).
 * @module
 */

import { DEFAULT_CALLER_LIMIT } from "../members/service_backends.ts";
import { refilled } from "../protocol/ratelimiter.ts";

export {
  type CallerLimitSpec,
  DEFAULT_CALLER_LIMIT,
  parseCallerLimit,
} from "../members/service_backends.ts";

/** The limits per caller. */
export interface CallerLimitOptions {
  /** Calls a second in the long run. Default 200. */
  ratePerSecond?: number;
  /** Calls allowed at once after a quiet spell. Default 400. */
  burst?: number;
  /** Handlers running at once for one caller. Default 32. */
  maxConcurrent?: number;
  /** Callers tracked at once (the least recent is forgotten, once idle). Default 4096. */
  maxCallers?: number;
}

interface CallerState {
  tokens: number;
  at: number;
  running: number;
}

/** Why a call was refused. */
export type CallerRefusal = "rate" | "concurrency";

/** Token buckets and running counts per caller; see the module docs. */
export class CallerLimits {
  readonly #rate: number;
  readonly #burst: number;
  readonly #maxConcurrent: number;
  readonly #maxCallers: number;
  readonly #now: () => number;
  readonly #callers = new Map<string, CallerState>();

  /** Limits with the given figures; `now` is the clock in ms. */
  constructor(opts: CallerLimitOptions = {}, now: () => number = () => performance.now()) {
    this.#rate = opts.ratePerSecond ?? DEFAULT_CALLER_LIMIT.ratePerSecond;
    this.#burst = opts.burst ?? DEFAULT_CALLER_LIMIT.burst;
    this.#maxConcurrent = opts.maxConcurrent ?? DEFAULT_CALLER_LIMIT.maxConcurrent;
    this.#maxCallers = opts.maxCallers ?? 4096;
    for (const [k, v] of Object.entries({ ratePerSecond: this.#rate, burst: this.#burst })) {
      if (!(v > 0 && Number.isFinite(v))) {
        throw new RangeError(`caller limits: ${k} must be a positive number, got ${v}`);
      }
    }
    for (
      const [k, v] of Object.entries({
        maxConcurrent: this.#maxConcurrent,
        maxCallers: this.#maxCallers,
      })
    ) {
      if (!(Number.isInteger(v) && v >= 1)) {
        throw new RangeError(`caller limits: ${k} must be a positive integer, got ${v}`);
      }
    }
    this.#now = now;
  }

  /**
   * Takes a token and a running slot for `caller`: null when the call may run (then call
   * {@link release} when it ends), or why it may not.
   */
  admit(caller: string): CallerRefusal | null {
    const now = this.#now();
    const s = this.#state(caller, now);
    s.tokens = refilled(s.tokens, now - s.at, this.#rate / 1000, this.#burst);
    s.at = now;
    if (s.running >= this.#maxConcurrent) return "concurrency";
    if (s.tokens < 1) return "rate";
    s.tokens -= 1;
    s.running++;
    return null;
  }

  /** Gives back the running slot of an admitted call. */
  release(caller: string): void {
    const s = this.#callers.get(caller);
    if (s !== undefined && s.running > 0) s.running--;
  }

  /** Handlers running now for `caller`. */
  running(caller: string): number {
    return this.#callers.get(caller)?.running ?? 0;
  }

  #state(caller: string, now: number): CallerState {
    let s = this.#callers.get(caller);
    if (s !== undefined) {
      this.#callers.delete(caller);
      this.#callers.set(caller, s);
      return s;
    }
    if (this.#callers.size >= this.#maxCallers) {
      // Forget the least recent idle caller (its bucket refills anyway); one with calls running
      // is kept, as its slots must come back.
      for (const [k, v] of this.#callers) {
        if (v.running === 0) {
          this.#callers.delete(k);
          break;
        }
      }
    }
    s = { tokens: this.#burst, at: now, running: 0 };
    this.#callers.set(caller, s);
    return s;
  }
}
