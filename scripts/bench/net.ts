/**
 * The network lab benchmark (root): for each implementation — weft (TUN mode), the Debian
 * `wireguard-go` on PATH, and every other wireguard-go build in `WG_GO` (colon-separated paths;
 * by default the offloading build in `../shared/tools/`, when it is there) — a tunnel between two
 * namespaces with that implementation on both ends, and through it: iperf3 TCP with 1 and 4
 * streams, iperf3 UDP offered at 1 and 3 Gbit/s (received rate and loss), ping RTT on the idle
 * tunnel (median and p99), the agents' CPU-seconds per GB in the TCP 1-stream runs, and their peak
 * RSS. Prints one table of figures, the ratios of weft to each wireguard-go, and what the CPU did
 * and which counters moved during the TCP 1-stream runs (the hints for the optimisation work).
 * Figures, never assertions: absolute values vary between machines and runs; compare within one.
 *
 * `BENCH_SECONDS` (default 5) per iperf3 run, `BENCH_RUNS` (default 3) runs per measure, the
 * median reported. `BENCH_ROUNDS=N` (default 1) measures the builds in N interleaved rounds (weft,
 * then each wireguard-go, then again; one run per measure each unless `BENCH_RUNS` says more), a
 * fresh tunnel each time, and reports each measure's median over the rounds: on a shared machine
 * the load moves within minutes, and a build measured minutes after another is not comparable
 * with it (the diagnostics are then the last round's). `deno run -A scripts/bench/net.ts [weft up flags...]` runs this bench alone.
 * @module
 */

import { canBuildLabs, destroyLabsOnSignal, haveCommands } from "../../tests/fixtures/netns.ts";
import { type Build, findBuilds, LAB_MTU, type Tunnel, withTunnel } from "./net_lab.ts";
import {
  counterDelta,
  CpuMeter,
  type CpuReport,
  dropCounters,
  iperf3,
  type IperfRun,
  linkSettings,
  median,
  peakRssKiB,
  pingStats,
} from "./net_measure.ts";
import { loadAverage } from "./round_ratios.ts";

/** The status server `weft up` starts in each namespace (its default address). */
const WEFT_STATUS = "127.0.0.1:51880";
/** UDP payload that fills the tunnel's MTU: MTU − IPv4 header (20) − UDP header (8). */
const UDP_LENGTH = LAB_MTU - 28;

/** Which way a measure is better, for reading its ratio. */
type Better = "higher" | "lower";

/** The measures of the figures table, in order: key, label, which way is better. */
export const MEASURES = [
  ["tcp1", "TCP 1 stream, Mbit/s", "higher"],
  ["tcp4", "TCP 4 streams, Mbit/s", "higher"],
  ["udp1g", "UDP at 1G: received Mbit/s", "higher"],
  ["udp1gLoss", "UDP at 1G: loss %", "lower"],
  ["udp3g", "UDP at 3G: received Mbit/s", "higher"],
  ["udp3gLoss", "UDP at 3G: loss %", "lower"],
  ["rtt", "ping RTT median, fresh tunnel, ms", "lower"],
  ["rttP90", "ping RTT p90, fresh tunnel, ms", "lower"],
  ["rttP99", "ping RTT p99, fresh tunnel, ms", "lower"],
  ["rttWarm", "ping RTT median after the transfers, ms", "lower"],
  ["rttWarmP90", "ping RTT p90 after the transfers, ms", "lower"],
  ["rttWarmP99", "ping RTT p99 after the transfers, ms", "lower"],
  ["cpuPerGB", "agents' CPU-s per GB (TCP 1)", "lower"],
  ["rssMiB", "agent peak RSS, MiB", "lower"],
] as const satisfies readonly (readonly [string, string, Better])[];

/** A measure's key. */
export type MeasureKey = typeof MEASURES[number][0];

/** What one implementation measured, or why it could not be. */
export interface BuildFigures {
  build: Build;
  figures?: Record<MeasureKey, number>;
  /** During the TCP 1-stream runs: where the CPU went, retransmits, and the counters that moved. */
  tcp1?: {
    cpu: CpuReport;
    retransmits: number;
    drops: Record<string, number>;
    /** The sender's tunnel interface: MTU and queue length. */
    tun: string;
  };
  /** Each round's figures (absent: it failed in that round), when measured in rounds. */
  rounds?: (Record<MeasureKey, number> | undefined)[];
  /** What iperf3 managed to offer at 1G (a busy sender offers less than asked). */
  udp1gSentMbps?: number;
  /** The same at 3G, and the counters that moved in those runs (where the loss happened). */
  udp3g?: { sentMbps: number; drops: Record<string, number> };
  error?: string;
}

