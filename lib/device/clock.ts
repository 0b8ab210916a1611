/**
 * Time as the device sees it: a monotonic clock for timers and a wall clock for timestamps, both
 * injectable so tests can run hours of protocol time in milliseconds.
 * @module
 */

import type { MonotonicClock } from "../io/clock.ts";

/** The device's view of time. */
export interface Clock extends MonotonicClock {
  /** Unix milliseconds, for TAI64N timestamps and "last handshake" times. */
  wallNow(): number;
}

/** The real clocks. */
export const systemClock: Clock = {
  now: () => performance.now(),
  wallNow: () => Date.now(),
};

/** A clock that only moves when told to; for tests and simulations. */
export class ManualClock implements Clock {
  #mono: number;
  #wall: number;

  /** A clock at `startWallMs` (Unix ms) that moves only when told. */
  constructor(startWallMs = 1_700_000_000_000) {
    this.#mono = 1_000;
    this.#wall = startWallMs;
  }

  /** Monotonic milliseconds. */
  now(): number {
    return this.#mono;
  }

  /** Unix milliseconds. */
  wallNow(): number {
    return this.#wall;
  }

  /** Moves both clocks forward by `ms`. */
  advance(ms: number): void {
    this.#mono += ms;
    this.#wall += ms;
  }
}
