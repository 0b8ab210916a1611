/**
 * A fixed-bucket histogram, as Prometheus exposes them: cumulative bucket counts, a sum and a
 * count. Observing is allocation-free so it can sit on a probe or packet path.
 * @module
 */

/** Upper bounds (seconds) for probe round-trip times: loopback and LAN up to slow WAN links. */
export const PROBE_RTT_BUCKETS: readonly number[] = [
  0.0005,
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
];

/** A histogram's figures at one moment. */
export interface HistogramSnapshot {
  /** Finite upper bounds, ascending (the `+Inf` bucket is implied). */
  buckets: readonly number[];
  /** Cumulative counts, one per bound: observations `<=` that bound. */
  counts: number[];
  /** Sum of every observation. */
  sum: number;
  /** Number of observations (the `+Inf` bucket). */
  count: number;
}

/** A histogram with fixed upper bounds. */
export class Histogram {
  readonly #bounds: readonly number[];
  // Per-bucket (non-cumulative) counts; the last slot is the +Inf overflow.
  readonly #counts: Float64Array;
  #sum = 0;
  #count = 0;

  /** Makes a histogram with the given finite upper bounds (ascending, distinct). */
  constructor(bounds: readonly number[] = PROBE_RTT_BUCKETS) {
    for (let i = 0; i < bounds.length; i++) {
      if (!Number.isFinite(bounds[i]) || (i > 0 && bounds[i] <= bounds[i - 1])) {
        throw new Error("histogram bounds must be finite and strictly ascending");
      }
    }
    this.#bounds = [...bounds];
    this.#counts = new Float64Array(bounds.length + 1);
  }

  /** Records one value. NaN is ignored: it would poison the sum. */
  observe(value: number): void {
    if (Number.isNaN(value)) return;
    const b = this.#bounds;
    let i = 0;
    while (i < b.length && value > b[i]) i++;
    this.#counts[i]++;
    this.#sum += value;
    this.#count++;
  }

  /** Cumulative figures, as the exposition format wants them. */
  snapshot(): HistogramSnapshot {
    const counts: number[] = [];
    let acc = 0;
    for (let i = 0; i < this.#bounds.length; i++) {
      acc += this.#counts[i];
      counts.push(acc);
    }
    return { buckets: this.#bounds, counts, sum: this.#sum, count: this.#count };
  }
}
