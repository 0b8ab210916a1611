/**
 * V8's platform workers beside the data path: once per process, an agent on Linux may lower the
 * priority of V8's worker threads (`V8 DefaultWorker`: optimising compiles, the collector's
 * helpers). Other agents' keep the process's priority ({@link DEFAULT_V8_WORKER_NICE}, 0); a mesh
 * leader's get nice {@link LEADER_V8_WORKER_NICE} (below). `WEFT_V8_WORKER_NICE` overrides either
 * (1 to 19: that nice value; 0: leave them alone; `idle`: `SCHED_IDLE`), for measurements.
 *
 * Not `SCHED_IDLE`, the default until 2026-11-28: it kept a compile the JavaScript thread posts as
 * a packet passes from preempting that thread mid-packet (drivers/linux/thread_nice.ts), but the
 * JavaScript thread also waits on the workers, and on a busy machine a `SCHED_IDLE` thread gets a
 * core for a few ms in seconds. Sampled at load 14 to 20 (six to eleven CPU hogs beside the agents
 * on two cores), the JavaScript thread sat blocked on a futex while a worker was runnable for up to
 * 32 s at a time, and the pings of such a stop were answered at once when it ended (p90 0.3 to 2.4
 * s, replies lost past ping's 2 s wait); at nice 10 such stops of up to 0.28 s, a ping up to 0.3 s;
 * left at the process's priority none, its slowest ping 69 ms against wireguard-go's 70
 * (docs/performance.md, "V8's workers under SCHED_IDLE on a busy machine"). On a quieter machine
 * the p90 was level for all three (0.90 to 1.04 ms, two runs): the gain once measured for
 * `SCHED_IDLE` (0.84 to 1.06 ms against 1.30 to 1.55, "Latency: the tail of an idle tunnel") did
 * not show there.
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
 * depend on as its own tunnel's does; at nice 10 the wait above is bounded but there (stops of up
 * to 0.28 s at load 14 to 20).
 * @module
 */

import type { Logger } from "../log/logger.ts";
import { idleOwnThreads, niceOwnThreads } from "../../drivers/linux/thread_nice.ts";
import { envNumber, envText } from "./env_number.ts";

/** What V8's workers get by default: the process's priority (0: left alone; the module doc says why). */
export const DEFAULT_V8_WORKER_NICE: number | "idle" = 0;

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
  if (envText(NICE_ENV) === "idle") return "idle";
  const fallback = leader ? LEADER_V8_WORKER_NICE : DEFAULT_V8_WORKER_NICE;
  return envNumber(NICE_ENV, fallback, { min: 0, max: 19, integer: true });
}

const NICE_ENV = "WEFT_V8_WORKER_NICE";

let done = false;

/**
 * Lowers V8's workers' priority once per process (Linux only) as {@link v8WorkerNice} says: a
 * mesh leader's (`leader`) to nice 10, others' only when asked; logs what it did at debug.
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
