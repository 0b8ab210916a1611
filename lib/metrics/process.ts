/**
 * The process's own figures, as Prometheus client libraries export them (`process_*`): resident
 * and virtual memory, CPU time, open and allowed file descriptors, start time; and the runtime's
 * heap (V8's used and total heap, memory outside it that V8 accounts for — ArrayBuffers' backing
 * stores among it — and V8's own malloc'd memory). Read from `/proc/self` on Linux at scrape time;
 * elsewhere the `/proc` figures are null and only the heap is known.
 * @module
 */

import { getHeapStatistics } from "node:v8";
import { type Collector, counter, gauge } from "./registry.ts";

/** A process's figures at one moment. */
export interface ProcessFigures {
  /** Resident set size in bytes. */
  residentBytes: number;
  /** Virtual memory size in bytes (null where `/proc` is not there). */
  virtualBytes: number | null;
  /** User and system CPU time in seconds (null where `/proc` is not there). */
  cpuSeconds: { user: number; system: number } | null;
  /** Open file descriptors (null where `/proc` is not there). */
  openFds: number | null;
  /** The soft limit of open file descriptors (null where unknown or unlimited). */
  maxFds: number | null;
  /** Start time, Unix seconds (null where `/proc` is not there). */
  startTimeSeconds: number | null;
  /** The runtime's heap. */
  heap: HeapFigures;
}

/** The JavaScript heap's figures in bytes. */
export interface HeapFigures {
  /** Bytes of live and not yet collected objects. */
  used: number;
  /** Bytes V8 has reserved for the heap. */
  total: number;
  /** Memory held by objects outside the heap that V8 accounts for (ArrayBuffers among it). */
  external: number;
  /** Memory V8 itself allocated with malloc (its own tables, not objects). */
  malloced: number;
}

// Linux reports CPU times and the start time in USER_HZ ticks, which the kernel fixes at 100 for
// user space on every architecture weft runs on (the procfs readers of client libraries assume it).
const USER_HZ = 100;
const PAGE_SIZE = 4096;

/**
 * The fields of `/proc/<pid>/stat` after the command (which may hold spaces and parentheses):
 * element 0 is field 3 (state).
 */
function statFields(text: string): string[] | null {
  const close = text.lastIndexOf(")");
  if (close < 0) return null;
  return text.slice(close + 2).trim().split(" ");
}

/**
 * Parses `/proc/self/stat` and `/proc/stat`'s boot time into CPU seconds, virtual and resident
 * bytes, and the start time; null when the text is not what Linux writes.
 */
export function parseProcStat(
  stat: string,
  bootTimeSeconds: number,
): {
  cpuSeconds: { user: number; system: number };
  virtualBytes: number;
  residentBytes: number;
  startTimeSeconds: number;
} | null {
  const f = statFields(stat);
  // Fields 14 (utime), 15 (stime), 22 (starttime), 23 (vsize), 24 (rss pages): index = field - 3.
  if (!f || f.length < 22) return null;
  const n = (field: number) => Number(f[field - 3]);
  const [utime, stime, start, vsize, rss] = [n(14), n(15), n(22), n(23), n(24)];
  if (![utime, stime, start, vsize, rss].every(Number.isFinite)) return null;
  return {
    cpuSeconds: { user: utime / USER_HZ, system: stime / USER_HZ },
    virtualBytes: vsize,
    residentBytes: rss * PAGE_SIZE,
    startTimeSeconds: bootTimeSeconds + start / USER_HZ,
  };
}

/** The boot time (`btime`, Unix seconds) in `/proc/stat`'s text, or null. */
export function parseBootTime(procStat: string): number | null {
  const m = /^btime (\d+)$/m.exec(procStat);
  return m ? Number(m[1]) : null;
}

/** The soft limit of "Max open files" in `/proc/self/limits`' text; null when unlimited or absent. */
export function parseMaxFds(limits: string): number | null {
  const m = /^Max open files\s+(\S+)/m.exec(limits);
  if (!m || m[1] === "unlimited") return null;
  const v = Number(m[1]);
  return Number.isFinite(v) ? v : null;
}

