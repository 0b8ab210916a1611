/**
 * The agent's JavaScript thread, which carries the packets, asks Linux's scheduler for a short
 * time slice (drivers/linux/thread_slice.ts says what that does): woken by a packet, it runs
 * ahead of a thread that has run its default slice's worth, instead of waiting up to that slice
 * behind it. Its share of the CPU does not change. `WEFT_JS_SLICE_US` overrides the default (100
 * to 100,000 µs; 0 leaves the kernel's default), for measurements.
 * @module
 */

import type { Logger } from "../log/logger.ts";
import { MAX_SLICE_US, MIN_SLICE_US, setOwnSlice } from "../../drivers/linux/thread_slice.ts";

/** The JavaScript thread's slice by default, µs: the shortest the kernel takes. */
export const DEFAULT_JS_SLICE_US = 100;

/** What is asked for: `WEFT_JS_SLICE_US` (0, or 100 to 100,000) or the default. */
export function jsSliceUs(): number {
  let text: string | undefined;
  try {
    text = Deno.env.get("WEFT_JS_SLICE_US");
  } catch {
    return DEFAULT_JS_SLICE_US; // no --allow-env
  }
  const n = Number(text);
  return text === undefined || text === "" || !Number.isInteger(n) ||
      (n !== 0 && (n < MIN_SLICE_US || n > MAX_SLICE_US))
    ? DEFAULT_JS_SLICE_US
    : n;
}

let done = false;

/** Sets the calling (JavaScript) thread's slice once per process (Linux only); logs at debug. */
export function shortenJsSliceOnce(logger: Logger): void {
  if (done || Deno.build.os !== "linux") return;
  done = true;
  const us = jsSliceUs();
  if (us === 0) return;
  try {
    const r = setOwnSlice(us);
    if (r.set) logger.debug("JS thread's slice set", { us });
    else logger.debug("JS thread's slice not set", { us, reason: String(r.reason) });
  } catch (e) {
    logger.debug("JS thread's slice not set", { us, error: String(e) });
  }
}
