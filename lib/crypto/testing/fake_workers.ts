/**
 * Stand-ins for a crypto pool worker (lib/crypto/pool_worker.ts) that fail the ways a real one
 * could: never waking for a job, taking one and never finishing it, dying. For the tests of the
 * pool and of what runs on it.
 * @module
 */

import { LANE_CLAIM, LANE_INTS, LANE_SEQ } from "../pool_kernel.ts";

/** A Worker running `code` (a module) in place of the real entry. */
export function fakeWorker(code: string): (url: URL) => Worker {
  return () =>
    new Worker(`data:application/javascript,${encodeURIComponent(code)}`, { type: "module" });
}

/** Starts as a real worker would, then never looks at its lane: it never wakes for a job. */
export const NEVER_WAKES = "self.onmessage = () => self.postMessage({ ready: true });";

/** Takes the first job it wakes in time for, then never finishes it (until told to stop). */
export const TAKES_AND_HANGS = `
self.onmessage = (e) => {
  const c = new Int32Array(e.data.buffers.control);
  const seqAt = e.data.lane * ${LANE_INTS} + ${LANE_SEQ};
  const claimAt = e.data.lane * ${LANE_INTS} + ${LANE_CLAIM};
  self.postMessage({ ready: true });
  for (let seen = 0;;) {
    Atomics.wait(c, seqAt, seen);
    const seq = Atomics.load(c, seqAt);
    if (seq < 0) return;
    if (seq === seen) continue;
    seen = seq;
    if (Atomics.compareExchange(c, claimAt, seq, -seq) === seq) break;
  }
  for (let s = Atomics.load(c, seqAt); s >= 0; s = Atomics.load(c, seqAt)) Atomics.wait(c, seqAt, s);
};`;

/** Starts, then its thread dies of an uncaught error. */
export const DIES = `
self.onmessage = () => {
  self.postMessage({ ready: true });
  setTimeout(() => { throw new Error("worker died"); }, 0);
};`;
