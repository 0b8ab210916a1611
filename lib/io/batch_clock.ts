/**
 * A monotonic clock for per-packet paths: `performance.now()` costs about 0.1 µs of CPU, as much
 * as a relay's packet MAC, and a batch of packets read in one task needs no finer time than the
 * batch's start. So the clock is read once and that reading reused by later calls in the same
 * task (up to {@link BATCH_CLOCK_USES} of them), until a microtask queued with the first read
 * ends the task's reuse: the next batch reads afresh.
 * @module
 */

/** How many calls may reuse one reading (a long task still sees time move). */
export const BATCH_CLOCK_USES = 1024;

/** Reads `read` once per task for many callers; see the module docs. */
export class BatchClock {
  readonly #read: () => number;
  /** The last reading, in a typed array so that keeping it makes no heap number. */
  readonly #time = new Float64Array(1);
  #uses = 0;
  #queued = false;
  readonly #expire = (): void => {
    this.#uses = 0;
    this.#queued = false;
  };

  /** Reads `read` (monotonic milliseconds; default `performance.now`). */
  constructor(read: () => number = () => performance.now()) {
    this.#read = read;
  }

  /** Monotonic milliseconds: this task's reading (taken now if it has none yet). */
  readonly now = (): number => {
    if (this.#uses > 0) {
      this.#uses--;
      return this.#time[0];
    }
    this.#time[0] = this.#read();
    this.#uses = BATCH_CLOCK_USES - 1;
    if (!this.#queued) {
      this.#queued = true;
      queueMicrotask(this.#expire);
    }
    return this.#time[0];
  };
}