/** A row of a table: the measure, then one column per implementation. */
export type NetBenchRow = { measure: string } & Record<string, string | number>;

/** The whole result. */
export interface NetBenchResult {
  /** What was found and measured, one line each. */
  notes: string[];
  /** Figures: a row per measure, a column per implementation. */
  rows: NetBenchRow[];
  /** weft / each wireguard-go, a row per measure (see `better`). */
  ratios: NetBenchRow[];
  /** During the TCP 1-stream runs: CPU per process and thread, the machine, drops. */
  diagnostics: NetBenchRow[];
  /** TCP 1-stream throughput of weft / the Debian wireguard-go (NaN without one). */
  ratio: number;
  /** Each implementation's figures. */
  builds: BuildFigures[];
  /** The 1-minute load average at each round's start. */
  loads: number[];
}

/** How to run the bench. */
export interface NetBenchOptions {
  /** Seconds per iperf3 run (`BENCH_SECONDS`, default 5). */
  seconds?: number;
  /** Runs per measure in each round, the median kept (`BENCH_RUNS`; default 3, 1 with rounds). */
  runs?: number;
  /**
   * Rounds (`BENCH_ROUNDS`, default 1): each round measures every build once, one after the other
   * (weft, then each wireguard-go), on a fresh tunnel, so a build's figures are next to the
   * others' in time; a figure is the median over the rounds.
   */
  rounds?: number;
  /** Only the fresh tunnel's ping and TCP with 1 stream (the summary's columns); others NaN. */
  quick?: boolean;
  /** Extra `weft up` flags. */
  extraWeftArgs?: string[];
  /** Other wireguard-go builds (as `WG_GO`). */
  wgGo?: string;
  /** Progress lines (default: stderr). */
  log?: (line: string) => void;
}

const mbps = (bps: number) => bps / 1e6;