function readText(path: string): string | null {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return null;
  }
}

function countFds(): number | null {
  try {
    let n = 0;
    for (const _ of Deno.readDirSync("/proc/self/fd")) n++;
    // The directory's own descriptor, open while it is read, is not one of the process's.
    return n - 1;
  } catch {
    return null;
  }
}

/** The runtime's heap now. */
export function heapFigures(): HeapFigures {
  const h = getHeapStatistics();
  return {
    used: h.used_heap_size,
    total: h.total_heap_size,
    external: h.external_memory,
    malloced: h.malloced_memory,
  };
}

let bootTime: number | null | undefined;

/**
 * This process's figures now: `/proc/self` where it is there, else the runtime's own figures.
 *
 * @example
 * ```ts run
 * import { readProcessFigures } from "@weft/weft/metrics";
 *
 * const p = readProcessFigures();
 * console.log(p.residentBytes > 0, p.heap.used > 0); // prints: true true
 * ```
 */
export function readProcessFigures(): ProcessFigures {
  const stat = readText("/proc/self/stat");
  // The boot time does not change: /proc/stat (a line per CPU and more) is read once.
  const boot = bootTime ??= parseBootTime(readText("/proc/stat") ?? "");
  const parsed = stat !== null && boot !== null ? parseProcStat(stat, boot) : null;
  const limits = readText("/proc/self/limits");
  return {
    residentBytes: parsed?.residentBytes ?? Deno.memoryUsage().rss,
    virtualBytes: parsed?.virtualBytes ?? null,
    cpuSeconds: parsed?.cpuSeconds ?? null,
    openFds: parsed ? countFds() : null,
    maxFds: limits === null ? null : parseMaxFds(limits),
    startTimeSeconds: parsed?.startTimeSeconds ?? null,
    heap: heapFigures(),
  };
}

const RESIDENT = gauge("process_resident_memory_bytes", "Resident memory size in bytes.");
const VIRTUAL = gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.");
const CPU = counter("process_cpu_seconds_total", "Total user and system CPU time in seconds.");
const OPEN_FDS = gauge("process_open_fds", "Number of open file descriptors.");
const MAX_FDS = gauge("process_max_fds", "Maximum number of open file descriptors.");
const START = gauge(
  "process_start_time_seconds",
  "Start time of the process since the Unix epoch in seconds.",
);
const HEAP_USED = gauge("weft_heap_used_bytes", "The JavaScript heap's used bytes (V8).");
const HEAP_TOTAL = gauge("weft_heap_total_bytes", "The JavaScript heap's reserved bytes (V8).");
const HEAP_EXTERNAL = gauge(
  "weft_heap_external_bytes",
  "Memory outside the JavaScript heap that V8 accounts for: ArrayBuffers' backing stores among it.",
);
const HEAP_MALLOCED = gauge("weft_heap_malloced_bytes", "Memory V8 itself allocated with malloc.");

/** The process and heap families, read at each scrape (`read` is for tests). */
export function processCollector(read: () => ProcessFigures = readProcessFigures): Collector {
  return (out) => {
    const p = read();
    out.sample(RESIDENT, {}, p.residentBytes);
    if (p.virtualBytes !== null) out.sample(VIRTUAL, {}, p.virtualBytes);
    if (p.cpuSeconds) out.sample(CPU, {}, p.cpuSeconds.user + p.cpuSeconds.system);
    if (p.openFds !== null) out.sample(OPEN_FDS, {}, p.openFds);
    if (p.maxFds !== null) out.sample(MAX_FDS, {}, p.maxFds);
    if (p.startTimeSeconds !== null) out.sample(START, {}, p.startTimeSeconds);
    out.sample(HEAP_USED, {}, p.heap.used);
    out.sample(HEAP_TOTAL, {}, p.heap.total);
    out.sample(HEAP_EXTERNAL, {}, p.heap.external);
    out.sample(HEAP_MALLOCED, {}, p.heap.malloced);
  };
}
