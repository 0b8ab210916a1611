/**
 * The monotonic clock seam: what every timer, age and rate of the packet and control paths reads,
 * injectable so tests run hours of protocol time in milliseconds. The clocks that need more
 * (the device's wall clock, the prober's and the routes' timers) extend it.
 * @module
 */

/** A monotonic millisecond clock. */
export interface MonotonicClock {
  /** Milliseconds, never going back. */
  now(): number;
}

/** The real monotonic clock: `performance.now()`. */
export const monotonicClock: MonotonicClock = { now: () => performance.now() };
