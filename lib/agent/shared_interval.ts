/**
 * One interval per process, shared by the agents that ask for it: started by the first, stopped
 * when the last one stops (the heap and arena trims: one process, however many agents, has one
 * heap and one allocator to look after).
 * @module
 */

/**
 * A process-wide interval of `everyMs`, its tick made by `make` when the first user comes (null:
 * nothing to run here, and every user gets a stop that does nothing). The timer never keeps the
 * process alive.
 *
 * @example
 * ```ts
 * import { SharedInterval } from "./shared_interval.ts";
 * const looks = new SharedInterval(5_000, () => () => console.log("look"));
 * const stop = looks.start();
 * stop();
 * ```
 */
export class SharedInterval {
  readonly #everyMs: number;
  readonly #make: () => (() => void) | null;
  #timer: ReturnType<typeof setInterval> | undefined;
  #users = 0;

  /** Nothing runs until {@link start}. */
  constructor(everyMs: number, make: () => (() => void) | null) {
    this.#everyMs = everyMs;
    this.#make = make;
  }

  /** Whether the interval runs now. */
  get running(): boolean {
    return this.#timer !== undefined;
  }

  /** Joins the interval (starting it for the first user); returns this user's stop, once only. */
  start(): () => void {
    if (this.#timer === undefined) {
      const tick = this.#make();
      if (tick === null) return () => {};
      this.#timer = setInterval(tick, this.#everyMs);
      Deno.unrefTimer(this.#timer);
    }
    this.#users++;
    let stopped = false;
    return () => {
      if (stopped) return;
      stopped = true;
      if (--this.#users > 0) return;
      clearInterval(this.#timer);
      this.#timer = undefined;
    };
  }
}
