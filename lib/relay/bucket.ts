/**
 * A token bucket that meters packets and bytes together, for one member's relayed traffic: a
 * packet passes when both a packet token and its length in byte tokens are there. Packets per
 * second bound the relay's per-packet work (lookups, MACs, sends) for small packets, bytes per
 * second its bandwidth for large ones. Plain numbers and no allocation, as it runs per packet.
 * @module
 */

import { refilled } from "../protocol/ratelimiter.ts";

/** How fast a member may push traffic through a relay. */
export interface RelayRate {
  /** Bytes a second in the long run (relay packets as received, headers included). */
  bytesPerSecond: number;
  /** Packets a second in the long run. */
  packetsPerSecond: number;
  /** The burst allowed after a quiet spell, as this many milliseconds of the rates. */
  burstMs: number;
}

/**
 * 10,000 Mbit/s (1.25 GB/s) and 1,250,000 packets/s, with bursts of a quarter second: far above
 * what one path through a relay in userspace carries (about 1 Gbit/s), so one member is never
 * held below what the relay can do. Members share a busy relay through its fair share
 * (lib/relay/fair_share.ts), not through this; it stays as a bound an operator may lower
 * (`--relay-rate`) on what any one member may make the relay forward.
 */
export const DEFAULT_RELAY_RATE: Readonly<RelayRate> = Object.freeze({
  bytesPerSecond: 1_250_000_000,
  packetsPerSecond: 1_250_000,
  burstMs: 250,
});

/** Throws a RangeError unless every rate is a positive finite number. */
export function checkRate(rate: RelayRate): void {
  for (const k of ["bytesPerSecond", "packetsPerSecond", "burstMs"] as const) {
    const v = rate[k];
    if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) {
      throw new RangeError(`relay rate ${k} must be a positive number, got ${v}`);
    }
  }
}

// Where each number lives in a bucket's Float64Array.
const BYTES_PER_MS = 0;
const PACKETS_PER_MS = 1;
const MAX_BYTES = 2;
const MAX_PACKETS = 3;
const BYTES = 4;
const PACKETS = 5;
const AT = 6;

/** One member's bucket; starts full. */
export class TokenBucket {
  // Rates, capacities and levels in a Float64Array rather than fields: V8 may keep a number field
  // boxed and allocate on every write when its values wander between small integers and large or
  // fractional ones (it did here at some rates); typed array elements never allocate.
  readonly #s = new Float64Array(7);

  /**
   * A full bucket at time `now` (ms). The byte capacity is at least `largest` bytes, so a packet
   * of the largest size ever passes however low the rate.
   */
  constructor(rate: RelayRate, now: number, largest = 0) {
    checkRate(rate);
    const s = this.#s;
    s[BYTES_PER_MS] = rate.bytesPerSecond / 1000;
    s[PACKETS_PER_MS] = rate.packetsPerSecond / 1000;
    s[MAX_BYTES] = Math.max(rate.bytesPerSecond * rate.burstMs / 1000, largest);
    s[MAX_PACKETS] = Math.max(rate.packetsPerSecond * rate.burstMs / 1000, 1);
    s[BYTES] = s[MAX_BYTES];
    s[PACKETS] = s[MAX_PACKETS];
    s[AT] = now;
  }

  /**
   * True when a packet of `bytes` may pass at time `now`; nothing is spent (a relay asks before
   * the MAC, so a packet over the rate costs it no MAC, and spends after, so a forged one costs
   * the member nothing).
   */
  allows(bytes: number, now: number): boolean {
    const s = this.#s;
    const dt = now - s[AT];
    if (dt > 0) {
      s[BYTES] = refilled(s[BYTES], dt, s[BYTES_PER_MS], s[MAX_BYTES]);
      s[PACKETS] = refilled(s[PACKETS], dt, s[PACKETS_PER_MS], s[MAX_PACKETS]);
      s[AT] = now;
    }
    return s[PACKETS] >= 1 && s[BYTES] >= bytes;
  }

  /** True when a packet of `bytes` may pass at time `now` (its tokens are then spent). */
  take(bytes: number, now: number): boolean {
    if (!this.allows(bytes, now)) return false;
    const s = this.#s;
    s[PACKETS] -= 1;
    s[BYTES] -= bytes;
    return true;
  }
}
