/**
 * The NAT benchmark (root): for each NAT shape of issue 13, two members join a mesh whose leader
 * is on the internet at once, and the time from both joined (the later of their "joined" log
 * lines) to the first echo reply between them is measured (pinging every 50 ms from the moment
 * both lines are there), over several runs: the median, the fastest and the slowest. Each shape keeps one lab and leader; every run joins two fresh
 * members (new keys and state) after the routers forgot their mappings, and removes them after.
 * Behind two `--random-fully` NATs no direct path exists: that pair talks through the leader's
 * relay (issue 14), so its time includes the 5 s given to the direct path first; the path column
 * says which way the pair went.
 *
 *   deno run -A --unstable-net scripts/bench/nat.ts [--runs N] [--only TEXT]
 *
 * `--only` keeps the shapes whose name contains TEXT.
 * @module
 */

import { canBuildLabs, destroyLabsOnSignal, haveCommands } from "../../tests/fixtures/netns.ts";
import { LEADER, NatMesh } from "../../tests/fixtures/nat_mesh.ts";
import type { NatLabSpec } from "../../tests/fixtures/nat_lab.ts";
import { peerView, weftIn } from "../../tests/fixtures/mesh_lab.ts";

/** One NAT shape's figures. */
export interface NatBenchRow {
  /** The shape. */
  shape: string;
  /** Runs measured. */
  runs: number;
  /** Median ms from both joined to the first reply. */
  medianMs: number;
  /** Fastest run, ms. */
  minMs: number;
  /** Slowest run, ms. */
  maxMs: number;
  /** The path the first member shows for the second after the last run. */
  path: string;
}

interface Shape {
  name: string;
  spec: NatLabSpec;
  members: [string, string];
  /** A direct path is expected (else the pair is relayed). */
  direct: boolean;
}

const SHAPES: Shape[] = [
  {
    name: "two NATs (masquerade)",
    spec: {
      internet: [LEADER],
      sites: { a: { nat: "masquerade", hosts: ["x"] }, b: { nat: "masquerade", hosts: ["y"] } },
    },
    members: ["x", "y"],
    direct: true,
  },
  {
    name: "same NAT, no hairpin",
    spec: { internet: [LEADER], sites: { a: { nat: "masquerade", hosts: ["x", "y"] } } },
    members: ["x", "y"],
    direct: true,
  },
  {
    name: "NAT + public",
    spec: { internet: [LEADER, "y"], sites: { a: { nat: "masquerade", hosts: ["x"] } } },
    members: ["x", "y"],
    direct: true,
  },
  {
    name: "two NATs (random-fully)",
    spec: {
      internet: [LEADER],
      sites: {
        a: { nat: "random-fully", hosts: ["x"] },
        b: { nat: "random-fully", hosts: ["y"] },
      },
    },
    members: ["x", "y"],
    direct: false,
  },
];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** One shape, `runs` times. */
async function benchShape(shape: Shape, runs: number): Promise<NatBenchRow> {
  const m = await NatMesh.create(shape.spec, { ifPrefix: "bn" });
  const [x, y] = shape.members;
  const times: number[] = [];
  let path = "?";
  try {
    for (let i = 0; i < runs; i++) {
      for (const r of m.lab.routers) await m.lab.flushMappings(r.site);
      const joined = await m.joinStart([x, y]);
      const t = await m.firstReply(x, y, 60);
      if (t !== null) times.push(Date.now() - joined);
      await m.settle([x, y]);
      path = (await peerView(m.lab, x, y))?.path ?? "?";
      if (t === null) {
        throw new Error(`${shape.name}: no reply in run ${i + 1}\n${m.log(x).slice(-4000)}`);
      }
      // Fresh members next time: gone from the mesh, state removed.
      for (const h of [x, y]) {
        await m.stop(h);
        await weftIn(m.lab, LEADER, m.dir, "node", "remove", h);
        await Deno.remove(`${m.dir}/${h}`, { recursive: true });
      }
    }
  } finally {
    await m.close();
  }
  return {
    shape: shape.name,
    runs: times.length,
    medianMs: Math.round(median(times)),
    minMs: Math.round(Math.min(...times)),
    maxMs: Math.round(Math.max(...times)),
    path,
  };
}

/** Every shape; null when this machine cannot build the lab (root, ip netns, iptables...). */
export async function runNatBench(runs = 20, only = ""): Promise<NatBenchRow[] | null> {
  if (!(await canBuildLabs()) || !(await haveCommands("ping", "iptables", "conntrack"))) {
    return null;
  }
  const rows: NatBenchRow[] = [];
  for (const s of SHAPES) if (s.name.includes(only)) rows.push(await benchShape(s, runs));
  return rows;
}

if (import.meta.main) {
  destroyLabsOnSignal();
  const i = Deno.args.indexOf("--runs");
  const runs = i >= 0 ? Number(Deno.args[i + 1]) : 20;
  if (!Number.isInteger(runs) || runs < 1) {
    console.error("--runs takes a positive integer");
    Deno.exit(2);
  }
  const o = Deno.args.indexOf("--only");
  const rows = await runNatBench(runs, o >= 0 ? Deno.args[o + 1] : "");
  if (!rows) console.log("skipped: needs root, ip netns, iptables, conntrack, ping");
  else console.table(rows);
}
