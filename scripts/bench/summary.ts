/**
 * The one table of `deno task bench` (issue 51): every route a member's packets take — direct
 * UDP, relayed UDP, TCP and WebSocket (each relayed to a member and direct to the leader), TCP
 * through an HTTP proxy to the leader (measured where tinyproxy is installed) — with
 * throughput, CPU per GB and ping RTT p50/p90, beside weft and every wireguard-go build on both
 * ends of one tunnel, all from one run. The routes come from the NAT lab (`paths.ts`: a mesh,
 * members behind NATs, one iperf3 TCP stream, the idle RTT of 20 pings 0.2 s apart, every
 * agent's CPU, the relay's included); weft against wireguard-go from the network lab (`net.ts`:
 * two namespaces, no NAT, TCP 1 stream, the fresh tunnel's RTT of 50 pings 0.05 s apart, both
 * agents' CPU). Beside every agent's CPU per GB, the relay's own (the leader's, on a relayed
 * row) and one end's (the sender's and the receiver's averaged); under the table, each relayed
 * route against direct UDP of the same run: its share of direct's throughput and the relay's CPU
 * per GB over the data path's (an end's on direct UDP), the two things issue 51 asks of a relay.
 * A row whose bench could not run says so. Figures, never assertions.
 *
 * The network lab's builds are measured in interleaved rounds (weft, wireguard-go-offload,
 * wireguard-go, weft, ...; 3 unless `--rounds N`), their rows the medians over the rounds: a
 * shared machine's load moves within minutes and falls unevenly on the builds (the offloading
 * wireguard-go's pipeline of threads loses more to it than weft's one thread), so only figures of
 * one round are compared. Under the table: each round's load at its start and weft's throughput
 * and CPU per GB against wireguard-go-offload's in that round, and the median of those ratios.
 * `--rounds N` also repeats the NAT lab's routes N times (1 without it); `--json FILE` writes the
 * table and the rounds there too.
 *
 *   deno run -A --unstable-net scripts/bench/summary.ts [--seconds S] [--rounds N] [--json FILE]
 * @module
 */

import { type NetBenchResult, runNetBench } from "./net.ts";
import { type PathsBenchResult, type PathsBenchRow, runPathsBench } from "./paths.ts";
import { type RoundRatios, roundRatios } from "./round_ratios.ts";
import { destroyLabsOnSignal } from "../../tests/fixtures/netns.ts";

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
  /** The relay's (the leader's) own CPU seconds per GB received; blank where nothing relays. */
  "relay CPU-s/GB": number | string;
  /** One end's CPU seconds per GB received (the sender's and the receiver's, averaged). */
  "end CPU-s/GB": number | string;
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

/** Whether a route of {@link SUMMARY_ROUTES} (by its prefix) goes through the leader's relay. */
const isRelayed = (prefix: string) => prefix.includes("relayed");

/** The network lab's implementations in the table: weft first, then what it found. */
const NET_LAB = "2 namespaces, no NAT";
const NAT_LAB = "NAT lab, mesh";

const round = (x: number, digits: number) =>
  Number.isFinite(x) ? Math.round(x * 10 ** digits) / 10 ** digits : "n/a";

function missing(route: string, lab: string, why: string): SummaryRow {
  return {
    route,
    lab,
    "Mbit/s": why,
    "CPU-s/GB": "",
    "relay CPU-s/GB": "",
    "end CPU-s/GB": "",
    "RTT p50 ms": "",
    "RTT p90 ms": "",
  };
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
      // On a route to the leader the leader is an end (in the end's column), not a relay.
      "relay CPU-s/GB": isRelayed(prefix) ? round(r.leaderCpuPerGb, 1) : "",
      "end CPU-s/GB": round(r.endCpuPerGb, 1),
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
      "relay CPU-s/GB": "",
      // Two agents, both ends: an end's share, as the NAT lab's end column averages its two.
      "end CPU-s/GB": round(f.cpuPerGB / 2, 1),
      "RTT p50 ms": round(f.rtt, 3),
      "RTT p90 ms": round(f.rttP90, 3),
    });
  }
  return rows;
}

/** The build every round's ratios are against. */
export const SUMMARY_AGAINST = "wireguard-go-offload";

/** weft against {@link SUMMARY_AGAINST} round by round, from the network lab's rounds. */
export function summaryRounds(net: NetBenchResult | null): RoundRatios {
  const rounds = (name: string) => {
    const b = net?.builds.find((x) => x.build.name === name);
    // One round: its figures are the round's.
    return b?.rounds ?? (b ? [b.figures] : []);
  };
  const weft = rounds("weft");
  const other = rounds(SUMMARY_AGAINST);
  const fig = (f: { tcp1: number; cpuPerGB: number } | undefined) =>
    f && { mbps: f.tcp1, cpuPerGB: f.cpuPerGB };
  return roundRatios(
    (net?.loads ?? []).map((load, i) => ({ load, weft: fig(weft[i]), other: fig(other[i]) })),
  );
}

/** A row of the rounds' table. */
export type SummaryRoundRow = Record<string, string | number>;

