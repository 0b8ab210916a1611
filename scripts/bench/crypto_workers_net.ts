/**
 * The network lab with and without crypto workers (root): weft against weft between two
 * namespaces (scripts/bench/net_lab.ts), once per `--crypto-workers` count, the counts
 * interleaved round by round so a machine whose load changes meets each alike. Per run: ping RTT
 * on the idle tunnel (before and after the transfers), iperf3 TCP with 1 and with 4 streams, the agents' CPU-seconds per GB over
 * the 1-stream transfer, and (from /status) the share of messages the workers sealed or opened.
 * Prints each figure's median and spread (min–max) per count. Figures, never assertions.
 *
 * `deno run -A scripts/bench/crypto_workers_net.ts [rounds] [seconds] [counts...]` (defaults:
 * 3 rounds, 5 s, counts 0 1 2).
 * @module
 */

import { canBuildLabs, destroyLabsOnSignal, haveCommands } from "../../tests/fixtures/netns.ts";
import { type Build, withTunnel } from "./net_lab.ts";
import { CpuMeter, iperf3, median, pingStats } from "./net_measure.ts";

const WEFT: Build = { name: "weft", kind: "weft", version: "this checkout, TUN mode" };
/** `weft up`'s status server in each namespace (its default). */
const STATUS = "http://127.0.0.1:51880/status";

/** One run's figures. */
interface Sample {
  tcp1: number;
  tcp4: number;
  cpuPerGB: number;
  rttMs: number;
  /** The same after the transfers (the code paths warm). */
  rttWarmMs: number;
  /** Of the messages sealed or opened through the batch (both agents), the share on workers. */
  onWorkers: number;
}

const KEYS: [keyof Sample, string, number][] = [
  ["tcp1", "TCP 1 stream, Mbit/s", 0],
  ["tcp4", "TCP 4 streams, Mbit/s", 0],
  ["cpuPerGB", "agents' CPU-s per GB (TCP 1)", 1],
  ["rttMs", "ping RTT median, ms", 3],
  ["rttWarmMs", "ping RTT median after the transfers, ms", 3],
  ["onWorkers", "share sealed/opened on workers", 2],
];

async function measure(count: number, seconds: number, log: (l: string) => void) {
  return await withTunnel(WEFT, ["--crypto-workers", String(count)], async (t) => {
    const { lab, a, b, target } = t;
    await lab.exec("a", "ping", "-c", "3", "-i", "0.2", "-W", "2", target);
    const ping = await pingStats(lab, "a", target, 30, 0.05);
    const meter = new CpuMeter([{ role: "a", pid: a.child.pid }, { role: "b", pid: b.child.pid }]);
    const one = await iperf3(lab, "b", "a", target, { seconds }, meter);
    const four = await iperf3(lab, "b", "a", target, { seconds, streams: 4 });
    const warm = await pingStats(lab, "a", target, 30, 0.05);
    let packets = 0;
    let onWorkers = 0;
    for (const host of ["a", "b"]) {
      const r = await lab.exec(host, "curl", "-s", "--max-time", "3", STATUS);
      const cw = r.code === 0 ? JSON.parse(r.stdout).node.cryptoWorkers : undefined;
      if (cw?.failure) log(`${host}: crypto workers failed: ${cw.failure}`);
      packets += cw?.packets ?? 0;
      onWorkers += cw?.onWorkers ?? 0;
    }
    const sample: Sample = {
      tcp1: one.recvBps / 1e6,
      tcp4: four.recvBps / 1e6,
      cpuPerGB: (meter.cpuSeconds("a") + meter.cpuSeconds("b")) / (one.recvBytes / 1e9),
      rttMs: ping.medianMs,
      rttWarmMs: warm.medianMs,
      onWorkers: packets > 0 ? onWorkers / packets : 0,
    };
    log(
      `workers ${count}: TCP1 ${sample.tcp1.toFixed(0)} Mbit/s, TCP4 ${sample.tcp4.toFixed(0)}, ` +
        `${sample.cpuPerGB.toFixed(1)} CPU-s/GB, RTT ${sample.rttMs.toFixed(3)} ms ` +
        `(${sample.rttWarmMs.toFixed(3)} after), ` +
        `${(sample.onWorkers * 100).toFixed(0)}% on workers`,
    );
    return sample;
  });
}

/** The table (a row per figure, columns per worker count); null when the lab cannot run. */
export async function runCryptoWorkersNetBench(
  opts: { rounds?: number; seconds?: number; counts?: number[]; log?: (l: string) => void } = {},
): Promise<Record<string, string>[] | null> {
  if (!(await canBuildLabs()) || !(await haveCommands("wg", "iperf3", "ss", "ping", "curl"))) {
    return null;
  }
  const rounds = opts.rounds ?? 3;
  const seconds = opts.seconds ?? 5;
  const counts = opts.counts ?? [0, 1, 2];
  const log = opts.log ?? ((l: string) => console.error(`crypto workers net: ${l}`));
  const samples = new Map<number, Sample[]>(counts.map((c) => [c, []]));
  for (let r = 0; r < rounds; r++) {
    for (const c of counts) samples.get(c)!.push(await measure(c, seconds, log));
  }
  return KEYS.map(([key, label, digits]) => {
    const row: Record<string, string> = { measure: label };
    for (const c of counts) {
      const xs = samples.get(c)!.map((s) => s[key]);
      const f = (x: number) => x.toFixed(digits);
      row[`workers ${c}`] = `${f(median(xs))} (${f(Math.min(...xs))}–${f(Math.max(...xs))})`;
    }
    return row;
  });
}

if (import.meta.main) {
  destroyLabsOnSignal();
  const [rounds, seconds, ...counts] = Deno.args.map(Number);
  const rows = await runCryptoWorkersNetBench({
    rounds: rounds || undefined,
    seconds: seconds || undefined,
    counts: counts.length > 0 ? counts : undefined,
  });
  if (!rows) console.log("skipped: needs root, ip netns, wg, iperf3, ss, ping, curl");
  else {
    console.log(
      `median (min–max) of ${rounds || 3} interleaved runs, ${navigator.hardwareConcurrency} cores`,
    );
    console.table(rows);
  }
}
