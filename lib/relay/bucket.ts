/**
 * A token bucket that meters packets and bytes together, for one member's relayed traffic: a
 * packet passes when both a packet token and its length in byte tokens are there. Packets per
 * second bound the relay's per-packet work (lookups, MACs, sends) for small packets, bytes per
 * second its bandwidth for large ones. Plain numbers and no allocation, as it runs per packet.
 * @module
 */

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

/** One member's bucket; starts full. */
export class TokenBucket {
  readonly #bytesPerMs: number;
  readonly #packetsPerMs: number;
  readonly #maxBytes: number;
  readonly #maxPackets: number;
  #bytes: number;
  #packets: number;
  #at: number;

  /**
   * A full bucket at time `now` (ms). The byte capacity is at least `largest` bytes, so a packet
   * of the largest size ever passes however low the rate.
   */
  constructor(rate: RelayRate, now: number, largest = 0) {
    checkRate(rate);
    this.#bytesPerMs = rate.bytesPerSecond / 1000;
    this.#packetsPerMs = rate.packetsPerSecond / 1000;
    this.#maxBytes = Math.max(rate.bytesPerSecond * rate.burstMs / 1000, largest);
    this.#maxPackets = Math.max(rate.packetsPerSecond * rate.burstMs / 1000, 1);
    this.#bytes = this.#maxBytes;
    this.#packets = this.#maxPackets;
    this.#at = now;
  }

  /** True when a packet of `bytes` may pass at time `now` (its tokens are then spent). */
  take(bytes: number, now: number): boolean {
    const dt = now - this.#at;
    if (dt > 0) {
      this.#bytes = Math.min(this.#maxBytes, this.#bytes + dt * this.#bytesPerMs);
      this.#packets = Math.min(this.#maxPackets, this.#packets + dt * this.#packetsPerMs);
      this.#at = now;
    }
    if (this.#packets < 1 || this.#bytes < bytes) return false;
    this.#packets -= 1;
    this.#bytes -= bytes;
    return true;
  }
}
