/**
 * The one bench table's rows (issue 51, item 4): every route and weft beside
 * wireguard-go-offload, whatever ran; figures land in their rows. No figure is asserted.
 */
import assert from "node:assert/strict";
import {
  relayCheck,
  SUMMARY_ROUTES,
  summaryRoundRows,
  summaryRounds,
  summaryTable,
} from "./summary.ts";
import {
  type BuildFigures,
  type MeasureKey,
  MEASURES,
  medianFigures,
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
const COLUMNS = [
  "route",
  "lab",
  "Mbit/s",
  "CPU-s/GB",
  "relay CPU-s/GB",
  "end CPU-s/GB",
  "RTT p50 ms",
  "RTT p90 ms",
];

function pathsRow(
  route: string,
  mbps: number,
  leaderCpuPerGb = 3.1,
  endCpuPerGb = 2.0,
): PathsBenchRow {
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
    leaderCpuPerGb,
    endCpuPerGb,
  };
}

function figures(tcp1: number, cpuPerGB = 8.1): Record<MeasureKey, number> {
  const f = Object.fromEntries(MEASURES.map(([k]) => [k, 1])) as Record<MeasureKey, number>;
  return { ...f, tcp1, rtt: 0.4, rttP90: 0.6, cpuPerGB };
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
  const net: NetBenchResult = { notes: [], builds, loads: [3.5], ...tables(builds) };
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

Deno.test("summary: the network lab in rounds: medians in the table, each round's load and ratios under it", () => {
  const weftRounds = [figures(3000, 3), figures(2000, 4), figures(4000, 2.5)];
  // The offloading build failed in the second round.
  const offRounds = [figures(1000, 6), undefined, figures(2000, 4)];
  const builds: BuildFigures[] = [
    {
      build: { name: "weft", kind: "weft", version: "" },
      figures: medianFigures(weftRounds),
      rounds: weftRounds,
    },
    {
      build: { name: "wireguard-go-offload", kind: "wireguard-go", version: "" },
      figures: medianFigures(offRounds),
      rounds: offRounds,
    },
  ];
  const net: NetBenchResult = { notes: [], builds, loads: [8.6, 3.5, 1.2], ...tables(builds) };
  const t = summaryTable(net, null);
  const row = (w: RegExp) => t.find((x) => w.test(x.route))!;
  assert.deepEqual([row(/^weft, direct/)["Mbit/s"], row(/^weft, direct/)["CPU-s/GB"]], [3000, 3]);
  assert.deepEqual(
    [
      row(/^wireguard-go-offload, direct/)["Mbit/s"],
      row(/^wireguard-go-offload, direct/)["CPU-s/GB"],
    ],
    [1500, 5],
  );
  const r = summaryRounds(net);
  assert.deepEqual(r.rounds.map((x) => x.load), [8.6, 3.5, 1.2]);
  const rows = summaryRoundRows(r);
  assert.deepEqual(
    rows.map((x) => [x.round, x["load at start"], x["throughput ratio"], x["CPU-s/GB ratio"]]),
    [[1, 8.6, 3, 0.5], [2, 3.5, "n/a", "n/a"], [3, 1.2, 2, 0.63], [
      "median",
      "1.2 to 8.6",
      2.5,
      0.56,
    ]],
  );
  assert.equal(rows[1]["wireguard-go-offload Mbit/s"], "failed");
});

Deno.test("summary: one round (the plain network lab): its figures are the round's", () => {
  const builds: BuildFigures[] = [
    { build: { name: "weft", kind: "weft", version: "" }, figures: figures(3000, 3) },
    {
      build: { name: "wireguard-go-offload", kind: "wireguard-go", version: "" },
      figures: figures(2000, 5),
    },
  ];
  const net: NetBenchResult = { notes: [], builds, loads: [2], ...tables(builds) };
  const r = summaryRounds(net);
  assert.deepEqual([r.rounds.length, r.throughput, r.cpuPerGB], [1, 1.5, 0.6]);
  assert.equal(summaryRounds(null).rounds.length, 0);
});

Deno.test("summary: the relay's own and an end's CPU per GB have columns; the relay's only where it relays", () => {
  const paths: PathsBenchResult = {
    rows: [
      pathsRow("direct UDP (NAT ↔ NAT, punched)", 2000, 0.04, 3.6),
      pathsRow("relayed UDP (random-fully ↔ random-fully)", 1000, 2.9, 4.96),
      pathsRow("WebSocket, relayed (HTTP only → NAT)", 760, 6.04, 5.8),
      pathsRow("WebSocket, direct (HTTP only → leader)", 1030, 6.5, 6.6),
    ],
    ratios: [],
    notes: [],
  };
  const builds: BuildFigures[] = [
    { build: { name: "weft", kind: "weft", version: "" }, figures: figures(1700, 7.3) },
  ];
  const net: NetBenchResult = { notes: [], builds, loads: [1], ...tables(builds) };
  const t = summaryTable(net, paths);
  const row = (w: RegExp) => t.find((x) => w.test(x.route))!;
  const cpu = (w: RegExp) => [row(w)["relay CPU-s/GB"], row(w)["end CPU-s/GB"]];
  assert.deepEqual(cpu(/^direct UDP/), ["", 3.6]);
  assert.deepEqual(cpu(/^relayed UDP/), [2.9, 5]);
  assert.deepEqual(cpu(/^WebSocket, relayed/), [6, 5.8]);
  // To the leader, the leader is an end: no relay on that path.
  assert.deepEqual(cpu(/^WebSocket to the leader/), ["", 6.6]);
  assert.deepEqual(cpu(/^TCP, relayed/), ["", ""]);
  // The network lab's two agents are both ends.
  assert.deepEqual(cpu(/^weft, direct/), ["", 3.7]);
  for (const r of t) assert.deepEqual(Object.keys(r), COLUMNS);
});

Deno.test("summary: each relayed route against direct UDP: its share of direct, the relay against the data path", () => {
  const paths: PathsBenchResult = {
    rows: [
      pathsRow("direct UDP (NAT ↔ NAT, punched)", 2000, 0.04, 4),
      pathsRow("relayed UDP (random-fully ↔ random-fully)", 1000, 2, 5),
      pathsRow("TCP, relayed (UDP blocked → NAT)", 1300, 3, 5),
      pathsRow("TCP, direct (UDP blocked → leader)", 1600, 4, 4),
      pathsRow("WebSocket, relayed (HTTP only → NAT)", 700, 6, 6),
    ],
    ratios: [],
    notes: [],
  };
  const rows = relayCheck(paths);
  assert.deepEqual(
    rows.map((r) => [
      r.route.split(" (")[0],
      r["of direct"],
      r["relay CPU-s/GB"],
      r["data path CPU-s/GB"],
      r["relay / data path"],
    ]),
    [
      ["relayed UDP", 0.5, 2, 4, 0.5],
      ["TCP, relayed", 0.65, 3, 4, 0.75],
      ["WebSocket, relayed", 0.35, 6, 4, 1.5],
    ],
  );
  // Nothing to hold them against: no rows.
  assert.deepEqual(relayCheck(null), []);
  assert.deepEqual(relayCheck({ rows: paths.rows.slice(1), ratios: [], notes: [] }), []);
});
