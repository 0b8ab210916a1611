/**
 * A thread's time slice under Linux's fair scheduler (EEVDF, Linux 6.12 and later): a thread that
 * asks for a shorter slice than the default gets an earlier virtual deadline each time it wakes,
 * so its wake-up preempts a thread of the default slice that holds the core, instead of waiting
 * for that thread's slice or the next tick. Its share of the CPU does not change (that is its
 * weight, the nice value): only how soon it runs once it wakes.
 *
 * Why weft asks for it: an agent's JavaScript thread carries every packet, sleeps between them
 * and wakes for each; on a busy core (V8's workers compiling the code a fresh tunnel's first
 * packets asked for, another process) a woken thread of the default slice waited for the holder's
 * slice to end, up to a 4 ms tick on a kernel without preemption (lib/agent/js_slice.ts says what
 * was measured). The slice is `sched_attr.sched_runtime` of sched_setattr(2), between
 * {@link MIN_SLICE_NS} and {@link MAX_SLICE_NS}; older kernels ignore it for fair threads (no
 * error), and asking for it needs no privilege.
 * @module
 */

import { errno, libc } from "./libc.ts";

/** The shortest slice the kernel takes (0.1 ms). */
export const MIN_SLICE_NS = 100_000;
/** The longest slice the kernel takes (100 ms). */
export const MAX_SLICE_NS = 100_000_000;

/** sched_attr's size as first published (SCHED_ATTR_SIZE_VER0 plus the two util fields). */
const ATTR_SIZE = 56;

/** sched_setattr(2) and sched_getattr(2) by architecture (glibc wraps neither). */
const NR: Record<string, { set: number; get: number }> = {
  x86_64: { set: 314, get: 315 },
  aarch64: { set: 274, get: 275 },
};

function numbers(): { set: number; get: number } {
  const nr = NR[Deno.build.arch];
  if (!nr) throw new Error(`sched_setattr: no syscall number for ${Deno.build.arch}`);
  return nr;
}

/** A thread's scheduling attributes as sched_getattr(2) gives them (`tid` 0: the caller). */
export interface SchedAttr {
  /** The policy (0: the normal, fair one). */
  policy: number;
  /** The nice value. */
  nice: number;
  /** For a fair thread: its slice, ns (the kernel's default when none was asked for). */
  runtimeNs: number;
}

/**
 * sched_getattr(2) of a thread (0: the calling thread), or null when it fails; throws off Linux
 * and on an architecture without its syscall number.
 */
export function threadSchedAttr(tid = 0): SchedAttr | null {
  const buf = new Uint8Array(ATTR_SIZE);
  if (libc().syscall_tid_buf(numbers().get, tid, buf, ATTR_SIZE, 0) !== 0) return null;
  const v = new DataView(buf.buffer);
  return {
    policy: v.getUint32(4, true),
    nice: v.getInt32(16, true),
    runtimeNs: Number(v.getBigUint64(24, true)),
  };
}

/**
 * Asks the fair scheduler for a slice of `ns` (clamped to {@link MIN_SLICE_NS} to
 * {@link MAX_SLICE_NS}) for a thread (0: the calling thread; threads it starts later inherit it),
 * keeping its policy and nice value. Returns 0, or the errno of the failed call. A thread under
 * another policy than the normal one is left alone (EINVAL).
 */
export function setThreadSlice(ns: number, tid = 0): number {
  const now = threadSchedAttr(tid);
  if (now === null) return errno();
  if (now.policy !== 0) return 22;
  const slice = Math.round(Math.min(MAX_SLICE_NS, Math.max(MIN_SLICE_NS, ns)));
  const buf = new Uint8Array(ATTR_SIZE);
  const v = new DataView(buf.buffer);
  v.setUint32(0, ATTR_SIZE, true);
  v.setUint32(4, 0, true); // SCHED_OTHER
  v.setInt32(16, now.nice, true);
  v.setBigUint64(24, BigInt(slice), true);
  return libc().syscall_tid_buf(numbers().set, tid, buf, 0, 0) === 0 ? 0 : errno();
}
