/**
 * A budget for log lines an attacker can cause: a burst, then one line per interval; lines over
 * budget are only counted, and the next line that may be written says how many were left out.
 * @module
 */

import { refilled } from "../protocol/ratelimiter.ts";

/** Lets through `burst` lines, then one every `intervalMs`; counts the rest. */
export class LogBudget {
  readonly #burst: number;
  readonly #interval: number;
  readonly #now: () => number;
  #tokens: number;
  #at: number;
  #suppressed = 0;

  constructor(opts: { burst?: number; intervalMs?: number; now?: () => number } = {}) {
    this.#burst = opts.burst ?? 10;
    this.#interval = opts.intervalMs ?? 6000;
    this.#now = opts.now ?? (() => performance.now());
    this.#tokens = this.#burst;
    this.#at = this.#now();
  }

  /**
   * Null when this line is over budget (it is counted); otherwise how many lines were left out
   * since the last one written (0 when none), which the caller should log with the line.
   */
  take(): number | null {
    const now = this.#now();
    this.#tokens = refilled(this.#tokens, now - this.#at, 1 / this.#interval, this.#burst);
    this.#at = now;
    if (this.#tokens < 1) {
      this.#suppressed++;
      return null;
    }
    this.#tokens -= 1;
    return this.drain();
  }

  /** The lines left out since the last one written or drained, which are then said (summed). */
  drain(): number {
    const n = this.#suppressed;
    this.#suppressed = 0;
    return n;
  }
}
