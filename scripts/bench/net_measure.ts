/**
 * What the network benchmark measures in a lab, whatever runs the tunnel: iperf3 runs, ping
 * RTTs, the CPU processes and their threads spend (from /proc), peak RSS, and the kernel's and
 * weft's drop counters.
 * @module
 */

import { eventually, type Lab } from "../../tests/fixtures/netns.ts";

/** /proc's clock ticks per second (USER_HZ): 100 on every Linux build Deno runs on. */
const HZ = 100;

/** The middle value (mean of the two middle ones for an even count); NaN for none. */
export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** The nearest-rank percentile `p` (0..100); NaN for none. */
export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length, Math.max(1, Math.ceil((p / 100) * s.length))) - 1];
}

/** utime + stime of a /proc `stat` line, in ticks. */
function statTicks(stat: string): number {
  // The command name may hold spaces and parentheses: fields are counted from the last ")".
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(f[11]) + Number(f[12]);
}

/** CPU ticks a process has used (all its threads). */
export function procTicks(pid: number): number {
  return statTicks(Deno.readTextFileSync(`/proc/${pid}/stat`));
}

/** A thread's name, CPU ticks, and nanoseconds it waited runnable for a CPU. */
interface ThreadSample {
  name: string;
  ticks: number;
  waitNs: number;
}

/** Each thread of a process. */
function threadTicks(pid: number): Map<number, ThreadSample> {
  const out = new Map<number, ThreadSample>();
  for (const e of Deno.readDirSync(`/proc/${pid}/task`)) {
    try {
      const base = `/proc/${pid}/task/${e.name}`;
      const name = Deno.readTextFileSync(`${base}/comm`).trim();
      const ticks = statTicks(Deno.readTextFileSync(`${base}/stat`));
      // schedstat: time on a CPU, time waiting on a run queue (ns), timeslices.
      const waitNs = Number(Deno.readTextFileSync(`${base}/schedstat`).split(" ")[1]) || 0;
      out.set(Number(e.name), { name, ticks, waitNs });
    } catch { /* the thread ended while listed */ }
  }
  return out;
}

/** The peak resident set of a process (VmHWM), KiB. */
export function peakRssKiB(pid: number): number {
  const m = /VmHWM:\s+(\d+)/.exec(Deno.readTextFileSync(`/proc/${pid}/status`));
  return m ? Number(m[1]) : NaN;
}

/** The fields of /proc/stat's `cpu` line: the whole machine's ticks by kind. */
const MACHINE_FIELDS = [
  "user",
  "nice",
  "system",
  "idle",
  "iowait",
  "irq",
  "softirq",
  "steal",
] as const;
type MachineField = typeof MACHINE_FIELDS[number];

function machineTicks(): Record<MachineField, number> {
  const line = Deno.readTextFileSync("/proc/stat").split("\n")[0];
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  return Object.fromEntries(MACHINE_FIELDS.map((k, i) => [k, f[i] ?? 0])) as Record<
    MachineField,
    number
  >;
}

/** Where the CPU went over the measured spans, in percent of one core (top's convention). */
export interface CpuReport {
  /** Seconds measured (the sum of the spans). */
  wallSeconds: number;
  /**
   * Per process: all its threads, and its threads busiest first (one near 100% is a core
   * saturated: the process cannot go faster without spreading its work).
   */
  processes: {
    role: string;
    cpuSeconds: number;
    pct: number;
    /** `waitPct`: time it was runnable but had no CPU (run + wait near 100%: CPU-bound). */
    threads: { name: string; pct: number; waitPct: number }[];
  }[];
  /** The whole machine by kind (user, system, softirq, idle, steal, ...). */
  machinePct: Record<MachineField, number>;
  /** Cores of the machine (its total is 100% × cores). */
  cores: number;
}

/**
 * Adds up the CPU that given processes, each of their threads, and the whole machine spend
 * between `begin()` and `end()`, over any number of such spans (the runs of one measure).
 */
