/**
 * The browser build's lib/io/timers.ts: a page has no process to keep alive, so a timer is
 * left as it is.
 * @module
 */

/** A timer as `setTimeout` or `setInterval` returns it. */
export type TimerId = ReturnType<typeof setTimeout>;

/** Nothing to do in a page. */
export function unrefTimer(_id: TimerId): void {}
