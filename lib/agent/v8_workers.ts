/**
 * V8's platform workers below the data path: once per process, an agent on Linux raises the nice
 * value of V8's worker threads (`V8 DefaultWorker`: optimising compiles, the collector's helpers)
 * to {@link DEFAULT_V8_WORKER_NICE}, so a job the JavaScript thread posts as a packet passes no
 * longer preempts that thread mid-packet (drivers/linux/thread_nice.ts says why, with the
 * measurement). `WEFT_V8_WORKER_NICE` overrides it (0: leave them alone; `idle`: `SCHED_IDLE`,
 * so they run only on an otherwise idle core and a waking JS thread always preempts them), for
 * measurements.
 * @module
 */

import type { Logger } from "../log/logger.ts";
import { idleOwnThreads, niceOwnThreads } from "../../drivers/linux/thread_nice.ts";

/** The nice value given to V8's workers (the JS thread keeps the process's, usually 0). */
export const DEFAULT_V8_WORKER_NICE = 10;

/** Whether a thread name is one of V8's platform workers (`comm` cuts names at 15 characters). */
export function isV8Worker(name: string): boolean {
  return name.startsWith("V8 DefaultWork");
}

/** The nice value asked for: `WEFT_V8_WORKER_NICE` (0 to 19, or `idle`) or the default. */
export function v8WorkerNice(): number | "idle" {
  let text: string | undefined;
  try {
    text = Deno.env.get("WEFT_V8_WORKER_NICE");
  } catch {
    return DEFAULT_V8_WORKER_NICE; // no --allow-env
  }
  if (text === "idle") return "idle";
  const n = Number(text);
  return text === undefined || text === "" || !Number.isInteger(n) || n < 0 || n > 19
    ? DEFAULT_V8_WORKER_NICE
    : n;
}

let done = false;

/** Lowers V8's workers' priority once per process (Linux only); logs what it did at debug. */
export function lowerV8WorkersOnce(logger: Logger): void {
  if (done || Deno.build.os !== "linux") return;
  done = true;
  const nice = v8WorkerNice();
  if (nice === 0) return;
  try {
    const r = nice === "idle" ? idleOwnThreads(isV8Worker) : niceOwnThreads(isV8Worker, nice);
    logger.debug("V8 workers' priority lowered", {
      nice,
      threads: r.niced.length,
      ...(r.failed.length ? { failed: r.failed.map((f) => `${f.tid}:${f.errno}`).join(" ") } : {}),
    });
  } catch (e) {
    logger.debug("V8 workers' priority not lowered", { error: String(e) });
  }
}
