/**
 * The one table of `deno task bench` (issue 51): every route a member's packets take — direct
 * UDP, relayed UDP, TCP and WebSocket (each relayed to a member and direct to the leader), TCP
 * through an HTTP proxy to the leader (measured where tinyproxy is installed) — with
 * throughput, CPU per GB and ping RTT p50/p90, beside weft and every wireguard-go build on both
 * ends of one tunnel, all from one run. The routes come from the NAT lab (`paths.ts`: a mesh,
 * members behind NATs, one iperf3 TCP stream, the idle RTT of 20 pings 0.2 s apart, every
 * agent's CPU, the relay's included); weft against wireguard-go from the network lab (`net.ts`:
 * two namespaces, no NAT, TCP 1 stream, the fresh tunnel's RTT of 50 pings 0.05 s apart, both
 * agents' CPU). A row whose bench could not run says so. Figures, never assertions.
 *
 *   deno run -A --unstable-net scripts/bench/summary.ts [--seconds S] [--rounds N]
 * @module
 */

import { type NetBenchResult, runNetBench } from "./net.ts";
import { type PathsBenchResult, type PathsBenchRow, runPathsBench } from "./paths.ts";

/** One row of the table. */
export interface SummaryRow {
  /** The route, or the implementation for the network lab's rows. */
  route: string;
  /** Which lab measured it. */
  lab: string;
  /** iperf3 TCP, one stream, Mbit/s received; the reason when not measured. */
  "Mbit/s": number | string;
  /** The agents' CPU seconds per GB received. */
  "CPU-s/GB": number | string;
  /** Ping RTT median, ms. */
  "RTT p50 ms": number | string;
  /** Ping RTT 90th percentile, ms. */
  "RTT p90 ms": number | string;
}

/** The NAT lab's routes in the table, by the start of their `paths.ts` route name. */
export const SUMMARY_ROUTES: readonly (readonly [label: string, prefix: string])[] = [
  ["direct UDP (punched, NAT ↔ NAT)", "direct UDP"],
  ["relayed UDP (through the leader)", "relayed UDP"],
  ["TCP, relayed (UDP blocked)", "TCP, relayed"],
  ["TCP to the leader (UDP blocked)", "TCP, direct"],
  ["WebSocket, relayed (HTTP only)", "WebSocket, relayed"],
  ["WebSocket to the leader (HTTP only)", "WebSocket, direct"],
  ["TCP through an HTTP proxy to the leader", "TCP through an HTTP proxy"],
  ["UDP to the leader", "UDP, direct"],
];

/** The network lab's implementations in the table: weft first, then what it found. */
const NET_LAB = "2 namespaces, no NAT";
const NAT_LAB = "NAT lab, mesh";

const round = (x: number, digits: number) =>
  Number.isFinite(x) ? Math.round(x * 10 ** digits) / 10 ** digits : "n/a";

function missing(route: string, lab: string, why: string): SummaryRow {
  return { route, lab, "Mbit/s": why, "CPU-s/GB": "", "RTT p50 ms": "", "RTT p90 ms": "" };
}

/**
 * The table from the two benches' results (null: that bench was skipped): the NAT lab's routes,
 * then weft and each wireguard-go build of the network lab (at least weft and
 * `wireguard-go-offload`, marked not measured when absent).
 */
export function summaryTable(
  net: NetBenchResult | null,
  paths: PathsBenchResult | null,
): SummaryRow[] {
  const rows: SummaryRow[] = SUMMARY_ROUTES.map(([label, prefix]) => {
    const r: PathsBenchRow | undefined = paths?.rows.find((x) => x.route.startsWith(prefix));
    if (!r) return missing(label, NAT_LAB, paths ? "not measured" : "skipped (root)");
    return {
      route: label,
      lab: NAT_LAB,
      "Mbit/s": round(r.mbps, 0),
      "CPU-s/GB": round(r.cpuPerGB, 1),
      "RTT p50 ms": round(r.rttMs, 3),
      "RTT p90 ms": round(r.rttP90Ms, 3),
    };
  });
  const names = ["weft", "wireguard-go-offload"];
  for (const b of net?.builds ?? []) if (!names.includes(b.build.name)) names.push(b.build.name);
  for (const name of names) {
    const route = `${name}, direct UDP`;
    const b = net?.builds.find((x) => x.build.name === name);
    if (!b?.figures) {
      rows.push(missing(route, NET_LAB, !net ? "skipped (root)" : b?.error ? "failed" : "absent"));
      continue;
    }
    const f = b.figures;
    rows.push({
      route,
      lab: NET_LAB,
      "Mbit/s": round(f.tcp1, 0),
      "CPU-s/GB": round(f.cpuPerGB, 1),
      "RTT p50 ms": round(f.rtt, 3),
      "RTT p90 ms": round(f.rttP90, 3),
    });
  }
  return rows;
}

/** What the table's rows mean, for under it. */
export const SUMMARY_NOTE =
  "throughput: iperf3 TCP 1 stream; CPU: every agent's CPU-s per GB received (relays included); " +
  "RTT: the NAT lab's idle pings (20, 0.2 s apart), the network lab's fresh tunnel (50, 0.05 s " +
  "apart); compare rows of one lab";

if (import.meta.main) {
  const arg = (name: string, fallback: number) => {
    const i = Deno.args.indexOf(name);
    return i >= 0 ? Number(Deno.args[i + 1]) : fallback;
  };
  const seconds = arg("--seconds", Number(Deno.env.get("BENCH_SECONDS") ?? 5));
  const net = await runNetBench({ seconds });
  const paths = await runPathsBench(Math.max(3, seconds), arg("--rounds", 1));
  for (const n of [...(net?.notes ?? []), ...(paths?.notes ?? [])]) console.log(`note: ${n}`);
  console.table(summaryTable(net, paths));
  console.log(SUMMARY_NOTE);
}
