/**
 * Lowers the scheduling priority (a higher nice value, or `SCHED_IDLE`) of this process's own
 * threads by name: an agent may give V8's platform workers (`V8 DefaultWorker`, which compile
 * optimised code and help the collector) a lower priority than its JavaScript thread, which
 * carries the packets (lib/agent/v8_workers.ts: a mesh leader's at nice 10, others' only when
 * asked; under `SCHED_IDLE` on a busy machine the JS thread waited seconds for them).
 *
 * Why it was the default for every agent until 2026-11-28 (now a leader's, and any agent's when
 * asked): on a busy machine a worker the JS thread wakes (a function to optimise, posted as a packet
 * passes) preempted that same JS thread mid-packet and held the core for 0.2 to 1.7 ms, the time one
 * TurboFan job takes: `perf sched` of idle pings (scripts/bench/latency.ts `--sched`) found the
 * agents' own workers on the CPU in a quarter of the pings and behind most of the slowest tenth
 * (docs/performance.md, "Latency: the tail of an idle tunnel"). At a higher nice value the kernel
 * runs them when a core is free, or for a small share beside the JS thread, and they no longer
 * preempt it on waking. Only the process's own threads change, and only downwards: no privilege
 * is needed, nothing of the machine's changes.
 * @module
 */

import { errno, libc } from "./libc.ts";

/** setpriority(2): `who` is a process, or on Linux a thread id. */
const PRIO_PROCESS = 0;

/** What {@link niceOwnThreads} did. */
export interface NicedThreads {
  /** Thread ids set to the nice value (or found there already). */
  niced: number[];
  /** Threads whose priority could not be set, with errno. */
  failed: { tid: number; errno: number }[];
}

/** This process's threads: id and name (`comm`, at most 15 characters). */
export function ownThreads(): { tid: number; name: string }[] {
  const out: { tid: number; name: string }[] = [];
  for (const e of Deno.readDirSync("/proc/self/task")) {
    try {
      const name = Deno.readTextFileSync(`/proc/self/task/${e.name}/comm`).trim();
      out.push({ tid: Number(e.name), name });
    } catch { /* the thread ended while listed */ }
  }
  return out;
}

/** Field `n` (from 1, as proc(5) counts) of a thread's /proc stat line, or null. */
function statField(tid: number, n: number): number | null {
  try {
    // The fields after the name in parentheses (which may hold spaces) start at the 3rd.
    const stat = Deno.readTextFileSync(`/proc/self/task/${tid}/stat`);
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[n - 3]);
  } catch {
    return null;
  }
}

/** A thread's nice value, or null when it cannot be read. */
export function threadNice(tid: number): number | null {
  return statField(tid, 19);
}

/** sched(7): the policy that runs a thread only when nothing else wants the core. */
export const SCHED_IDLE = 5;

/** A thread's scheduling policy (0: the normal one, {@link SCHED_IDLE}...), or null. */
export function threadPolicy(tid: number): number | null {
  return statField(tid, 41);
}

/**
 * Puts every thread of this process whose name `match`es under `SCHED_IDLE`: it runs only when a
 * core has nothing else to run, and any normal thread that wakes preempts it at once. Lowering a
 * thread's own policy needs no privilege.
 */
export function idleOwnThreads(match: (name: string) => boolean): NicedThreads {
  const out: NicedThreads = { niced: [], failed: [] };
  const param = new Uint8Array(4); // sched_priority 0
  for (const { tid, name } of ownThreads()) {
    if (!match(name)) continue;
    if (libc().sched_setscheduler(tid, SCHED_IDLE, param) === 0) out.niced.push(tid);
    else out.failed.push({ tid, errno: errno() });
  }
  return out;
}

/**
 * Sets the nice value of every thread of this process whose name `match`es to `nice` (1 to 19),
 * unless it is there or lower in priority already: a thread is never raised.
 */
export function niceOwnThreads(match: (name: string) => boolean, nice: number): NicedThreads {
  if (!Number.isInteger(nice) || nice < 1 || nice > 19) {
    throw new RangeError(`a nice value is 1 to 19, got ${nice}`);
  }
  const out: NicedThreads = { niced: [], failed: [] };
  for (const { tid, name } of ownThreads()) {
    if (!match(name)) continue;
    const now = threadNice(tid);
    if (now !== null && now >= nice) {
      out.niced.push(tid);
      continue;
    }
    if (libc().setpriority(PRIO_PROCESS, tid, nice) === 0) out.niced.push(tid);
    else out.failed.push({ tid, errno: errno() });
  }
  return out;
}
