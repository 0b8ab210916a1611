/**
 * The soak benchmark's pure parts (scripts/bench/soak.ts): its command line, when it samples and
 * churns, the two policies it alternates, the parsing of what its probes and tools print, and the
 * growth of each agent between the middle and the last third of the run.
 * @module
 */

import { median } from "./net_measure.ts";

/** What the soak is asked to do. */
export interface SoakOptions {
  /** Minutes of sustained traffic that are measured (after a short warm-up). */
  minutes: number;
  /** iperf3 TCP rate through the direct path (`-b`), e.g. `300M`. */
  rate: string;
  /** iperf3 TCP rate through the relay (`-b`). */
  relayRate: string;
  /** iperf3 UDP rate (`-b`). */
  udpRate: string;
  /** Seconds between two samples; by default {@link sampleSeconds} of `minutes`. */
  sampleSeconds: number;
  /** Print the summary as one JSON object, last. */
  json: boolean;
  /** A folder for heap snapshots of every stable agent, at the middle third's start and the end. */
  snapshots: string | null;
}

/** The usage line. */
export const SOAK_USAGE =
  "deno run -A scripts/bench/soak.ts [--minutes N] [--rate 300M] [--relay-rate 50M] " +
  "[--udp-rate 20M] [--sample SECONDS] [--snapshots DIR] [--json]";

const RATE = /^\d+(\.\d+)?[KMG]?$/;

/**
 * Seconds between samples for a run of `minutes`: one a minute, but at least 10 samples in all
 * (a short run would otherwise have too few thirds to compare), and never under 5 s.
 */
export function sampleSeconds(minutes: number): number {
  return Math.max(5, Math.min(60, Math.round(minutes * 6)));
}

/** Parses the command line; throws a message for the user on a bad flag. */
export function parseSoakArgs(args: readonly string[], defaultMinutes = 60): SoakOptions {
  const o = {
    minutes: defaultMinutes,
    rate: "300M",
    relayRate: "50M",
    udpRate: "20M",
    sampleSeconds: NaN,
    json: false,
    snapshots: null as string | null,
  };
  for (let i = 0; i < args.length; i++) {
    const flag = args[i];
    if (flag === "--json") {
      o.json = true;
      continue;
    }
    const value = args[i + 1];
    if (value === undefined) throw new Error(`${flag} needs a value (${SOAK_USAGE})`);
    i++;
    if (flag === "--minutes" || flag === "--sample") {
      const n = Number(value);
      if (!Number.isFinite(n) || n <= 0) throw new Error(`${flag} takes a positive number`);
      if (flag === "--minutes") o.minutes = n;
      else o.sampleSeconds = n;
    } else if (flag === "--snapshots") o.snapshots = value;
    else if (flag === "--rate" || flag === "--relay-rate" || flag === "--udp-rate") {
      if (!RATE.test(value)) throw new Error(`${flag} takes an iperf3 rate such as 300M`);
      if (flag === "--rate") o.rate = value;
      else if (flag === "--relay-rate") o.relayRate = value;
      else o.udpRate = value;
    } else throw new Error(`unknown flag ${flag} (${SOAK_USAGE})`);
  }
  if (Number.isNaN(o.sampleSeconds)) o.sampleSeconds = sampleSeconds(o.minutes);
  return o;
}

/** When the churn member is replaced, seconds into the measured window: every `every` s. */
export function churnTimes(windowSeconds: number, every = 60): number[] {
  const out: number[] = [];
  for (let t = every; t < windowSeconds; t += every) out.push(t);
  return out;
}

/** The samples (indexes) after which heap snapshots are taken: the middle third's first, the last. */
export function snapshotIndexes(samples: number): number[] {
  return samples >= 3 ? [Math.floor(samples / 3), samples - 1] : [samples - 1];
}

/** When samples are taken, seconds into the measured window: 0, then every `step` to the end. */
export function sampleTimes(windowSeconds: number, step: number): number[] {
  const out: number[] = [];
  for (let t = 0; t < windowSeconds - step / 2; t += step) out.push(Math.round(t * 1000) / 1000);
  out.push(windowSeconds);
  return out;
}

/**
 * The two policies the leader gets in turn: both allow every flow between members (one rule for
 * all, or one per protocol), so reloads change the rules without cutting the traffic.
 */
export const SOAK_POLICIES: readonly [string, string] = [
  `policies:
  - name: soak-all
    action: allow
    from: "*"
    to: "*"
`,
  `policies:
  - name: soak-tcp
    action: allow
    from: "*"
    to: "*"
    proto: tcp
  - name: soak-udp
    action: allow
    from: "*"
    to: "*"
    proto: udp
  - name: soak-icmp
    action: allow
    from: "*"
    to: "*"
    proto: icmp
`,
];

/**
 * One reading of an agent as it runs (no forced GC): its RSS and V8's figures between V8's own
 * collections, as a user's `ps` sees the agent.
 */