/** The rounds' table: a row per round (its load at the start, both sides, the ratios), the median. */
export function summaryRoundRows(r: RoundRatios): SummaryRoundRow[] {
  const o = SUMMARY_AGAINST;
  const rows: SummaryRoundRow[] = r.rounds.map((x) => ({
    round: x.round,
    "load at start": x.load,
    "weft Mbit/s": x.weft ? round(x.weft.mbps, 0) : "failed",
    [`${o} Mbit/s`]: x.other ? round(x.other.mbps, 0) : "failed",
    "weft CPU-s/GB": x.weft ? round(x.weft.cpuPerGB, 2) : "",
    [`${o} CPU-s/GB`]: x.other ? round(x.other.cpuPerGB, 2) : "",
    "throughput ratio": round(x.throughput, 2),
    "CPU-s/GB ratio": round(x.cpuPerGB, 2),
  }));
  rows.push({
    round: "median",
    "load at start": Number.isFinite(r.loadRange[0])
      ? `${r.loadRange[0]} to ${r.loadRange[1]}`
      : "",
    "weft Mbit/s": "",
    [`${o} Mbit/s`]: "",
    "weft CPU-s/GB": "",
    [`${o} CPU-s/GB`]: "",
    "throughput ratio": round(r.throughput, 2),
    "CPU-s/GB ratio": round(r.cpuPerGB, 2),
  });
  return rows;
}

/** Prints the rounds' table under the summary (nothing when the network lab did not run). */
export function printSummaryRounds(net: NetBenchResult | null): void {
  if (!net) return;
  console.log(
    `weft against ${SUMMARY_AGAINST}, round by round (network lab, TCP 1 stream; throughput: >1 ` +
      "is better for weft; CPU-s/GB: <1), the load average at each round's start:",
  );
  console.table(summaryRoundRows(summaryRounds(net)));
}

/** A relayed route against direct UDP in the same run: what the relay carries and costs. */
export interface RelayCheckRow {
  /** The relayed route (a label of {@link SUMMARY_ROUTES}). */
  route: string;
  /** Its throughput over direct UDP's (wanted: at least 0.5). */
  "of direct": number | string;
  /** The relay's own CPU seconds per GB on it. */
  "relay CPU-s/GB": number | string;
  /** One end's CPU seconds per GB on direct UDP: the data path's cost. */
  "data path CPU-s/GB": number | string;
  /** The relay's over the data path's (wanted: at most 1). */
  "relay / data path": number | string;
}

/**
 * Each relayed route of the NAT lab against direct UDP of the same run: the share of direct's
 * throughput it carries and the relay's CPU per GB over an end's on direct UDP (the data path's);
 * empty when the NAT lab did not run or direct UDP was not measured.
 */
export function relayCheck(paths: PathsBenchResult | null): RelayCheckRow[] {
  const find = (prefix: string) => paths?.rows.find((x) => x.route.startsWith(prefix));
  const direct = find("direct UDP");
  if (!direct) return [];
  const out: RelayCheckRow[] = [];
  for (const [label, prefix] of SUMMARY_ROUTES) {
    if (!isRelayed(prefix)) continue;
    const r = find(prefix);
    if (!r) continue;
    out.push({
      route: label,
      "of direct": round(r.mbps / direct.mbps, 2),
      "relay CPU-s/GB": round(r.leaderCpuPerGb, 1),
      "data path CPU-s/GB": round(direct.endCpuPerGb, 1),
      "relay / data path": round(r.leaderCpuPerGb / direct.endCpuPerGb, 2),
    });
  }
  return out;
}

/** What {@link relayCheck}'s rows mean, for under them. */
export const RELAY_CHECK_NOTE =
  "relayed routes against direct UDP of the same run: throughput over direct's (wanted: at " +
  "least 0.5), the relay's (the leader's) own CPU-s per GB over one end's on direct UDP (the " +
  "data path's; wanted: at most 1)";

/** Prints {@link relayCheck}'s table and its note (nothing when there are no rows). */
export function printRelayCheck(paths: PathsBenchResult | null): void {
  const rows = relayCheck(paths);
  if (rows.length === 0) return;
  console.table(rows);
  console.log(RELAY_CHECK_NOTE);
}

/** What the table's rows mean, for under it. */
export const SUMMARY_NOTE =
  "throughput: iperf3 TCP 1 stream; CPU: every agent's CPU-s per GB received (relays included); " +
  "relay: the leader's own, on relayed rows; end: the sender's and the receiver's, averaged " +
  "(the network lab's: half its two agents'); " +
  "RTT: the NAT lab's idle pings (20, 0.2 s apart), the network lab's fresh tunnel (50, 0.05 s " +
  "apart); the network lab's rows: medians over its interleaved rounds; compare rows of one lab";

if (import.meta.main) {
  destroyLabsOnSignal();
  const at = (name: string) => Deno.args.indexOf(name);
  const arg = (name: string, fallback: number) =>
    at(name) >= 0 ? Number(Deno.args[at(name) + 1]) : fallback;
  const seconds = arg("--seconds", Number(Deno.env.get("BENCH_SECONDS") ?? 5));
  const rounds = arg("--rounds", 0);
  if (!Number.isInteger(rounds) || rounds < 0 || (at("--rounds") >= 0 && rounds < 1)) {
    console.error("--rounds takes a positive integer");
    Deno.exit(2);
  }
  const json = at("--json") >= 0 ? Deno.args[at("--json") + 1] : undefined;
  // The network lab: its rounds interleaved, the summary's columns only, one run each.
  const net = await runNetBench({ seconds, rounds: rounds || 3, runs: 1, quick: true });
  const paths = await runPathsBench(Math.max(3, seconds), rounds || 1);
  for (const n of [...(net?.notes ?? []), ...(paths?.notes ?? [])]) console.log(`note: ${n}`);
  const table = summaryTable(net, paths);
  console.table(table);
  console.log(SUMMARY_NOTE);
  printRelayCheck(paths);
  printSummaryRounds(net);
  if (json) {
    const ratios = summaryRounds(net);
    await Deno.writeTextFile(
      json,
      JSON.stringify(
        {
          table,
          note: SUMMARY_NOTE,
          relayed: relayCheck(paths),
          against: SUMMARY_AGAINST,
          rounds: ratios,
        },
        (_k, v) => typeof v === "number" && !Number.isFinite(v) ? null : v,
        2,
      ) + "\n",
    );
  }
}