export class CpuMeter {
  readonly #procs: { role: string; pid: number }[];
  readonly #ticks = new Map<string, number>();
  readonly #threads = new Map<string, Map<number, ThreadSample>>();
  readonly #machine = Object.fromEntries(MACHINE_FIELDS.map((k) => [k, 0])) as Record<
    MachineField,
    number
  >;
  #wallMs = 0;
  #start?: {
    at: number;
    procs: Map<string, number>;
    threads: Map<string, Map<number, ThreadSample>>;
    machine: Record<MachineField, number>;
  };

  constructor(procs: { role: string; pid: number }[]) {
    this.#procs = procs;
  }

  /** Starts a span. */
  begin(): void {
    this.#start = {
      at: performance.now(),
      procs: new Map(this.#procs.map((p) => [p.role, procTicks(p.pid)])),
      threads: new Map(this.#procs.map((p) => [p.role, threadTicks(p.pid)])),
      machine: machineTicks(),
    };
  }

  /** Ends the span and adds it to the totals. */
  end(): void {
    const s = this.#start;
    if (!s) throw new Error("end() without begin()");
    this.#start = undefined;
    this.#wallMs += performance.now() - s.at;
    for (const p of this.#procs) {
      this.#ticks.set(
        p.role,
        (this.#ticks.get(p.role) ?? 0) + procTicks(p.pid) - s.procs.get(p.role)!,
      );
      const before = s.threads.get(p.role)!;
      const acc = this.#threads.get(p.role) ?? new Map();
      this.#threads.set(p.role, acc);
      for (const [tid, t] of threadTicks(p.pid)) {
        // A thread born during the span counts from zero.
        const b = before.get(tid);
        const prev = acc.get(tid);
        acc.set(tid, {
          name: t.name,
          ticks: (prev?.ticks ?? 0) + t.ticks - (b?.ticks ?? 0),
          waitNs: (prev?.waitNs ?? 0) + t.waitNs - (b?.waitNs ?? 0),
        });
      }
    }
    const m = machineTicks();
    for (const k of MACHINE_FIELDS) this.#machine[k] += m[k] - s.machine[k];
  }

  /** CPU seconds a process spent over all spans. */
  cpuSeconds(role: string): number {
    return (this.#ticks.get(role) ?? 0) / HZ;
  }

  /** The totals, as percent of one core. */
  report(): CpuReport {
    const wall = this.#wallMs / 1000;
    const pct = (ticks: number) => wall > 0 ? (ticks / HZ / wall) * 100 : NaN;
    return {
      wallSeconds: wall,
      processes: this.#procs.map((p) => {
        const threads = [...this.#threads.get(p.role)?.values() ?? []]
          .filter((t) => t.ticks > 0)
          .sort((x, y) => y.ticks - x.ticks)
          .map((t) => ({ name: t.name, pct: pct(t.ticks), waitPct: pct(t.waitNs / 1e9 * HZ) }));
        const ticks = this.#ticks.get(p.role) ?? 0;
        return { role: p.role, cpuSeconds: ticks / HZ, pct: pct(ticks), threads };
      }),
      machinePct: Object.fromEntries(
        MACHINE_FIELDS.map((k) => [k, pct(this.#machine[k])]),
      ) as Record<MachineField, number>,
      cores: navigator.hardwareConcurrency,
    };
  }
}

/** Ping RTTs, ms. */
export interface PingStats {
  medianMs: number;
  p90Ms: number;
  p99Ms: number;
  replies: number;
}

/** Pings `address` from `host` `count` times every `intervalS` seconds; RTTs of the replies. */
export async function pingStats(
  lab: Lab,
  host: string,
  address: string,
  count: number,
  intervalS: number,
): Promise<PingStats> {
  const r = await lab.exec(
    host,
    "ping",
    "-n",
    "-c",
    String(count),
    "-i",
    String(intervalS),
    "-W",
    "2",
    address,
  );
  const rtts = [...r.stdout.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]));
  return {
    medianMs: median(rtts),
    p90Ms: percentile(rtts, 90),
    p99Ms: percentile(rtts, 99),
    replies: rtts.length,
  };
}

/** What one iperf3 run gives. */
export interface IperfRun {
  /** Received throughput, bit/s. */
  recvBps: number;
  /** Offered (sent) throughput, bit/s. */
  sentBps: number;
  /** Bytes the server received. */
  recvBytes: number;
  /** Datagrams lost, % (UDP). */
  lossPct: number;
  /** TCP segments the sender retransmitted. */
  retransmits: number;
  /** iperf3's own CPU, % of one core: the client (sender) and the server. */
  clientCpuPct: number;
  serverCpuPct: number;
}

/** How to run iperf3. */
export interface IperfOptions {
  seconds: number;
  /** Parallel streams (`-P`). */
  streams?: number;
  /** UDP at this rate (`-u -b`), e.g. "1G"; TCP when absent. */
  udpRate?: string;
  /** UDP datagram size (`-l`). */
  udpLength?: number;
}

/**
 * One iperf3 run from `client` to `server` (at `address`), with a one-off server on a random port:
 * a server left stuck by a failed run can never spoil the next one. `meter` spans the transfer
 * alone, not the server's start.
 */
export async function iperf3(
  lab: Lab,
  server: string,
  client: string,
  address: string,
  opts: IperfOptions,
  meter?: CpuMeter,
): Promise<IperfRun> {
  const port = String(5201 + Math.floor(Math.random() * 500));
  const srv = lab.spawn(server, "iperf3", ["-s", "-1", "-p", port]);
  try {
    await eventually(
      async () => (await lab.exec(server, "ss", "-ltn")).stdout.includes(`:${port}`),
      5000,
      50,
    );
    const args = ["-c", address, "-p", port, "-t", String(opts.seconds), "-J"];
    if (opts.streams) args.push("-P", String(opts.streams));
    if (opts.udpRate) args.push("-u", "-b", opts.udpRate);
    if (opts.udpLength) args.push("-l", String(opts.udpLength));
    meter?.begin();
    const r = await lab.exec(client, "iperf3", ...args);
    meter?.end();
    if (r.code !== 0) throw new Error(`iperf3 ${args.join(" ")} failed: ${r.stdout}${r.stderr}`);
    const end = JSON.parse(r.stdout).end;
    return {
      recvBps: end.sum_received.bits_per_second,
      sentBps: end.sum_sent.bits_per_second,
      recvBytes: end.sum_received.bytes,
      lossPct: end.sum_received.lost_percent ?? 0,
      retransmits: end.sum_sent.retransmits ?? 0,
      clientCpuPct: end.cpu_utilization_percent?.host_total ?? NaN,
      serverCpuPct: end.cpu_utilization_percent?.remote_total ?? NaN,
    };
  } finally {
    await lab.stop(srv.child, 1000);
  }
}

/**
 * Drop counters of one lab host, by name: the tunnel interface's (a full TUN queue shows as
 * `tun tx dropped`: packets the kernel had for the agent that it did not read in time), the
 * namespace's UDP errors (a full socket buffer: `udp RcvbufErrors`), and, for weft, its own
 * `weft_drops_total` from `/metrics` (absent when the status server does not answer).
 */
export async function dropCounters(
  lab: Lab,
  host: string,
  iface: string,
  weftStatus?: string,
): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  const link = await lab.exec(host, "ip", "-s", "-j", "link", "show", "dev", iface);
  if (link.code === 0) {
    const s = JSON.parse(link.stdout)[0]?.stats64;
    if (s) {
      out["tun rx dropped"] = s.rx.dropped;
      out["tun tx dropped"] = s.tx.dropped;
    }
  }
  const snmp = await lab.exec(host, "cat", "/proc/net/snmp");
  const udp = snmp.stdout.split("\n").filter((l) => l.startsWith("Udp:"));
  if (udp.length >= 2) {
    const names = udp[0].split(/\s+/).slice(1);
    const values = udp[1].split(/\s+/).slice(1).map(Number);
    for (const k of ["InErrors", "RcvbufErrors", "SndbufErrors"]) {
      const i = names.indexOf(k);
      if (i >= 0) out[`udp ${k}`] = values[i];
    }
  }
  if (weftStatus) {
    const m = await lab.exec(host, "curl", "-s", "--max-time", "3", `http://${weftStatus}/metrics`);
    for (
      const [, reason, v] of m.stdout.matchAll(/^weft_drops_total\{reason="([^"]+)"\} (\S+)$/gm)
    ) {
      out[`weft ${reason}`] = Number(v);
    }
  }
  return out;
}

/**
 * The tunnel interface's MTU and queue length: a TUN queue (the kernel's, 500 packets by default)
 * that the agent drains too slowly overflows into `tun tx dropped`.
 */
export async function linkSettings(lab: Lab, host: string, iface: string): Promise<string> {
  const r = await lab.exec(host, "ip", "-j", "link", "show", "dev", iface);
  if (r.code !== 0) return "?";
  const l = JSON.parse(r.stdout)[0] ?? {};
  return `mtu ${l.mtu}, txqueuelen ${l.txqlen}`;
}

/** `after - before`, keeping only the counters that moved. */
export function counterDelta(
  before: Record<string, number>,
  after: Record<string, number>,
): Record<string, number> {
  const d: Record<string, number> = {};
  for (const [k, v] of Object.entries(after)) {
    const x = v - (before[k] ?? 0);
    if (x !== 0) d[k] = x;
  }
  return d;
}
