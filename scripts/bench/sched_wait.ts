/**
 * Where a ping's round trip waited for a CPU: reads the scheduler's events (`perf record -e
 * sched:sched_switch -e sched:sched_wakeup`, printed by `perf script`) and, for each ping of
 * `scripts/bench/latency.ts --sched`, sums over the agents' threads of its tunnel the time they
 * were runnable but not running (woken and not yet on a CPU, or preempted), the time they ran, how
 * many of their wake-ups fell in the ping, and which task held the CPU the longest wait ended on.
 *
 * A ping is the span from the `ping` process's last run before the reply woke it (it sent the
 * request then) to that wake-up, which an agent's thread makes when it writes the reply to the TUN:
 * the waker names the tunnel. Figures, never assertions.
 * @module
 */

/** One ping's span and what its tunnel's agents did in it (times in ms). */
export interface PingSched {
  /** The tunnel (its agents' pids given to {@link analyzeSched}). */
  tunnel: string;
  /** From the request's send to the reply's wake-up. */
  spanMs: number;
  /** The agents' threads runnable but not on a CPU, summed. */
  waitMs: number;
  /** The longest single such wait inside the span. */
  longestWaitMs: number;
  /**
   * What ran on the CPU the longest wait ended on, just before (`comm`; `own ` before it when it
   * is a thread of the tunnel's agents).
   */
  heldBy: string;
  /** Whether the longest wait began with a wake-up (`wake`) or a preemption (`preempt`). */
  longestKind: "wake" | "preempt" | "";
  /** The agents' threads on a CPU, summed. */
  runMs: number;
  /** Wake-ups of the agents' threads in the span. */
  wakeups: number;
  /** The agents' threads that ran in the span, by name. */
  threads: string[];
}

const LINE =
  /^\s*(.+?)\s+(\d+)\/(\d+)\s+\[(\d+)\]\s+([\d.]+):\s+sched:(sched_switch|sched_wakeup|sched_wakeup_new):\s+(.*)$/;
const SWITCH =
  /^prev_comm=(.*?) prev_pid=(\d+) prev_prio=\d+ prev_state=(\S+) ==> next_comm=(.*?) next_pid=(\d+) next_prio=\d+/;
const WAKEUP = /^comm=(.*?) pid=(\d+) prio=\d+/;

interface Wait {
  from: number;
  to: number;
  kind: "wake" | "preempt";
  heldBy: string;
}

/**
 * A wake-up of `ping` further than this (ms) from its last run is its interval's timer firing
 * while an agent's thread was on the CPU, not a reply.
 */
export const MAX_SPAN_MS = 40;

interface ThreadLog {
  pid: number;
  comm: string;
  waits: Wait[];
  runs: [number, number][];
  wakes: number[];
}

/**
 * Reads `perf script -F comm,pid,tid,cpu,time,event,trace` lines; `tunnels` maps a name to its
 * agents' pids (`tids` maps each of their threads to its pid when the events alone do not tell).
 */
export async function analyzeSched(
  lines: Iterable<string> | AsyncIterable<string>,
  tunnels: { name: string; pids: number[] }[],
  tids: Map<number, number> = new Map(),
): Promise<PingSched[]> {
  const tunnelOf = new Map<number, string>();
  for (const t of tunnels) for (const p of t.pids) tunnelOf.set(p, t.name);
  const pidOf = new Map(tids);
  const logs = new Map<number, ThreadLog>();
  const log = (tid: number, comm: string): ThreadLog | null => {
    const pid = pidOf.get(tid);
    if (pid === undefined || !tunnelOf.has(pid)) return null;
    let l = logs.get(tid);
    if (!l) logs.set(tid, l = { pid, comm, waits: [], runs: [], wakes: [] });
    return l;
  };
  const runnable = new Map<number, { at: number; kind: "wake" | "preempt" }>();
  const runningSince = new Map<number, number>();
  const pingRunStart = new Map<number, number>();
  const pingLastRun = new Map<number, number>();
  const pings: { tunnel: string; from: number; to: number }[] = [];
  for await (const line of lines) {
    const m = LINE.exec(line);
    if (!m) continue;
    const pid = Number(m[2]);
    const tid = Number(m[3]);
    const t = Number(m[5]) * 1000;
    if (!pidOf.has(tid)) pidOf.set(tid, pid);
    if (m[6] === "sched_switch") {
      const s = SWITCH.exec(m[7]);
      if (!s) continue;
      const prev = Number(s[2]);
      const next = Number(s[5]);
      const prevLog = log(prev, s[1]);
      if (prevLog) {
        const since = runningSince.get(prev);
        if (since !== undefined) prevLog.runs.push([since, t]);
        if (s[3].startsWith("R")) runnable.set(prev, { at: t, kind: "preempt" });
      }
      runningSince.delete(prev);
      if (s[1] === "ping" && pingRunStart.has(prev)) pingLastRun.set(prev, pingRunStart.get(prev)!);
      const nextLog = log(next, s[4]);
      if (nextLog) {
        const r = runnable.get(next);
        if (r) {
          const own = tunnelOf.get(pidOf.get(prev) ?? -1) === tunnelOf.get(nextLog.pid);
          nextLog.waits.push({
            from: r.at,
            to: t,
            kind: r.kind,
            heldBy: (own ? "own " : "") + s[1],
          });
        }
        runningSince.set(next, t);
      }
      runnable.delete(next);
      if (s[4] === "ping") pingRunStart.set(next, t);
    } else {
      const w = WAKEUP.exec(m[7]);
      if (!w) continue;
      const target = Number(w[2]);
      const l = log(target, w[1]);
      if (l) {
        l.wakes.push(t);
        if (!runnable.has(target)) runnable.set(target, { at: t, kind: "wake" });
      }
      // The reply: an agent's thread woke `ping`.
      const tunnel = tunnelOf.get(pid);
      const sent = pingLastRun.get(target);
      if (
        w[1] === "ping" && tunnel !== undefined && sent !== undefined && t - sent < MAX_SPAN_MS
      ) {
        pings.push({ tunnel, from: sent, to: t });
        pingLastRun.delete(target);
      }
    }
  }
  const byTunnel = new Map<string, ThreadLog[]>();
  for (const l of logs.values()) {
    const name = tunnelOf.get(l.pid)!;
    byTunnel.set(name, [...(byTunnel.get(name) ?? []), l]);
  }
  const overlap = (a: number, b: number, from: number, to: number) =>
    Math.max(0, Math.min(b, to) - Math.max(a, from));
  return pings.map((p) => {
    let waitMs = 0;
    let runMs = 0;
    let wakeups = 0;
    let longest: Wait | null = null;
    let longestMs = 0;
    const threads = new Set<string>();
    for (const l of byTunnel.get(p.tunnel) ?? []) {
      for (const w of l.waits) {
        const o = overlap(w.from, w.to, p.from, p.to);
        waitMs += o;
        if (o > longestMs) [longestMs, longest] = [o, w];
      }
      for (const [a, b] of l.runs) {
        const o = overlap(a, b, p.from, p.to);
        if (o > 0) threads.add(l.comm);
        runMs += o;
      }
      for (const w of l.wakes) if (w >= p.from && w <= p.to) wakeups++;
    }
    return {
      tunnel: p.tunnel,
      spanMs: p.to - p.from,
      waitMs,
      longestWaitMs: longestMs,
      heldBy: longest?.heldBy ?? "",
      longestKind: longest?.kind ?? "",
      runMs,
      wakeups,
      threads: [...threads].sort(),
    };
  });
}
