/**
 * The one bench table's rows (issue 51, item 4): every route and weft beside
 * wireguard-go-offload, whatever ran; figures land in their rows. No figure is asserted.
 */
import assert from "node:assert/strict";
import { SUMMARY_ROUTES, summaryTable } from "./summary.ts";
import {
  type BuildFigures,
  type MeasureKey,
  MEASURES,
  type NetBenchResult,
  tables,
} from "./net.ts";
import type { PathsBenchResult, PathsBenchRow } from "./paths.ts";

/** The rows the issue asks for: direct UDP, relayed UDP, TCP, WebSocket, wireguard-go-offload. */
const WANTED = [
  /^direct UDP/,
  /^relayed UDP/,
  /^TCP, relayed/,
  /^WebSocket, relayed/,
  /^weft, direct UDP$/,
  /^wireguard-go-offload, direct UDP$/,
];
const COLUMNS = ["route", "lab", "Mbit/s", "CPU-s/GB", "RTT p50 ms", "RTT p90 ms"];

function pathsRow(route: string, mbps: number): PathsBenchRow {
  return {
    route,
    seen: "",
    stable: true,
    moves: "",
    mbps,
    retransmits: 0,
    rttMs: 0.5,
    rttP90Ms: 0.9,
    loadedRttMs: 1,
    loadedP95Ms: 2,
    loadedLossPct: 0,
    tcpSendDrops: 0,
    relayDrops: 0,
    dropReasons: "",
    agentCpuS: 1,
    leaderCpuS: 0.5,
    cpuPerGB: 7.25,
    leaderCpuPerGb: 3.1,
    endCpuPerGb: 2.0,
  };
}

function figures(tcp1: number): Record<MeasureKey, number> {
  const f = Object.fromEntries(MEASURES.map(([k]) => [k, 1])) as Record<MeasureKey, number>;
  return { ...f, tcp1, rtt: 0.4, rttP90: 0.6, cpuPerGB: 8.1 };
}

Deno.test("summary: with no lab, every wanted row is there, saying it was skipped", () => {
  const t = summaryTable(null, null);
  for (const w of WANTED) {
    const r = t.find((x) => w.test(x.route));
    assert.ok(r, `no row ${w}: ${t.map((x) => x.route).join(", ")}`);
    assert.deepEqual(Object.keys(r), COLUMNS);
    assert.match(String(r["Mbit/s"]), /skipped/);
  }
  assert.equal(t.length, SUMMARY_ROUTES.length + 2);
});

Deno.test("summary: each bench's figures land in their rows; a route not measured says so", () => {
  const paths: PathsBenchResult = {
    rows: [
      pathsRow("direct UDP (NAT ↔ NAT, punched)", 1200),
      pathsRow("relayed UDP (random-fully ↔ random-fully)", 600),
      pathsRow("TCP, relayed (UDP blocked → NAT)", 300),
      pathsRow("WebSocket, relayed (HTTP only → NAT)", 250),
      pathsRow("TCP through an HTTP proxy (proxy only → leader)", 400),
    ],
    ratios: [],
    notes: [],
  };
  const builds: BuildFigures[] = [
    { build: { name: "weft", kind: "weft", version: "" }, figures: figures(1700) },
    {
      build: { name: "wireguard-go-offload", kind: "wireguard-go", version: "" },
      figures: figures(1500),
    },
    { build: { name: "wireguard-go", kind: "wireguard-go", version: "" }, error: "no start" },
  ];
  const net: NetBenchResult = { notes: [], builds, ...tables(builds) };
  const t = summaryTable(net, paths);
  const row = (w: RegExp) => t.find((x) => w.test(x.route))!;
  assert.deepEqual(
    [
      row(/^relayed UDP/)["Mbit/s"],
      row(/^relayed UDP/)["CPU-s/GB"],
      row(/^relayed UDP/)["RTT p90 ms"],
    ],
    [600, 7.3, 0.9],
  );
  assert.equal(row(/^WebSocket, relayed/)["Mbit/s"], 250);
  assert.equal(row(/^WebSocket to the leader/)["Mbit/s"], "not measured");
  assert.equal(row(/^TCP through an HTTP proxy/)["Mbit/s"], 400);
  assert.deepEqual(
    [row(/^weft, direct/)["Mbit/s"], row(/^weft, direct/)["RTT p50 ms"]],
    [1700, 0.4],
  );
  assert.equal(row(/^wireguard-go-offload, direct/)["RTT p90 ms"], 0.6);
  assert.equal(row(/^wireguard-go, direct/)["Mbit/s"], "failed");
  for (const w of WANTED) assert.ok(row(w), `no row ${w}`);
});
