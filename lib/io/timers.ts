/**
 * Timers that must not keep the process alive (a sweep, a held packet): the one place the
 * runtime's `unrefTimer` is asked for (./cancelable.ts's `unref` too), so a build for another
 * platform swaps this module alone (the browser build: lib/browser/platform/timers.ts, where a
 * page has no process to keep).
 * @module
 */

/** A timer as `setTimeout` or `setInterval` returns it. */
export type TimerId = Parameters<typeof Deno.unrefTimer>[0];

/** Lets the process exit while `id` (a `setTimeout` or `setInterval`) is pending. */
export function unrefTimer(id: TimerId): void {
  Deno.unrefTimer(id);
}
