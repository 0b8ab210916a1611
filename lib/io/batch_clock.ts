/**
 * A monotonic clock for per-packet paths (the device's send and receive, the policy filter, the
 * relay): `performance.now()` costs about 0.1 µs of CPU, as much as a relay's packet MAC, and a
 * batch of packets read in one task needs no finer time than the batch's start. So the clock is
 * read once and that reading reused by later calls in the same task (up to
 * {@link BATCH_CLOCK_USES} of them), until a microtask queued with the first read ends the
 * task's reuse: the next batch reads afresh.
 *
 * The reading is kept in a typed array (`time`) and `update` returns only whether it read: a
 * double returned from or passed to a call that is not inlined is a heap number, and these
 * paths run under allocation tests. An unbatched clock (`batched: false`) reads for every call,
 * for tests that move an injected clock between packets of one task.
 * @module
 */

/** How many calls may use one reading (a long task still sees time move). */
export const BATCH_CLOCK_USES = 1024;

/** How a {@link BatchClock} is made. */
export interface BatchClockOptions {
  /** Reuse a reading within a task (default true); false reads the clock for every call. */
  batched?: boolean;
}

/** Reads `read` once per task for many callers; see the module docs. */
export class BatchClock {
  /** The reading in use (monotonic ms), as of the last `update` or `now`. */
  readonly time: Float64Array = new Float64Array(1);
  readonly #read: () => number;
  readonly #batched: boolean;
  #uses = 0;
  #queued = false;
  readonly #expire = (): void => {
    this.#uses = 0;
    this.#queued = false;
  };

  /** Reads `read` (monotonic milliseconds; default `performance.now`). */
  constructor(read: () => number = () => performance.now(), opts: BatchClockOptions = {}) {
    this.#read = read;
    this.#batched = opts.batched ?? true;
  }

  /**
   * Brings `time` up to date: keeps this task's reading while it has uses left, else reads the
   * clock. True when it read (callers that derive state from the reading redo it then only).
   */
  update(): boolean {
    if (this.#uses > 0) {
      this.#uses--;
      return false;
    }
    this.time[0] = this.#read();
    if (this.#batched) {
      this.#uses = BATCH_CLOCK_USES - 1;
      if (!this.#queued) {
        this.#queued = true;
        queueMicrotask(this.#expire);
      }
    }
    return true;
  }

  /** Monotonic milliseconds: this task's reading (taken now if it has none yet). */
  readonly now = (): number => {
    // `update`'s reuse inline: the relay calls this per packet (about 1 ns a call less).
    if (this.#uses > 0) {
      this.#uses--;
      return this.time[0];
    }
    this.update();
    return this.time[0];
  };
}