export interface MemorySample {
  /** Seconds into the measured window. */
  t: number;
  /** Resident set, bytes. */
  rss: number;
  /** V8 heap used, bytes (live objects and garbage not yet collected). */
  heapUsed: number;
  /** V8 heap reserved, bytes. */
  heapTotal: number;
  /** Memory of JS objects held outside the heap (buffers), bytes. */
  external: number;
  /** Open file descriptors (`process_open_fds`), null when unread. */
  fds: number | null;
  /** The same figures right after a full GC, at the samples that take one (what is live). */
  afterGc?: { rss: number; heapUsed: number; external: number };
}

/** Reads the probe's JSON line (scripts/bench/soak_probe.ts) as a sample at `t`; null if none. */
export function parseProbe(text: string, t: number): MemorySample | null {
  const line = text.split("\n").reverse().find((l) => l.startsWith("{"));
  if (!line) return null;
  try {
    const o = JSON.parse(line);
    if (typeof o.rss !== "number" || typeof o.heapUsed !== "number") return null;
    return {
      t,
      rss: o.rss,
      heapUsed: o.heapUsed,
      heapTotal: Number(o.heapTotal) || 0,
      external: Number(o.external) || 0,
      fds: typeof o.fds === "number" ? o.fds : null,
    };
  } catch {
    return null;
  }
}

/** Splits a series in three in order (the first third the shortest when it does not divide). */
export function thirds<T>(xs: readonly T[]): [T[], T[], T[]] {
  const a = Math.floor(xs.length / 3);
  const b = Math.floor((2 * xs.length) / 3);
  return [xs.slice(0, a), xs.slice(a, b), xs.slice(b)];
}

/** Growth from `from` to `to`, percent; NaN when `from` is not positive. */
export function growthPct(from: number, to: number): number {
  return from > 0 ? ((to - from) / from) * 100 : NaN;
}

const MiB = 1024 * 1024;
const r1 = (x: number) => Math.round(x * 10) / 10;

/** An agent's figures over the run: medians of the middle and last thirds of its samples. */
export interface AgentGrowth {
  /** The agent's host name. */
  agent: string;
  /** Samples taken. */
  samples: number;
  /** RSS, median of the middle third, MiB. */
  rssMidMiB: number;
  /** RSS, median of the last third, MiB. */
  rssLastMiB: number;
  /** RSS growth from the middle third to the last, percent. */
  rssGrowthPct: number;
  /** The highest RSS of the middle and last thirds, MiB: what the agent was bounded by. */
  rssMaxMiB: number;
  /** V8 heap used (live and garbage), median of the middle third, MiB. */
  heapMidMiB: number;
  /** V8 heap used, median of the last third, MiB. */
  heapLastMiB: number;
  /** Heap used growth from the middle third to the last, percent. */
  heapGrowthPct: number;
  /** V8 heap reserved, median of the middle third, MiB. */
  heapTotalMidMiB: number;
  /** V8 heap reserved, median of the last third, MiB. */
  heapTotalLastMiB: number;
  /** Memory outside the heap (ArrayBuffers), median of the middle third, MiB. */
  externalMidMiB: number;
  /** Memory outside the heap, median of the last third, MiB. */
  externalLastMiB: number;
  /** External memory growth from the middle third to the last, percent. */
  externalGrowthPct: number;
  /** Live heap (used, right after a full GC) at the middle third's first sample, MiB. */
  liveMidMiB: number;
  /** Live heap after a full GC at the last sample, MiB. */
  liveLastMiB: number;
  /** Live heap growth from the middle third's start to the end, percent: a leak shows here. */
  liveGrowthPct: number;
  /** Open fds at the first sample. */
  fdsFirst: number | null;
  /** Open fds at the last sample. */
  fdsLast: number | null;
  /** Most open fds seen. */
  fdsMax: number | null;
}

