/**
 * Lines of several kinds that a crowd can cause at once (a loaded leader marking thousands of
 * members down): each kind has its own {@link LogBudget}, so the first lines of a kind are
 * written as they come; the lines over it are counted, and a summary per kind says how many were
 * left out, once an interval after the first of them (and before the next line of that kind the
 * budget lets through, and at {@link KindBudgets.flush}). Every line left out is said once.
 * @module
 */

import { timeout } from "../io/cancelable.ts";
import { LogBudget } from "./budget.ts";

/** Options of {@link KindBudgets}. */
export interface KindBudgetsOptions<K extends string> {
  /** Lines of a kind written before the budget holds them back (default 10). */
  burst?: number;
  /** A held-back kind's budget lets one line more through this often, and it is summed as often, ms (default 10000). */
  intervalMs?: number;
  /** Says that `left` lines of `kind` were left out (written by the caller, one line). */
  summary: (kind: K, left: number) => void;
  /** Monotonic ms (default `performance.now`). */
  now?: () => number;
  /** Calls `fn` after `ms`; returns what cancels it (default: an unreferenced `setTimeout`). */
  timer?: (fn: () => void, ms: number) => () => void;
}

/** A log budget per kind of line, with a summary of what each left out. See the module docs. */
export class KindBudgets<K extends string> {
  readonly #budgets = new Map<K, LogBudget>();
  readonly #burst: number;
  readonly #interval: number;
  readonly #summary: (kind: K, left: number) => void;
  readonly #now: (() => number) | undefined;
  readonly #timer: (fn: () => void, ms: number) => () => void;
  #cancel: (() => void) | null = null;

  constructor(opts: KindBudgetsOptions<K>) {
    this.#burst = opts.burst ?? 10;
    this.#interval = opts.intervalMs ?? 10_000;
    this.#summary = opts.summary;
    this.#now = opts.now;
    // A summary never holds a process that is otherwise done: flush() says it at the close.
    this.#timer = opts.timer ?? ((fn, ms) => timeout(fn, ms, { unref: true }));
  }

  /** The summaries' interval, ms (for their text). */
  get intervalMs(): number {
    return this.#interval;
  }

  /**
   * Whether a line of `kind` may be written now; if not, it is counted for the summary. Lines of
   * the kind left out before it are summed first.
   */
  take(kind: K): boolean {
    let b = this.#budgets.get(kind);
    if (!b) {
      b = new LogBudget({
        burst: this.#burst,
        intervalMs: this.#interval,
        ...(this.#now ? { now: this.#now } : {}),
      });
      this.#budgets.set(kind, b);
    }
    const left = b.take();
    if (left === null) {
      this.#cancel ??= this.#timer(() => {
        this.#cancel = null;
        this.#sum();
      }, this.#interval);
      return false;
    }
    if (left > 0) this.#summary(kind, left);
    return true;
  }

  /** Says what each kind left out now, and stops the timer (the logger's owner stops). */
  flush(): void {
    this.#cancel?.();
    this.#cancel = null;
    this.#sum();
  }

  #sum(): void {
    for (const [kind, b] of this.#budgets) {
      const left = b.drain();
      if (left > 0) this.#summary(kind, left);
    }
  }
}
