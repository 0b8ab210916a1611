/**
 * Every thread of a process with its CPU ticks and context switches, read from /proc: what the
 * profiling benches (datapath_profile.ts, paths_profile.ts) take before and after a run.
 * @module
 */

/** One thread's name, CPU ticks and context switches. */
export interface ThreadTimes {
  name: string;
  utime: number;
  stime: number;
  /** Times it gave up the CPU to wait (a poll, a lock), and times it was preempted. */
  voluntary: number;
  involuntary: number;
}

/** Every thread of `pid` with its CPU ticks (empty once it is gone). */
export function threadTimes(pid: number): Map<number, ThreadTimes> {
  const out = new Map<number, ThreadTimes>();
  try {
    for (const e of Deno.readDirSync(`/proc/${pid}/task`)) {
      try {
        const s = Deno.readTextFileSync(`/proc/${pid}/task/${e.name}/stat`);
        const close = s.lastIndexOf(")");
        const name = s.slice(s.indexOf("(") + 1, close);
        const f = s.slice(close + 2).split(" ");
        const st = Deno.readTextFileSync(`/proc/${pid}/task/${e.name}/status`);
        out.set(Number(e.name), {
          name,
          utime: Number(f[11]),
          stime: Number(f[12]),
          voluntary: Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(st)?.[1] ?? 0),
          involuntary: Number(/nonvoluntary_ctxt_switches:\s+(\d+)/.exec(st)?.[1] ?? 0),
        });
      } catch { /* gone */ }
    }
  } catch { /* gone */ }
  return out;
}
