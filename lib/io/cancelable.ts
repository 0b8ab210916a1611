/**
 * `setTimeout` and `setInterval` shaped as the timer seams of the library take them: a call that
 * returns what cancels it. `unref` lets the process exit while the timer is pending (a log
 * summary, an announcement), through ./timers.ts, so the browser build's swap of that module
 * covers these too.
 * @module
 */

import { unrefTimer } from "./timers.ts";

/** Options of {@link timeout} and {@link every}. */
export interface CancelableOptions {
  /** The timer does not keep the process alive (default: it does, as `setTimeout` does). */
  unref?: boolean;
}

/** Calls `fn` once after `ms`; returns what cancels it. */
export function timeout(fn: () => void, ms: number, opts?: CancelableOptions): () => void {
  const id = setTimeout(fn, ms);
  if (opts?.unref) unrefTimer(id);
  return () => clearTimeout(id);
}

/** Calls `fn` every `ms`; returns what stops it. */
export function every(fn: () => void, ms: number, opts?: CancelableOptions): () => void {
  const id = setInterval(fn, ms);
  if (opts?.unref) unrefTimer(id);
  return () => clearInterval(id);
}
