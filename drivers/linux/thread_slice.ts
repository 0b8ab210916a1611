/**
 * The calling thread's time slice under Linux's fair scheduler (EEVDF, Linux 6.6 and later):
 * sched_setattr(2) with `sched_runtime` asks for a custom slice, 0.1 to 100 ms, in place of the
 * default (`base_slice_ns`, 0.75 ms times 1 + log2 of the CPUs: 1.4 ms on 2 cores).
 *
 * Why: EEVDF gives a waking thread a virtual deadline one slice after its eligible time, and since
 * Linux 6.12 a thread that wakes with a shorter slice than the running one preempts it when its
 * deadline comes first. The agent's JavaScript thread wakes for each packet and runs a few tens of
 * µs; with the default slice it waited behind whatever held the core (another agent's JS thread,
 * another program) for up to that one's slice, which made weft's idle ping tail
 * (docs/performance.md, "Latency: the tail of an idle tunnel"). A short slice does not change the
 * thread's share of the CPU (its weight, the nice value), only how soon it runs once runnable: a
 * thread running past its short slice is the one preempted sooner. No privilege is needed (the
 * kernel does not restrict a fair thread's slice), and on a kernel without custom slices the call
 * is accepted and changes nothing, or fails and is reported.
 * @module
 */

import { errno, libc } from "./libc.ts";

/** sched_setattr(2) and sched_getattr(2) by architecture (glibc wraps neither). */
const SYSCALLS: Record<string, { set: number; get: number }> = {
  x86_64: { set: 314, get: 315 },
  aarch64: { set: 274, get: 275 },
};

/** `struct sched_attr` as of Linux 3.14 (SCHED_ATTR_SIZE_VER0): what both calls need. */
const ATTR_SIZE = 48;
/** The fair policies: SCHED_OTHER and SCHED_BATCH; the others have no such slice. */
const FAIR = new Set([0, 3]);

/** The slice asked for by the kernel's limits: 0.1 to 100 ms. */
export const MIN_SLICE_US = 100;
/** The longest custom slice the kernel takes, µs. */
export const MAX_SLICE_US = 100_000;

/** What {@link setOwnSlice} found and did. */
export interface SliceResult {
  /** Whether the slice was set. */
  set: boolean;
  /** Why not, when it was not: `policy` (not a fair policy), `arch`, or errno's number. */
  reason?: "policy" | "arch" | number;
}

/**
 * Gives the calling thread a custom slice of `us` µs (0: the kernel's default again), keeping its
 * policy and nice value. Throws a RangeError for a slice outside 0 or 100 to 100,000 µs.
 */
export function setOwnSlice(us: number): SliceResult {
  if (!Number.isInteger(us) || (us !== 0 && (us < MIN_SLICE_US || us > MAX_SLICE_US))) {
    throw new RangeError(`a slice is 0 or ${MIN_SLICE_US} to ${MAX_SLICE_US} µs, got ${us}`);
  }
  const nr = SYSCALLS[Deno.build.arch];
  if (nr === undefined) return { set: false, reason: "arch" };
  const attr = new Uint8Array(ATTR_SIZE);
  const v = new DataView(attr.buffer);
  const c = libc();
  // Thread id 0: the caller.
  if (c.syscall_attr(nr.get, 0, attr, ATTR_SIZE, 0) !== 0) return { set: false, reason: errno() };
  if (!FAIR.has(v.getUint32(4, true))) return { set: false, reason: "policy" };
  // Policy, nice value and priority as read; sched_flags 0 so the parameters are applied (with
  // SCHED_FLAG_KEEP_PARAMS the slice would be ignored); sched_runtime is the slice, in ns.
  v.setUint32(0, ATTR_SIZE, true);
  v.setBigUint64(8, 0n, true);
  v.setBigUint64(24, BigInt(us) * 1000n, true);
  v.setBigUint64(32, 0n, true);
  v.setBigUint64(40, 0n, true);
  if (c.syscall_attr(nr.set, 0, attr, 0, 0) !== 0) return { set: false, reason: errno() };
  return { set: true };
}

/** A thread's slice in µs (`se.slice` of its /proc sched file; `self`: the caller), or null. */
export function threadSliceUs(tid: number | "self"): number | null {
  const path = tid === "self" ? "/proc/thread-self/sched" : `/proc/self/task/${tid}/sched`;
  try {
    const m = /^se\.slice\s*:\s*(\d+)/m.exec(Deno.readTextFileSync(path));
    return m ? Number(m[1]) / 1000 : null;
  } catch {
    return null;
  }
}
