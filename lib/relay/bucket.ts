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

/** 20 MB/s and 20,000 packets/s, with bursts of a quarter second. */
export const DEFAULT_RELAY_RATE: Readonly<RelayRate> = Object.freeze({
  bytesPerSecond: 20_000_000,
  packetsPerSecond: 20_000,
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

  /** True when a packet of `bytes` may pass at time `now` (its tokens are then spent). */
  take(bytes: number, now: number): boolean {
    const s = this.#s;
    const dt = now - s[AT];
    if (dt > 0) {
      s[BYTES] = refilled(s[BYTES], dt, s[BYTES_PER_MS], s[MAX_BYTES]);
      s[PACKETS] = refilled(s[PACKETS], dt, s[PACKETS_PER_MS], s[MAX_PACKETS]);
      s[AT] = now;
    }
    if (s[PACKETS] < 1 || s[BYTES] < bytes) return false;
    s[PACKETS] -= 1;
    s[BYTES] -= bytes;
    return true;
  }
}
