/**
 * Backpressure on calls: the bytes of requests a caller has sent to one instance and not yet had
 * answered are bounded (a window, 4 MiB by default: fragments are not resent, and many large
 * messages at once lose more of them). A call that would pass the window waits,
 * first come first served, until earlier calls to that instance end; a slow instance so slows
 * its callers rather than growing queues of sent requests at the callee (or of fragments on the
 * caller's way out). A request larger than the window goes alone, once nothing else is in
 * flight. The wait is part of the call's time: a call still waiting when it runs out is a
 * timeout, never sent; and the callers waiting per instance are bounded too (beyond, a call is
 * refused at once).
 * @module
 */

/** The bounds of an {@link InflightBytes}. */
export interface InflightOptions {
  /** Bytes in flight to one instance. Default 4 MiB. */
  maxBytes?: number;
  /** Calls waiting for one instance. Default 1024. */
  maxWaiting?: number;
}

/** Why a call was not let through. */
export type InflightRefusal = "timeout" | "queue-full";

interface Waiter {
  readonly bytes: number;
  readonly admit: (release: () => void) => void;
  timer?: ReturnType<typeof setTimeout>;
}

interface Lane {
  held: number;
  /** Calls holding part of the window: those sent and not yet ended. */
  calls: number;
  readonly queue: Waiter[];
}

/** The window per instance; see the module docs. */
export class InflightBytes {
  /** The window, bytes. */
  readonly maxBytes: number;
  readonly #maxWaiting: number;
  readonly #lanes = new Map<string, Lane>();
  /** Calls that waited for the window, that ran out of time waiting, refused as the queue was full. */
  readonly counts = { waited: 0, timedOut: 0, refused: 0 };

  /** A window per instance of the given bounds. */
  constructor(opts: InflightOptions = {}) {
    this.maxBytes = opts.maxBytes ?? 4 << 20;
    this.#maxWaiting = opts.maxWaiting ?? 1024;
  }

  /**
   * Takes `bytes` of `key`'s window, waiting up to `waitMs`: the function that gives them back
   * (call it once the answer came or the attempt ended), or why not.
   */
  acquire(key: string, bytes: number, waitMs: number): Promise<(() => void) | InflightRefusal> {
    let lane = this.#lanes.get(key);
    if (lane === undefined) {
      lane = { held: 0, calls: 0, queue: [] };
      this.#lanes.set(key, lane);
    }
    if (lane.queue.length === 0 && this.#fits(lane, bytes)) {
      return Promise.resolve(this.#take(key, lane, bytes));
    }
    if (lane.queue.length >= this.#maxWaiting) {
      this.counts.refused++;
      return Promise.resolve("queue-full");
    }
    this.counts.waited++;
    const l = lane;
    return new Promise((resolve) => {
      const w: Waiter = { bytes, admit: resolve };
      w.timer = setTimeout(() => {
        const i = l.queue.indexOf(w);
        if (i < 0) return;
        l.queue.splice(i, 1);
        this.counts.timedOut++;
        resolve("timeout");
        // The head may have been waiting behind this one.
        this.#admit(key, l);
      }, waitMs);
      l.queue.push(w);
    });
  }

  /** Bytes in flight to `key` now. */
  inFlight(key: string): number {
    return this.#lanes.get(key)?.held ?? 0;
  }

  /** Calls holding part of `key`'s window now: sent and not yet ended. */
  calls(key: string): number {
    return this.#lanes.get(key)?.calls ?? 0;
  }

  /** Calls waiting for `key` now. */
  waiting(key: string): number {
    return this.#lanes.get(key)?.queue.length ?? 0;
  }

  #fits(lane: Lane, bytes: number): boolean {
    return lane.held === 0 || lane.held + bytes <= this.maxBytes;
  }

  #take(key: string, lane: Lane, bytes: number): () => void {
    lane.held += bytes;
    lane.calls++;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      lane.held -= bytes;
      lane.calls--;
      this.#admit(key, lane);
    };
  }

  #admit(key: string, lane: Lane): void {
    while (lane.queue.length > 0 && this.#fits(lane, lane.queue[0].bytes)) {
      const w = lane.queue.shift()!;
      clearTimeout(w.timer);
      w.admit(this.#take(key, lane, w.bytes));
    }
    if (lane.held === 0 && lane.queue.length === 0) this.#lanes.delete(key);
  }
}
