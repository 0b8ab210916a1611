/**
 * A short scheduler slice for the agent's JavaScript thread, which carries every packet: once per
 * process on Linux the agent asks the fair scheduler for a slice of {@link DEFAULT_JS_SLICE_US}
 * µs for that thread (drivers/linux/thread_slice.ts; threads started before keep theirs, the FFI
 * helpers Deno has started by then among them), so that when a packet wakes it on a core another
 * thread holds, it runs at once rather than after that thread's slice (1.4 ms by default here,
 * and on a kernel without preemption the next 4 ms tick). Its share of the CPU is unchanged.
 *
 * What it was for: a fresh tunnel's first packets make V8's workers compile the code they ran
 * (lib/agent/jit.ts) at the JavaScript thread's priority (lib/agent/v8_workers.ts), and a packet
 * arriving while a worker held the core waited for it. In `scripts/bench/latency.ts` runs
 * (2026-11-28, load 1.3 to 5, not quiet) the fresh tunnel's p90 was lower with it in 7 runs of 9,
 * the p99 in 5 of 6, the tunnel's first ping (the handshake) in 5 of 7, TCP level, the median
 * within 0.03 ms either way (docs/performance.md, "The JavaScript thread's slice").
 *
 * A mesh leader's is left at the kernel's default unless asked: not measured there, and its JS
 * thread is busy most of the time, where a slice changes nothing but how often it is switched.
 * Without the FFI permission nothing is asked (never a prompt).
 * `WEFT_JS_SLICE_US` sets another (100 to 100,000 µs) for any agent, `0` the kernel's default.
 * @module
 */

import type { Logger } from "../log/logger.ts";
import { setThreadSlice, threadSchedAttr } from "../../drivers/linux/thread_slice.ts";
import { envNumber } from "./env_number.ts";

/** The JS thread's slice by default, µs (the least the kernel takes). */
export const DEFAULT_JS_SLICE_US = 100;

/**
 * What is asked for, µs (0: the kernel's default): `WEFT_JS_SLICE_US` (0, or clamped to 100 to
 * 100,000), else {@link DEFAULT_JS_SLICE_US}, or 0 for a mesh leader (`leader`).
 */
export function jsSliceUs(leader = false): number {
  const n = envNumber("WEFT_JS_SLICE_US", leader ? 0 : DEFAULT_JS_SLICE_US, { min: 0 });
  return n === 0 ? 0 : Math.min(100_000, Math.max(100, Math.round(n)));
}

let done = false;

/**
 * Asks for the JS thread's slice once per process (Linux only; the caller must be the JS thread),
 * as {@link jsSliceUs} says; logs what it did at debug.
 */
export function shortenJsSliceOnce(logger: Logger, leader = false): void {
  if (done || Deno.build.os !== "linux") return;
  done = true;
  const us = jsSliceUs(leader);
  if (us === 0 || !ffiGranted()) return;
  try {
    const err = setThreadSlice(us * 1000);
    const now = threadSchedAttr();
    logger.debug("JS thread's slice set", {
      asked: us,
      sliceUs: now === null ? -1 : now.runtimeNs / 1000,
      ...(err ? { errno: err } : {}),
    });
  } catch (e) {
    logger.debug("JS thread's slice not set", { error: String(e) });
  }
}

// An embedder without --allow-ffi gets the kernel's default slice, never a permission prompt.
function ffiGranted(): boolean {
  try {
    return Deno.permissions.querySync({ name: "ffi" }).state === "granted";
  } catch {
    return false;
  }
}
