/**
 * The garbage a busy data path leaves in V8's old generation, collected at a bounded step.
 *
 * At 300 Mbit/s a member allocates about 1.6 MiB/s of short-lived objects (views, promise
 * reactions, timers of the poll loop); some are alive at a scavenge and are promoted, about
 * 2 MiB a minute, and die there. V8 collects the old generation once it has grown by half over
 * what was live (`--heap-growing-percent=50`, lib/agent/jit.ts), and its memory reducer, which
 * would collect sooner, gives up after two collections while allocation stays high. So a member
 * whose live heap is 23 MiB climbed for 10 to 15 minutes between collections, its RSS with it,
 * in steps as V8 committed pages (the soak, scripts/bench/soak.ts: +6% in 10 minutes with the
 * live heap and the external memory flat).
 *
 * {@link HeapTrim} runs a full collection itself once the heap used has grown by a step
 * ({@link TRIM_STEP_BYTES}, 4 MiB, or an eighth of what is live when that is more) over what
 * the last collection left, at most once a {@link TRIM_MIN_INTERVAL_MS}: the heap stays within
 * live + the step (+ the young generation, 2 × 2 MiB), and the RSS levels off once that is
 * reached, within minutes. A collection of a member's heap (20 to 65 MiB live) stops the process
 * for some 5 to 30 ms, once every two minutes or so at 300 Mbit/s; heaps past
 * {@link TRIM_MAX_LIVE_BYTES} (a leader of thousands) are left to V8's incremental collector and
 * its growing factor, whose costs the fleet bench measured (docs/performance.md).
 *
 * It needs V8's `gc` (`--expose-gc`, among weft's V8 flags); without it, nothing runs.
 * @module
 */

import { SharedInterval } from "./shared_interval.ts";

/** Collect once the heap used grew by this much over what the last collection left. */
export const TRIM_STEP_BYTES = 4 * 1024 * 1024;
/** Never collect more often than this, whatever the heap does. */
export const TRIM_MIN_INTERVAL_MS = 60_000;
/** Heaps with more live than this are left to V8 (a full stop of such a heap is long). */
export const TRIM_MAX_LIVE_BYTES = 64 * 1024 * 1024;
/** How often the heap is looked at. */
export const TRIM_CHECK_MS = 10_000;

/** What a {@link HeapTrim} works with (the process's own by default; fakes in tests). */
export interface HeapTrimOptions {
  /** Runs a full collection. */
  gc: () => void;
  /** The heap used now, bytes. */
  used: () => number;
  /** A clock in ms. */
  now?: () => number;
}

/** Decides when to collect; see the module docs. */
export class HeapTrim {
  readonly #o: HeapTrimOptions;
  readonly #now: () => number;
  /** What was live after the last collection (or the least heap seen), bytes; null at first. */
  #live: number | null = null;
  #last = -Infinity;
  /** Collections run. */
  trims = 0;

  /** A trim over `o`; nothing runs until {@link check}. */
  constructor(o: HeapTrimOptions) {
    this.#o = o;
    this.#now = o.now ?? (() => performance.now());
  }

  /** What the last collection left (or the least heap seen since), bytes; null before a look. */
  get live(): number | null {
    return this.#live;
  }

  /** Looks at the heap and collects if it is due; true when it collected. */
  check(): boolean {
    const used = this.#o.used();
    // V8's own collections lower the heap: the least seen is an upper bound of what is live.
    if (this.#live === null || used < this.#live) {
      this.#live = used;
      return false;
    }
    const live = this.#live;
    if (live > TRIM_MAX_LIVE_BYTES) return false;
    if (used - live < Math.max(TRIM_STEP_BYTES, live / 8)) return false;
    const now = this.#now();
    if (now - this.#last < TRIM_MIN_INTERVAL_MS) return false;
    this.#o.gc();
    this.#last = now;
    this.#live = this.#o.used();
    this.trims++;
    return true;
  }
}

/** V8's `gc`, when the process runs with `--expose-gc`. */
function exposedGc(): (() => void) | null {
  const gc = (globalThis as { gc?: unknown }).gc;
  return typeof gc === "function" ? () => gc() : null;
}

const shared = new SharedInterval(TRIM_CHECK_MS, () => {
  const gc = exposedGc();
  if (gc === null) return null;
  const trim = new HeapTrim({ gc, used: () => Deno.memoryUsage().heapUsed });
  return () => void trim.check();
});

/**
 * Starts the process's heap trim (one per process, however many agents start it); the
 * returned function stops this user's share. A no-op where `gc` is not exposed.
 */
export function startHeapTrim(): () => void {
  return shared.start();
}