async function measureTunnel(
  t: Tunnel,
  build: Build,
  seconds: number,
  runs: number,
  log: (line: string) => void,
  quick = false,
): Promise<Omit<BuildFigures, "build">> {
  const { lab, a, b, target } = t;
  const isWeft = build.kind === "weft";
  // Warm up: the handshake and ARP, so neither lands in a measured RTT.
  await lab.exec("a", "ping", "-c", "3", "-i", "0.2", "-W", "2", target);
  const ping = await pingStats(lab, "a", target, 50, 0.05);
  const tun = await linkSettings(lab, "a", a.spec.iface);
  log(`${build.name}: ping median ${ping.medianMs.toFixed(3)} ms (${ping.replies}/50 replies)`);

  const iperfRuns = async (label: string, opts: Parameters<typeof iperf3>[4], meter?: CpuMeter) => {
    const out: IperfRun[] = [];
    for (let i = 0; i < runs; i++) {
      const r = await iperf3(lab, "b", "a", target, opts, meter);
      out.push(r);
      const loss = opts.udpRate ? `, loss ${r.lossPct.toFixed(2)}%` : "";
      log(
        `${build.name}: ${label} run ${i + 1}/${runs}: ${mbps(r.recvBps).toFixed(0)} Mbit/s${loss}`,
      );
    }
    return out;
  };

  const meter = new CpuMeter([
    { role: "a", pid: a.child.pid },
    { role: "b", pid: b.child.pid },
  ]);
  const status = isWeft ? WEFT_STATUS : undefined;
  // The drop counters of both ends that moved while `fn` ran: where the lost packets went.
  const counting = async <T>(fn: () => Promise<T>): Promise<[T, Record<string, number>]> => {
    const before = {
      a: await dropCounters(lab, "a", a.spec.iface, status),
      b: await dropCounters(lab, "b", b.spec.iface, status),
    };
    const r = await fn();
    const drops: Record<string, number> = {};
    for (const side of ["a", "b"] as const) {
      const after = await dropCounters(lab, side, t[side].spec.iface, status);
      for (const [k, v] of Object.entries(counterDelta(before[side], after))) {
        drops[`${side}: ${k}`] = v;
      }
    }
    return [r, drops];
  };
  const [tcp1, drops] = await counting(() => iperfRuns("TCP 1 stream", { seconds }, meter));
  // `quick`: the summary's columns only (the fresh ping above, TCP with 1 stream); the rest NaN.
  const tcp4 = quick ? [] : await iperfRuns("TCP 4 streams", { seconds, streams: 4 });
  const udp1 = quick
    ? []
    : await iperfRuns("UDP at 1G", { seconds, udpRate: "1G", udpLength: UDP_LENGTH });
  let udp3: IperfRun[] = [];
  let udp3Drops: Record<string, number> | undefined;
  if (!quick) {
    [udp3, udp3Drops] = await counting(() =>
      iperfRuns("UDP at 3G", { seconds, udpRate: "3G", udpLength: UDP_LENGTH })
    );
  }
  // Again with every code path run many times: for weft, the JIT has optimised it by now (the
  // fresh-tunnel ping runs partly unoptimised code); compiled peers should not move.
  const warm = quick
    ? { medianMs: NaN, p90Ms: NaN, p99Ms: NaN, replies: 0 }
    : await pingStats(lab, "a", target, 50, 0.05);
  if (!quick) log(`${build.name}: ping median after the transfers ${warm.medianMs.toFixed(3)} ms`);

  const bytes = tcp1.reduce((s, r) => s + r.recvBytes, 0);
  const agentCpu = meter.cpuSeconds("a") + meter.cpuSeconds("b");
  const cpu = meter.report();
  // iperf3 reports its own CPU per run; the median run stands for them.
  cpu.processes.push(
    {
      role: "iperf3 client",
      cpuSeconds: NaN,
      pct: median(tcp1.map((r) => r.clientCpuPct)),
      threads: [],
    },
    {
      role: "iperf3 server",
      cpuSeconds: NaN,
      pct: median(tcp1.map((r) => r.serverCpuPct)),
      threads: [],
    },
  );
  const med = (rs: IperfRun[], f: (r: IperfRun) => number) => median(rs.map(f));
  return {
    figures: {
      tcp1: med(tcp1, (r) => mbps(r.recvBps)),
      tcp4: med(tcp4, (r) => mbps(r.recvBps)),
      udp1g: med(udp1, (r) => mbps(r.recvBps)),
      udp1gLoss: med(udp1, (r) => r.lossPct),
      udp3g: med(udp3, (r) => mbps(r.recvBps)),
      udp3gLoss: med(udp3, (r) => r.lossPct),
      rtt: ping.medianMs,
      rttP90: ping.p90Ms,
      rttP99: ping.p99Ms,
      rttWarm: warm.medianMs,
      rttWarmP90: warm.p90Ms,
      rttWarmP99: warm.p99Ms,
      cpuPerGB: agentCpu / (bytes / 1e9),
      // Read last: the peak over every measure above.
      rssMiB: Math.max(peakRssKiB(a.child.pid), peakRssKiB(b.child.pid)) / 1024,
    },
    tcp1: { cpu, retransmits: med(tcp1, (r) => r.retransmits), drops, tun },
    udp3g: udp3Drops && { sentMbps: med(udp3, (r) => mbps(r.sentBps)), drops: udp3Drops },
    udp1gSentMbps: quick ? undefined : med(udp1, (r) => mbps(r.sentBps)),
  };
}

