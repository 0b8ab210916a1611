/**
 * V8's platform workers below the data path: once per process, an agent on Linux puts V8's worker
 * threads (`V8 DefaultWorker`: optimising compiles, the collector's helpers) under `SCHED_IDLE`
 * ({@link DEFAULT_V8_WORKER_NICE}): they run only on a core with nothing else to run, and the
 * JavaScript thread, waking for a packet, always preempts them rather than waiting behind a
 * compile it posted (drivers/linux/thread_nice.ts says why). Measured in interleaved rounds
 * (docs/performance.md, "Latency: the tail of an idle tunnel"), two runs: the ping p90 0.84 to
 * 1.06 ms against 1.30 to 1.55 with the workers left alone (and 1.32 to 1.41 at nice 10). `WEFT_V8_WORKER_NICE` overrides it (1 to
 * 19: that nice value; 0: leave them alone), for measurements.
 *
 * A mesh leader's get nice {@link LEADER_V8_WORKER_NICE} instead: those threads also mark, sweep
 * and give back the pages of V8's old generation, and a leader of thousands makes garbage at every
 * change (a new view each batch of joins). Under `SCHED_IDLE` on a busy machine (the leader's own
 * JS thread and API worker, the members beside it) they rarely ran: a collection finished late, so
 * the old generation grew further first, and the pages it freed stayed resident. A leader of
 * 10,000 members in churn held some 200 MiB of RSS that was neither its heap nor malloc's
 * (`scripts/bench/fleet.ts --members 10000`: peak RSS 969 to 1,219 MiB in interleaved runs). At
 * nice 10 it peaked at 764 to 873 MiB, at their own priority (0) at 733 to 802 but with the joins
 * slower and more CPU a join, the workers taking their share of the cores from the JS thread; at
 * nice 10 the JS thread still gets most of a contended core (docs/performance.md, "The leader's
 * memory in churn"). A leader's data path is its relay's, which a member's ping tail does not
 * depend on as its own tunnel's does.
 * @module
 */

import type { Logger } from "../log/logger.ts";
import { idleOwnThreads, niceOwnThreads } from "../../drivers/linux/thread_nice.ts";

/** What V8's workers get by default: `SCHED_IDLE` (the JS thread keeps the process's priority). */
export const DEFAULT_V8_WORKER_NICE: number | "idle" = "idle";

/** What a mesh leader's V8 workers get by default: nice 10 (the module doc says why). */
export const LEADER_V8_WORKER_NICE: number | "idle" = 10;

/** Whether a thread name is one of V8's platform workers (`comm` cuts names at 15 characters). */
export function isV8Worker(name: string): boolean {
  return name.startsWith("V8 DefaultWork");
}

/**
 * What is asked for: `WEFT_V8_WORKER_NICE` (a nice value 0 to 19, or `idle`) or the default, a
 * mesh leader's (`leader`) or any other agent's.
 */
export function v8WorkerNice(leader = false): number | "idle" {
  const fallback = leader ? LEADER_V8_WORKER_NICE : DEFAULT_V8_WORKER_NICE;
  let text: string | undefined;
  try {
    text = Deno.env.get("WEFT_V8_WORKER_NICE");
  } catch {
    return fallback; // no --allow-env
  }
  if (text === "idle") return "idle";
  const n = Number(text);
  return text === undefined || text === "" || !Number.isInteger(n) || n < 0 || n > 19
    ? fallback
    : n;
}

let done = false;

/**
 * Lowers V8's workers' priority once per process (Linux only), unless the agent is a mesh
 * leader's (`leader`, see the module doc); logs what it did at debug.
 */
export function lowerV8WorkersOnce(logger: Logger, leader = false): void {
  if (done || Deno.build.os !== "linux") return;
  done = true;
  const nice = v8WorkerNice(leader);
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