/** An agent's growth from its samples (in time order); NaN medians with fewer than 3 samples. */
export function agentGrowth(agent: string, samples: readonly MemorySample[]): AgentGrowth {
  const [, mid, last] = samples.length >= 3 ? thirds(samples) : [[], [], []];
  const med = (xs: MemorySample[], f: (s: MemorySample) => number) => median(xs.map(f)) / MiB;
  const pair = (f: (s: MemorySample) => number) => {
    const [a, b] = [med(mid, f), med(last, f)];
    return [r1(a), r1(b), r1(growthPct(a, b))] as const;
  };
  const [rssMid, rssLast, rssGrowth] = pair((s) => s.rss);
  const [heapMid, heapLast, heapGrowth] = pair((s) => s.heapUsed);
  const [totalMid, totalLast] = pair((s) => s.heapTotal);
  const [extMid, extLast, extGrowth] = pair((s) => s.external);
  const gcs = [...mid, ...last].filter((s) => s.afterGc);
  const liveMid = gcs.length >= 2 ? gcs[0].afterGc!.heapUsed / MiB : NaN;
  const liveLast = gcs.length >= 2 ? gcs.at(-1)!.afterGc!.heapUsed / MiB : NaN;
  const fds = samples.map((s) => s.fds).filter((x): x is number => x !== null);
  const tail = [...mid, ...last];
  return {
    agent,
    samples: samples.length,
    rssMidMiB: rssMid,
    rssLastMiB: rssLast,
    rssGrowthPct: rssGrowth,
    rssMaxMiB: tail.length ? r1(Math.max(...tail.map((s) => s.rss)) / MiB) : NaN,
    heapMidMiB: heapMid,
    heapLastMiB: heapLast,
    heapGrowthPct: heapGrowth,
    heapTotalMidMiB: totalMid,
    heapTotalLastMiB: totalLast,
    externalMidMiB: extMid,
    externalLastMiB: extLast,
    externalGrowthPct: extGrowth,
    liveMidMiB: r1(liveMid),
    liveLastMiB: r1(liveLast),
    liveGrowthPct: r1(growthPct(liveMid, liveLast)),
    fdsFirst: samples[0]?.fds ?? null,
    fdsLast: samples.at(-1)?.fds ?? null,
    fdsMax: fds.length ? Math.max(...fds) : null,
  };
}

/**
 * Whether an agent meets the targets: RSS (as it runs) and the live heap (after a full GC) grow at
 * most `maxPct`, fds not at all. The heap used as it runs is not a target: it is a saw between
 * V8's collections, whose phase at the two thirds' medians is chance.
 */
export function withinTargets(g: AgentGrowth, maxPct = 5): boolean {
  return g.rssGrowthPct <= maxPct && g.liveGrowthPct <= maxPct &&
    (g.fdsFirst === null || g.fdsLast === null || g.fdsLast <= g.fdsFirst);
}

/** One line of the per-sample output: time, agent, RSS, heap, external, fds; after a GC if taken. */
export function sampleLine(agent: string, s: MemorySample): string {
  const m = Math.floor(s.t / 60);
  const sec = String(Math.round(s.t % 60)).padStart(2, "0");
  const mib = (x: number) => `${(x / MiB).toFixed(1).padStart(6)} MiB`;
  const gc = s.afterGc
    ? `  after a full GC: rss ${mib(s.afterGc.rss)}  heap ${mib(s.afterGc.heapUsed)}`
    : "";
  return `${String(m).padStart(3)}:${sec} ${agent.padEnd(5)} rss ${mib(s.rss)}  heap ${
    mib(s.heapUsed)
  } of ${mib(s.heapTotal)}  external ${mib(s.external)}  fds ${s.fds ?? "?"}${gc}`;
}

/** What `ping -q` says at its end. */
export interface PingFigures {
  /** Echo requests sent. */
  sent: number;
  /** Replies received. */
  received: number;
  /** Requests without a reply, percent. */
  lostPct: number;
}

/** Parses ping's summary line; null when it has none (killed before it printed one). */
export function parsePingSummary(text: string): PingFigures | null {
  const m = text.match(/(\d+) packets transmitted, (\d+) (?:packets )?received/);
  if (!m) return null;
  const sent = Number(m[1]);
  const received = Number(m[2]);
  return { sent, received, lostPct: sent ? Math.round((1 - received / sent) * 10000) / 100 : NaN };
}

/** What an iperf3 client's JSON report says. */
export interface IperfFigures {
  /** Mean received rate, Mbit/s. */
  mbps: number;
  /** TCP: the sender's retransmits; UDP: null. */
  retransmits: number | null;
  /** UDP: datagrams lost, percent; TCP: null. */
  lostPct: number | null;
  /** iperf3's error, if it reported one. */
  error: string | null;
}

/** Parses an iperf3 client's `-J` report; null when it is not JSON. */
export function parseIperf(text: string): IperfFigures | null {
  let j: {
    error?: string;
    end?: {
      sum_received?: { bits_per_second?: number; lost_percent?: number };
      sum_sent?: { retransmits?: number };
    };
  };
  try {
    j = JSON.parse(text);
  } catch {
    return null;
  }
  const rx = j.end?.sum_received;
  return {
    mbps: rx?.bits_per_second === undefined ? NaN : r1(rx.bits_per_second / 1e6),
    retransmits: j.end?.sum_sent?.retransmits ?? null,
    lostPct: rx?.lost_percent === undefined ? null : Math.round(rx.lost_percent * 100) / 100,
    error: j.error ?? null,
  };
}

/** The last JSON line of `kind` a driver printed (scripts/bench/soak_driver.ts), or null. */
export function lastReport(text: string, kind: string): Record<string, unknown> | null {
  const lines = text.split("\n");
  for (let i = lines.length - 1; i >= 0; i--) {
    if (!lines[i].startsWith("{")) continue;
    try {
      const o = JSON.parse(lines[i]);
      if (o.kind === kind) return o;
    } catch { /* a line cut short */ }
  }
  return null;
}