/** Rounds a figure for the table by what it is. */
function fmt(key: MeasureKey, v: number): number {
  const digits = key.startsWith("rtt")
    ? 3
    : key === "udp1gLoss" || key === "udp3gLoss"
    ? 2
    : key === "cpuPerGB"
    ? 1
    : 0;
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

/** weft / other as text: "n/a" where the quotient means nothing (a zero or a missing figure). */
function ratioText(weft: number, other: number): string {
  if (!Number.isFinite(weft) || !Number.isFinite(other)) return "n/a";
  if (other === 0) return weft === 0 ? "1.00" : "n/a";
  return (weft / other).toFixed(2);
}

const pct = (v: number) => Number.isFinite(v) ? Math.round(v) : "n/a";

/** The figures, ratio and diagnostics tables from the implementations' results. */
export function tables(
  results: BuildFigures[],
): Pick<NetBenchResult, "rows" | "ratios" | "diagnostics" | "ratio"> {
  const weft = results.find((r) => r.build.kind === "weft");
  const others = results.filter((r) => r.build.kind !== "weft");
  const rows: NetBenchRow[] = MEASURES.map(([key, label]) => {
    const row: NetBenchRow = { measure: label };
    for (const r of results) row[r.build.name] = r.figures ? fmt(key, r.figures[key]) : "failed";
    return row;
  });
  const ratios: NetBenchRow[] = MEASURES.map(([key, label, better]) => {
    const row: NetBenchRow = { measure: label, better: `${better} is better` };
    for (const o of others) {
      row[`weft / ${o.build.name}`] = weft?.figures && o.figures
        ? ratioText(weft.figures[key], o.figures[key])
        : "n/a";
    }
    return row;
  });
  const diagnostics: NetBenchRow[] = [];
  const diag = (measure: string, f: (r: BuildFigures) => string | number | undefined) => {
    const row: NetBenchRow = { measure };
    for (const r of results) row[r.build.name] = f(r) ?? "";
    diagnostics.push(row);
  };
  const proc = (r: BuildFigures, role: string) =>
    r.tcp1?.cpu.processes.find((p) => p.role === role);
  // The three busiest, "56+30w deno, 3+0w V8 DefaultWorke, ...": is one thread the whole
  // process, and did it wait for a CPU (runnable, none free) or for work?
  const threads = (p?: CpuReport["processes"][number]) =>
    p?.threads.slice(0, 3).map((t) => `${pct(t.pct)}+${pct(t.waitPct)}w ${t.name}`).join(", ");
  diag("sender agent (a) CPU %", (r) => pct(proc(r, "a")?.pct ?? NaN));
  diag("  busiest threads: run+wait %", (r) => threads(proc(r, "a")));
  diag("receiver agent (b) CPU %", (r) => pct(proc(r, "b")?.pct ?? NaN));
  diag("  busiest threads: run+wait %", (r) => threads(proc(r, "b")));
  diag("iperf3 client CPU %", (r) => pct(proc(r, "iperf3 client")?.pct ?? NaN));
  diag("iperf3 server CPU %", (r) => pct(proc(r, "iperf3 server")?.pct ?? NaN));
  const cores = results.find((r) => r.tcp1)?.tcp1?.cpu.cores ?? navigator.hardwareConcurrency;
  for (const k of ["user", "system", "softirq", "idle", "steal"] as const) {
    diag(`machine ${k} % (of ${cores * 100})`, (r) => pct(r.tcp1?.cpu.machinePct[k] ?? NaN));
  }
  // What the machine was busy with besides the agents and iperf3: kernel threads (ksoftirqd,
  // the veths) and whatever else runs on it; a large figure means the run was starved.
  diag("machine busy − agents − iperf3 % (kernel, others)", (r) => {
    if (!r.tcp1) return undefined;
    const m = r.tcp1.cpu.machinePct;
    const busy = m.user + m.nice + m.system + m.irq + m.softirq;
    // Tick rounding and iperf3's own CPU figures can take an idle remainder a little below 0.
    return pct(Math.max(0, busy - r.tcp1.cpu.processes.reduce((s, p) => s + p.pct, 0)));
  });
  diag("tunnel interface (a)", (r) => r.tcp1?.tun);
  diag("TCP retransmits per run", (r) => r.tcp1?.retransmits);
  const dropRows = (phase: string, of: (r: BuildFigures) => Record<string, number> | undefined) => {
    const names = [...new Set(results.flatMap((r) => Object.keys(of(r) ?? {})))].sort();
    for (const k of names) diag(`${phase} drops ${k}`, (r) => of(r) ? (of(r)![k] ?? 0) : undefined);
    if (names.length === 0) diag(`${phase} drops (tun, udp, weft)`, (r) => of(r) && "none");
  };
  dropRows("TCP 1:", (r) => r.tcp1?.drops);
  diag("UDP at 1G: sent Mbit/s", (r) => r.udp1gSentMbps && Math.round(r.udp1gSentMbps));
  diag("UDP at 3G: sent Mbit/s", (r) => r.udp3g && Math.round(r.udp3g.sentMbps));
  dropRows("UDP 3G:", (r) => r.udp3g?.drops);
  const debian = others.find((o) => o.build.name === "wireguard-go");
  const ratio = weft?.figures && debian?.figures ? weft.figures.tcp1 / debian.figures.tcp1 : NaN;
  return { rows, ratios, diagnostics, ratio };
}

/** Runs the lab; null when this machine cannot (not root, or tools missing). */
export async function runNetBench(opts: NetBenchOptions = {}): Promise<NetBenchResult | null> {
  if (!(await canBuildLabs()) || !(await haveCommands("wg", "iperf3", "ss", "ping", "curl"))) {
    return null;
  }
  const seconds = opts.seconds ?? Number(Deno.env.get("BENCH_SECONDS") ?? 5);
  const rounds = opts.rounds ?? Number(Deno.env.get("BENCH_ROUNDS") ?? 1);
  const runs = opts.runs ?? Number(Deno.env.get("BENCH_RUNS") ?? (rounds > 1 ? 1 : 3));
  const log = opts.log ?? ((l: string) => console.error(`net: ${l}`));
  const { builds, notes } = await findBuilds(opts.wgGo);
  notes.push(
    `MTU ${LAB_MTU}, UDP datagrams of ${UDP_LENGTH} bytes, ${runs} runs of ${seconds} s per ` +
      `measure (median)${
        rounds > 1 ? ` in each of ${rounds} rounds (the builds one after the other)` : ""
      }, ${navigator.hardwareConcurrency} cores`,
  );
  for (const n of notes) log(n);
  const perRound = new Map<string, (Record<MeasureKey, number> | undefined)[]>();
  const last = new Map<string, Omit<BuildFigures, "build">>();
  const errors = new Map<string, string>();
  const loads: number[] = [];
  for (let round = 0; round < rounds; round++) {
    loads.push(loadAverage());
    if (rounds > 1) log(`round ${round + 1}/${rounds}, load ${loads[round]}`);
    for (const build of builds) {
      const seen = perRound.get(build.name) ?? [];
      perRound.set(build.name, seen);
      try {
        const r = await withTunnel(
          build,
          opts.extraWeftArgs ?? [],
          (t) => measureTunnel(t, build, seconds, runs, log, opts.quick),
        );
        seen.push(r.figures);
        last.set(build.name, r);
      } catch (e) {
        // One build failing (a binary that will not start here) must not hide the others' figures.
        const error = e instanceof Error ? e.message : String(e);
        if (!errors.has(build.name)) notes.push(`${build.name} failed: ${error.split("\n")[0]}`);
        errors.set(build.name, error);
        log(`${build.name} failed: ${error}`);
        seen.push(undefined);
      }
    }
  }
  const results: BuildFigures[] = builds.map((build) => {
    const r = last.get(build.name);
    if (!r) return { build, error: errors.get(build.name) };
    const measured = perRound.get(build.name)!;
    // One round: its figures as they are; more: each figure's median over the rounds.
    return rounds > 1 ? { build, ...r, figures: medianFigures(measured), rounds: measured } : {
      build,
      ...r,
    };
  });
  return { notes, builds: results, loads, ...tables(results) };
}

/** Each measure's median over the rounds that measured it. */
export function medianFigures(
  rounds: readonly (Record<MeasureKey, number> | undefined)[],
): Record<MeasureKey, number> {
  const ok = rounds.filter((r): r is Record<MeasureKey, number> => r !== undefined);
  return Object.fromEntries(
    MEASURES.map(([k]) => [k, median(ok.map((r) => r[k]).filter((v) => !Number.isNaN(v)))]),
  ) as Record<MeasureKey, number>;
}

/** Prints a result as `deno task bench` and `net.ts` alone show it. */
export function printNetBench(res: NetBenchResult): void {
  for (const n of res.notes) console.log(n);
  console.table(res.rows);
  console.log("weft / each wireguard-go (throughput: >1 is better for weft; RTT, CPU, RSS: <1):");
  console.table(res.ratios);
  console.log("during the TCP 1-stream runs (CPU in % of one core):");
  console.table(res.diagnostics);
  console.log(`throughput ratio weft/wireguard-go (TCP 1 stream): ${res.ratio.toFixed(2)}x`);
}

if (import.meta.main) {
  destroyLabsOnSignal();
  const res = await runNetBench({ extraWeftArgs: Deno.args });
  if (!res) console.log("network lab skipped: needs root, ip netns, wg, iperf3, ss, ping, curl");
  else printNetBench(res);
}
