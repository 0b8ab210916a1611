/**
 * DNS benchmark: the mesh DNS server over UDP with a synthetic zone of 1,000 members and 200
 * services, loaded by `dnsperf` (Debian package dnsperf). One run at full speed for the query
 * rate, one capped at half of it for the latency under ordinary load. The query mix covers
 * every name kind: host and node names, leader, service A, SRV, TXT, PTR and NXDOMAIN.
 *
 * `deno run --unstable-net -A scripts/bench/dns.ts [seconds]`
 * @module
 */

import { serveDns } from "../../lib/dns/server.ts";
import type { Member, MembershipView } from "../../lib/members/member.ts";

/** The figures of one dnsperf run. */
export interface DnsperfRun {
  /** Queries dnsperf sent. */
  sent: number;
  /** Queries answered. */
  completed: number;
  /** Queries that timed out. */
  lost: number;
  /** Answered queries per second. */
  qps: number;
  /** Mean latency, ms. */
  avgMs: number;
  /** Fastest answer, ms. */
  minMs: number;
  /** Slowest answer, ms. */
  maxMs: number;
  /** Latency standard deviation, ms. */
  stddevMs: number;
  /** Response codes dnsperf saw, e.g. `NOERROR 90.00%, NXDOMAIN 10.00%`. */
  rcodes: string;
}

const MEMBERS = 1000;
const SERVICES = 200;

function syntheticView(): MembershipView {
  const members: Member[] = [];
  for (let i = 0; i < MEMBERS; i++) {
    const x = (i >> 8) + 1;
    const y = i & 0xff;
    const svc = i % SERVICES;
    members.push({
      name: `host${i}`,
      publicKey: "",
      address: `10.200.${x}.${y}`,
      address6: `fd00::${x.toString(16)}:${y.toString(16)}`,
      endpoints: [],
      labels: {},
      role: i === 0 ? "leader" : "node",
      services: [{
        name: `svc${svc}`,
        port: 8000 + svc,
        protocol: "tcp",
        labels: { zone: `z${i % 3}` },
      }],
      joinedAt: 0,
    });
  }
  return { network: "10.200.0.0/16", version: 1, members };
}

function queryFile(zone: string): string {
  const lines: string[] = [];
  for (let i = 0; i < MEMBERS; i += 7) {
    const x = (i >> 8) + 1;
    const y = i & 0xff;
    const svc = i % SERVICES;
    lines.push(
      `host${i}.${zone} A`,
      `host${i}.${zone} AAAA`,
      `node-${x}-${y}.${zone} A`,
      `svc${svc}.${zone} A`,
      `_svc${svc}._tcp.${zone} SRV`,
      `_svc${svc}._tcp.${zone} TXT`,
      `${y}.${x}.200.10.in-addr.arpa PTR`,
      `missing${i}.${zone} A`,
      `leader.${zone} A`,
    );
  }
  return lines.join("\n") + "\n";
}

async function haveDnsperf(): Promise<boolean> {
  try {
    const out = await new Deno.Command("dnsperf", { args: ["-h"], stdout: "null", stderr: "null" })
      .output();
    return out.success;
  } catch {
    return false;
  }
}

function num(re: RegExp, text: string): number {
  const m = re.exec(text);
  if (m === null) throw new Error(`dnsperf output lacks ${re}:\n${text}`);
  return Number(m[1]);
}

/** Parses dnsperf's summary. */
export function parseDnsperf(text: string): DnsperfRun {
  const lat = /Average Latency \(s\):\s+([\d.]+) \(min ([\d.]+), max ([\d.]+)\)/.exec(text);
  if (lat === null) throw new Error(`dnsperf output lacks latency:\n${text}`);
  return {
    sent: num(/Queries sent:\s+(\d+)/, text),
    completed: num(/Queries completed:\s+(\d+)/, text),
    lost: num(/Queries lost:\s+(\d+)/, text),
    qps: Math.round(num(/Queries per second:\s+([\d.]+)/, text)),
    avgMs: Number(lat[1]) * 1000,
    minMs: Number(lat[2]) * 1000,
    maxMs: Number(lat[3]) * 1000,
    stddevMs: num(/Latency StdDev \(s\):\s+([\d.]+)/, text) * 1000,
    rcodes: (/Response codes:\s+(.*)/.exec(text)?.[1] ?? "").replace(/ \(/g, " ").replace(
      /\)/g,
      "",
    ),
  };
}

async function dnsperf(port: number, file: string, seconds: number, qps?: number) {
  const args = ["-s", "127.0.0.1", "-p", String(port), "-d", file, "-l", String(seconds)];
  args.push("-c", "4", "-q", "200", "-t", "2");
  if (qps !== undefined) args.push("-Q", String(qps));
  const out = await new Deno.Command("dnsperf", { args, stdout: "piped", stderr: "piped" })
    .output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(`dnsperf failed: ${new TextDecoder().decode(out.stderr)}\n${text}`);
  }
  return parseDnsperf(text);
}

/**
 * Runs the benchmark: `seconds` at full speed, then `seconds` at half that rate. Returns null
 * when dnsperf is not installed.
 */
export async function runDnsBench(seconds = 10): Promise<Record<string, unknown> | null> {
  if (!(await haveDnsperf())) return null;
  const view = syntheticView();
  const server = await serveDns({
    addresses: ["127.0.0.1"],
    port: 0,
    source: { view: () => view },
  });
  const file = await Deno.makeTempFile({ prefix: "weft-dnsperf-" });
  try {
    await Deno.writeTextFile(file, queryFile(server.zone.origin));
    const full = await dnsperf(server.port, file, seconds);
    const half = await dnsperf(server.port, file, seconds, Math.max(100, full.qps >> 1));
    return {
      members: MEMBERS,
      services: SERVICES,
      seconds,
      qps: full.qps,
      lost: full.lost,
      avgMs: round(full.avgMs),
      maxMs: round(full.maxMs),
      halfLoadQps: half.qps,
      halfLoadAvgMs: round(half.avgMs),
      halfLoadStddevMs: round(half.stddevMs),
      halfLoadMaxMs: round(half.maxMs),
      rcodes: full.rcodes,
      truncated: server.stats.truncated,
    };
  } finally {
    await server.close();
    await Deno.remove(file).catch(() => {});
  }
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

if (import.meta.main) {
  const seconds = Number(Deno.args[0] ?? Deno.env.get("BENCH_SECONDS") ?? 10);
  const result = await runDnsBench(seconds);
  if (result === null) console.log("skipped: dnsperf is not installed");
  else console.table([result]);
}
