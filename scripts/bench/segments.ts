/**
 * Layer 2 segments against the overlay itself (root only): two members a and b in a segment, a
 * "VM" plugged into each one's bridge; iperf3 TCP (one stream, `seconds` each) between the VMs
 * (VXLAN inside the tunnel) and between a and b's overlay addresses, interleaved, `runs` times
 * each, in the same lab. Prints the medians and the ratio (segment / overlay): what the frames'
 * encapsulation and the bridges cost.
 *
 * Alone: `deno run -A scripts/bench/segments.ts [--seconds N] [--runs N]`.
 * @module
 */

import {
  canBuildLabs,
  destroyLabsOnSignal,
  haveCommands,
  Lab,
} from "../../tests/fixtures/netns.ts";
import { startMeshNode, waitUp, weftIn } from "../../tests/fixtures/mesh_lab.ts";
import { plugVm, unplugUnderlay, waitSegments } from "../../tests/fixtures/segment_lab.ts";

/** The segment's MTU: the overlay's 1420 less VXLAN's 50 bytes. */
const SEG_MTU = 1370;

/** One row of the bench. */
export interface SegmentsBenchRow {
  /** What was measured. */
  path: string;
  /** Median received Mbit/s. */
  mbps: number;
  /** Every run's. */
  runs: string;
}

/** The rows and the ratio, or null where the lab cannot be built. */
export interface SegmentsBenchResult {
  rows: SegmentsBenchRow[];
  /** Segment throughput over overlay throughput (medians). */
  ratio: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

async function iperf(lab: Lab, from: string, to: string, seconds: number): Promise<number> {
  const r = await lab.exec(from, "iperf3", "-J", "-c", to, "-t", String(seconds), "-O", "1");
  if (r.code !== 0) throw new Error(`iperf3 ${from} -> ${to}: ${r.stdout.slice(0, 300)}`);
  const j = JSON.parse(r.stdout);
  return Math.round(j.end.sum_received.bits_per_second / 1e6);
}

/** Runs the bench; null where it cannot (not root, no iperf3, no bridge). */
export async function runSegmentsBench(
  opts: { seconds?: number; runs?: number } = {},
): Promise<SegmentsBenchResult | null> {
  if (!(await canBuildLabs()) || !(await haveCommands("iperf3", "bridge", "iptables"))) {
    return null;
  }
  const seconds = opts.seconds ?? 5;
  const runs = opts.runs ?? 3;
  const lab = await Lab.create(["lead", "a", "b", "va", "vb"]);
  const dir = await Deno.makeTempDir({ prefix: "weft-bench-seg-" });
  const mesh = { dir, cidr: "10.97.0.0/24", ifPrefix: "ws", extra: [] };
  try {
    await unplugUnderlay(lab, "va");
    await unplugUnderlay(lab, "vb");
    const leader = startMeshNode(lab, mesh, "lead", ["--leader"]);
    await waitUp(lab, "lead", dir, leader);
    await Deno.writeTextFile(
      `${dir}/policy.yaml`,
      'segments:\n  - { name: lab, vni: 42, select: "seg=yes" }\n',
    );
    const applied = await weftIn(lab, "lead", dir, "policy", "apply", `${dir}/policy.yaml`);
    if (applied.code !== 0) throw new Error(applied.stderr);
    const addr: Record<string, string> = {};
    for (const host of ["a", "b"]) {
      const tok = await weftIn(lab, "lead", dir, "token", "create", "--label", "seg=yes");
      const run = startMeshNode(lab, mesh, host, ["--join", tok.stdout.trim()]);
      await waitUp(lab, host, dir, run);
    }
    for (const host of ["a", "b"]) {
      await waitSegments(lab, host, ["lab:2"], SEG_MTU);
      const out = await lab.run(
        host,
        "ip",
        "-4",
        "-o",
        "addr",
        "show",
        "dev",
        `ws${host}${lab.tag}`,
      );
      addr[host] = /inet (\S+)\//.exec(out)![1];
    }
    await plugVm(lab, { vm: "va", on: "a", seg: "lab", ip: "198.18.1.1" }, SEG_MTU);
    await plugVm(lab, { vm: "vb", on: "b", seg: "lab", ip: "198.18.1.2" }, SEG_MTU);
    lab.spawn("b", "iperf3", ["-s"]);
    lab.spawn("vb", "iperf3", ["-s"]);
    // The first frames teach the bridges; iperf3's servers need a moment to listen.
    for (let i = 0; i < 50; i++) {
      const ok = (await lab.exec("va", "ping", "-c", "1", "-W", "1", "198.18.1.2")).code === 0 &&
        (await lab.exec("vb", "sh", "-c", "ss -ltn | grep -q :5201")).code === 0 &&
        (await lab.exec("b", "sh", "-c", "ss -ltn | grep -q :5201")).code === 0;
      if (ok) break;
    }
    const overlay: number[] = [];
    const segment: number[] = [];
    for (let i = 0; i < runs; i++) {
      overlay.push(await iperf(lab, "a", addr.b, seconds));
      segment.push(await iperf(lab, "va", "198.18.1.2", seconds));
    }
    const rows = [
      { path: "overlay: a -> b (TUN, WireGuard)", mbps: median(overlay), runs: overlay.join(", ") },
      {
        path: "segment: VM at a -> VM at b (VXLAN in WireGuard)",
        mbps: median(segment),
        runs: segment.join(", "),
      },
    ];
    return { rows, ratio: Math.round(median(segment) / median(overlay) * 100) / 100 };
  } finally {
    await lab.destroy();
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) {
  destroyLabsOnSignal();
  const arg = (name: string) => {
    const i = Deno.args.indexOf(name);
    return i >= 0 ? Number(Deno.args[i + 1]) : undefined;
  };
  const r = await runSegmentsBench({ seconds: arg("--seconds"), runs: arg("--runs") });
  if (!r) console.log("skipped: needs root, ip netns, iperf3, bridge, iptables");
  else {
    console.table(r.rows);
    console.log(`segment / overlay: ${r.ratio}`);
  }
}
