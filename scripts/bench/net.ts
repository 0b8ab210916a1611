/**
 * The network lab benchmark (root): two namespaces on a veth bridge, the same tunnel set up with
 * wireguard-go on both ends, weft on both ends, and weft against wireguard-go. For each: iperf3
 * TCP throughput, ping RTT, and the CPU seconds both agents spent during the transfer. Prints
 * the figures and the ratio weft / wireguard-go.
 * @module
 */

import { canBuildLabs, haveCommands, Lab } from "../../tests/fixtures/netns.ts";
import {
  iperf,
  type LabNode,
  type LabNodeSpec,
  startWeft,
  startWireguardGo,
} from "../../tests/fixtures/wg_lab.ts";
import { generateKeyPair } from "../../lib/crypto/keys.ts";

type Impl = "wireguard-go" | "weft";

/** One measured configuration. */
export interface NetBenchRow {
  /** Which implementation ran on each end. */
  pair: string;
  /** iperf3 TCP throughput, Mbit/s. */
  mbps: number;
  /** Average ping RTT over the tunnel, ms. */
  rttMs: number;
  /** CPU seconds both agents used during the iperf3 run. */
  cpuSeconds: number;
  /** Megabits carried per CPU second. */
  mbitPerCpuSecond: number;
}

function cpuTicks(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(f[11]) + Number(f[12]); // utime + stime
}

async function measure(
  left: Impl,
  right: Impl,
  seconds: number,
  extraWeftArgs: string[],
): Promise<NetBenchRow> {
  const lab = await Lab.create(["a", "b"]);
  const dir = await Deno.makeTempDir({ prefix: "weft-bench-" });
  try {
    const ka = generateKeyPair();
    const kb = generateKeyPair();
    const spec = (host: string, i: number, me: typeof ka, them: typeof kb): LabNodeSpec => ({
      host,
      iface: `wn${host}${lab.tag}`,
      privateKey: me.privateKey,
      address: `10.79.0.${i}/24`,
      port: 51820,
      peers: [{
        publicKey: them.publicKey,
        endpoint: `192.0.2.${3 - i}:51820`,
        allowedIps: [`10.79.0.${3 - i}/32`],
      }],
    });
    const start = (impl: Impl, s: LabNodeSpec): Promise<LabNode> =>
      impl === "weft" ? startWeft(lab, dir, s, extraWeftArgs) : startWireguardGo(lab, dir, s);
    const na = await start(left, spec("a", 1, ka, kb));
    const nb = await start(right, spec("b", 2, kb, ka));
    // Warm up: handshake and ARP.
    await lab.exec("a", "ping", "-c", "3", "-i", "0.2", "-W", "2", "10.79.0.2");
    const rtt = await lab.exec("a", "ping", "-c", "20", "-i", "0.05", "-W", "2", "10.79.0.2");
    const m = /= [\d.]+\/([\d.]+)\//.exec(rtt.stdout);
    const t0 = cpuTicks(na.child.pid) + cpuTicks(nb.child.pid);
    const bps = await iperf(lab, "b", "a", "10.79.0.2", seconds);
    const cpu = (cpuTicks(na.child.pid) + cpuTicks(nb.child.pid) - t0) / 100;
    const mbps = bps / 1e6;
    return {
      pair: `${left} -> ${right}`,
      mbps: Math.round(mbps),
      rttMs: m ? Number(m[1]) : NaN,
      cpuSeconds: Math.round(cpu * 100) / 100,
      mbitPerCpuSecond: Math.round(mbps * seconds / Math.max(cpu, 0.01)),
    };
  } finally {
    await lab.destroy();
    await Deno.remove(dir, { recursive: true });
  }
}

/** Runs the lab; null when this machine cannot (not root, or tools missing). */
export async function runNetBench(
  seconds = 8,
  extraWeftArgs: string[] = [],
): Promise<{ rows: NetBenchRow[]; ratio: number } | null> {
  if (!(await canBuildLabs()) || !(await haveCommands("wireguard-go", "wg", "iperf3", "ss"))) {
    return null;
  }
  const rows = [
    await measure("wireguard-go", "wireguard-go", seconds, extraWeftArgs),
    await measure("weft", "weft", seconds, extraWeftArgs),
    await measure("weft", "wireguard-go", seconds, extraWeftArgs),
  ];
  return { rows, ratio: rows[1].mbps / rows[0].mbps };
}

if (import.meta.main) {
  const res = await runNetBench(Number(Deno.env.get("BENCH_SECONDS") ?? 8), Deno.args);
  if (!res) {
    console.log("network lab skipped: needs root, ip netns, wireguard-go, wg, iperf3");
  } else {
    console.table(res.rows);
    console.log(`throughput ratio weft/wireguard-go: ${res.ratio.toFixed(2)}x`);
  }
}
