/**
 * The entry of one crypto pool worker (lib/crypto/worker_pool.ts). Its first message names the
 * shared buffers and its lane; it opens its own libsodium, answers `{ ready: true }` (or
 * `{ error }`), then serves jobs until told to stop: it sleeps in `Atomics.wait` on its lane's
 * sequence number, takes the job (unless its owner took it back first), runs the entries it
 * names, and publishes the job as done. After its start
 * it takes no messages (its event loop never runs again): everything goes through shared memory.
 * @module
 */

import { openSodium } from "./sodium.ts";
import {
  LANE_CLAIM,
  LANE_DONE,
  LANE_FROM,
  LANE_INTS,
  LANE_SEQ,
  LANE_STATE,
  LANE_TO,
  POOL_SYMBOLS,
  PoolKernel,
  type PoolLib,
  STATE_FAILED,
  type WorkerStart,
} from "./pool_kernel.ts";

/**
 * The worker global as used here (typed by hand: a `deno.worker` lib reference would retype
 * `self` for every module type-checked with this one).
 */
const scope = self as unknown as {
  onmessage: ((ev: MessageEvent<WorkerStart>) => void) | null;
  postMessage(message: unknown): void;
  close(): void;
};

/** Serves jobs on `lane` until its sequence number turns negative (stop). */
function serve(kernel: PoolKernel, lane: number): void {
  const c = kernel.control;
  const base = lane * LANE_INTS;
  // Lanes start at 0; a job may be posted before this line runs (right after `ready`), so the
  // count starts from there, never from what is read now.
  let seen = 0;
  for (;;) {
    Atomics.wait(c, base + LANE_SEQ, seen);
    const seq = Atomics.load(c, base + LANE_SEQ);
    if (seq < 0) return;
    if (seq === seen) continue; // a spurious wake-up
    seen = seq;
    // The owner may have done this job itself already, not waiting for us to wake.
    if (Atomics.compareExchange(c, base + LANE_CLAIM, seq, -seq) !== seq) continue;
    try {
      kernel.run(lane, c[base + LANE_FROM], c[base + LANE_TO]);
    } catch (e) {
      // The owner finds the job's unfinished entries still pending and carries on without us.
      Atomics.store(c, base + LANE_STATE, STATE_FAILED);
      Atomics.store(c, base + LANE_DONE, seq);
      Atomics.notify(c, base + LANE_DONE);
      throw e;
    }
    Atomics.store(c, base + LANE_DONE, seq);
    Atomics.notify(c, base + LANE_DONE);
  }
}

scope.onmessage = (ev: MessageEvent<WorkerStart>) => {
  scope.onmessage = null;
  const { buffers, lane } = ev.data;
  const lib = openSodium(POOL_SYMBOLS);
  if (lib === null) {
    scope.postMessage({ error: "libsodium could not be loaded in the worker" });
    return;
  }
  let kernel: PoolKernel;
  try {
    kernel = new PoolKernel(lib.symbols as unknown as PoolLib, buffers);
  } catch (e) {
    scope.postMessage({ error: e instanceof Error ? e.message : String(e) });
    return;
  }
  scope.postMessage({ ready: true });
  serve(kernel, lane);
  lib.close();
  scope.close();
};
