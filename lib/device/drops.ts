/**
 * Why packets are dropped, counted per reason: hostile or broken input is never an exception on
 * the packet path, only a number that moves.
 * @module
 */

/** Every reason the device drops a packet. */
export const DROP_REASONS = [
  "short",
  "bad-size",
  "unknown-type",
  "mac1",
  "cookie-required",
  "cookie-reply-limited",
  "handshake-rate-limited",
  "cookie-invalid",
  "handshake-invalid",
  "handshake-unknown-peer",
  "handshake-replay",
  "unknown-index",
  "bad-counter",
  "expired-session",
  "decrypt",
  "crypto-error",
  "replay",
  "malformed-ip",
  "source-not-allowed",
  "no-route",
  "multicast",
  "oversize",
  "staged-overflow",
  "handshake-timeout",
  "policy",
] as const;

/** A reason the device drops a packet. */
export type DropReason = typeof DROP_REASONS[number];

/** Counters by drop reason. */
export class DropCounters {
  readonly #counts: Record<DropReason, number>;

  constructor() {
    this.#counts = Object.fromEntries(DROP_REASONS.map((r) => [r, 0])) as Record<
      DropReason,
      number
    >;
  }

  /** Counts `n` drops for `reason`. */
  add(reason: DropReason, n = 1): void {
    this.#counts[reason] += n;
  }

  /** The count for one reason. */
  get(reason: DropReason): number {
    return this.#counts[reason];
  }

  /** All drops. */
  total(): number {
    let t = 0;
    for (const r of DROP_REASONS) t += this.#counts[r];
    return t;
  }

  /** A copy of every counter. */
  snapshot(): Record<DropReason, number> {
    return { ...this.#counts };
  }
}
