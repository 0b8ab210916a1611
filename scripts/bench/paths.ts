/**
 * The routes benchmark (root): issue 14's direct UDP, relayed UDP and TCP, side by side in one
 * NAT lab run. One mesh, its leader on the internet, four members on four sites:
 *
 * - `da`, `db` behind port-preserving MASQUERADE NATs: they punch through (direct UDP), and
 *   `db` reaches the leader over UDP;
 * - `sa`, `sb` behind `--random-fully` NATs: no direct path, relayed by the leader over UDP;
 * - then `db`'s site drops all UDP (`blockUdp`): `db` goes over TCP to the leader, which relays
 *   to `da` (TCP, relayed), and to the leader itself (TCP, direct). The same two hosts as the
 *   UDP rows, so the rows differ only by the route;
 * - then `db`'s site lets out only TCP that starts as HTTP (tests/fixtures/http_only.ts): `db`
 *   goes over a WebSocket (issue 49), on the same port and without a restart: relayed to `da`,
 *   and to the leader itself;
 * - `px`, beside `da`, of whose packets the site lets out only TCP to an HTTP proxy (tinyproxy,
 *   on the internet: `prox`), joined with `HTTPS_PROXY`: over TCP through the proxy to the
 *   leader. Without tinyproxy that row is left out, saying so.
 *
 * For each pair, once the `/status` of both ends (and the leader's view of `db`) shows the
 * expected path and transport, and has for 3 s: ping RTT idle (median of 20, 0.2 s apart),
 * iperf3 TCP one stream for `seconds` (received Mbit/s, the sender's retransmits), and ping RTT
 * *while* iperf3 runs (median, p95, loss): head-of-line blocking, since on TCP the pings queue
 * behind the bulk stream on one connection. The iperf3 rows over the TCP transport are TCP over
 * TCP. Also the drops the agents' TCP underlay and relays counted (and why), the CPU seconds all
 * agents (and the leader) spent during the transfer, the leader's (on a relayed row, the relay's)
 * and the two ends' CPU seconds per GB received, and whether the pair's path moved while
 * measured (its `pathChangedAt`, and the sender's log lines about the receiver).
 * Figures, never assertions; ratios are against direct UDP.
 *
 * `--rounds N` measures every route N times, interleaved (unblocking `db`'s site between rounds),
 * and reports the medians: on a busy machine one round's figures swing.
 *
 *   deno run -A --unstable-net scripts/bench/paths.ts [--seconds S] [--rounds N]
 *
 * `PATHS_BENCH_PROFILE=DIR` writes each row's profile there (scripts/bench/paths_profile.ts:
 * per-thread CPU per GB and context switches, batch and relay counters, the namespaces' UDP
 * drops, the machine's idle time, the inner TCP's window; with `PATHS_BENCH_PERF=1` a
 * `perf record` of each agent).
 *
 * `PATHS_BENCH_DEBUG=1` prints the sender's view of the receiver before and after each pair, and
 * both ends' log lines about paths, relays and TCP while it was measured.
 * @module
 */

import {
  canBuildLabs,
  destroyLabsOnSignal,
  eventually,
  haveCommands,
} from "../../tests/fixtures/netns.ts";
import { LEADER, NatMesh } from "../../tests/fixtures/nat_mesh.ts";
import {
  type LabProc,
  metricsOf,
  type PeerView,
  peerView,
  startMeshNode,
} from "../../tests/fixtures/mesh_lab.ts";
import { httpOnly } from "../../tests/fixtures/http_only.ts";
import { startTinyproxy } from "../../tests/fixtures/tinyproxy.ts";
import { DEFAULT_RELAY_RATE } from "../../lib/relay/bucket.ts";
import { PathsProfile } from "./paths_profile.ts";

/** One pair's figures. */
export interface PathsBenchRow {
  /** The route measured, sender → receiver. */
  route: string;
  /** What the sender's `/status` shows of the receiver after the run: path[:via]/transport. */
  seen: string;
  /** Whether the pair's path stayed the same while measured (the sender's `pathChangedAt`). */
  stable: boolean;
  /** The sender's path moves for the receiver while measured, from its log: their reasons. */
  moves: string;
  /** iperf3 TCP, one stream: Mbit/s received. */
  mbps: number;
  /** iperf3's sender retransmits (`end.sum_sent.retransmits`). */
  retransmits: number;
  /** Median ping RTT, idle, ms. */
  rttMs: number;
  /** 90th percentile ping RTT, idle, ms. */
  rttP90Ms: number;
  /** Median ping RTT while iperf3 runs, ms. */
  loadedRttMs: number;
  /** 95th percentile ping RTT while iperf3 runs, ms. */
  loadedP95Ms: number;
  /** Pings lost while iperf3 runs, percent. */
  loadedLossPct: number;
  /** Frames the agents' TCP underlay dropped during the transfer (a full queue, mostly). */
  tcpSendDrops: number;
  /** Relayed packets the agents dropped during the transfer (as relay and as users). */
  relayDrops: number;
  /** The drops' kinds and reasons (`tcp:queue-full`, `relay server:rate`, ...). */
  dropReasons: string;
  /** CPU seconds every agent of the mesh spent during the transfer. */
  agentCpuS: number;
  /** Of which the leader's (the relay, and the TCP end). */
  leaderCpuS: number;
  /** The leader's CPU seconds per GB received (on a relayed row: the relay's cost). */
  leaderCpuPerGb: number;
  /** The sender's and the receiver's CPU seconds per GB received, averaged: one end's cost. */
  endCpuPerGb: number;
  /** Every agent's CPU seconds per GB iperf3 received (the relay's included). */
  cpuPerGB: number;
}

/** A row's figures against direct UDP's. */
export interface PathsBenchRatio {
  /** The route. */
  route: string;
  /** Throughput / direct UDP's. */
  throughput: number;
  /** Idle RTT / direct UDP's. */
  rtt: number;
  /** Loaded RTT (median) / direct UDP's. */
  loadedRtt: number;
  /** Loaded RTT p95 / direct UDP's. */
  loadedP95: number;
}

/** The figures, the ratios, and what to know to read them. */
export interface PathsBenchResult {
  rows: PathsBenchRow[];
  ratios: PathsBenchRatio[];
  notes: string[];
}

/** What `host`'s `/status` must show of `peer`. */
interface View {
  host: string;
  peer: string;
  ok: (v: PeerView) => boolean;
  what: string;
}

/** A pair to measure, and the views that say its route is up (the sender's first). */
interface Pair {
  route: string;
  from: string;
  to: string;
  views: View[];
}

const direct = (t: string) => (v: PeerView) =>
  v.path === "direct" && v.transport === t && v.hasSession;
const relayed = (t: string | null) => (v: PeerView) =>
  v.path === "relay" && v.via === LEADER && (t === null || v.transport === t) && v.hasSession;
const view = (host: string, peer: string, ok: (v: PeerView) => boolean, what: string): View => ({
  host,
  peer,
  ok,
  what,
});

/** Measured first, while every site lets UDP through. */
const UDP_PAIRS: Pair[] = [
  {
    route: "direct UDP (NAT ↔ NAT, punched)",
    from: "db",
    to: "da",
    views: [
      view("db", "da", direct("udp"), "direct/udp"),
      view("da", "db", direct("udp"), "direct/udp"),
      view(LEADER, "db", direct("udp"), "direct/udp"),
    ],
  },
  {
    route: "relayed UDP (random-fully ↔ random-fully)",
    from: "sa",
    to: "sb",
    views: [
      view("sa", "sb", relayed("udp"), "relay:lead/udp"),
      view("sb", "sa", relayed("udp"), "relay:lead/udp"),
    ],
  },
  {
    route: "UDP, direct (NAT → leader)",
    from: "db",
    to: LEADER,
    views: [
      view("db", LEADER, direct("udp"), "direct/udp"),
      view(LEADER, "db", direct("udp"), "direct/udp"),
    ],
  },
];

/**
 * Measured once `db`'s site drops UDP. The leader must be on TCP to `db` too: until it is, its
 * UDP datagrams still get in (the NAT's mapping is alive) and `db` roams back to UDP for a moment.
 */
const TCP_PAIRS: Pair[] = [
  {
    route: "TCP, relayed (UDP blocked → NAT)",
    from: "db",
    to: "da",
    views: [
      view("db", "da", relayed("tcp"), "relay:lead/tcp"),
      view("da", "db", relayed(null), "relay:lead"),
      view(LEADER, "db", direct("tcp"), "direct/tcp"),
    ],
  },
  {
    route: "TCP, direct (UDP blocked → leader)",
    from: "db",
    to: LEADER,
    views: [
      view("db", LEADER, direct("tcp"), "direct/tcp"),
      view(LEADER, "db", direct("tcp"), "direct/tcp"),
    ],
  },
];

/**
 * Measured once `db`'s site lets out only TCP that starts as HTTP (UDP still blocked). The leader
 * first: `db` leaves its TCP for the WebSocket when its own traffic to the leader stalls (no
 * restart), and the relay to `da` then rides that WebSocket. Pinging `da` first would go through
 * the relay link alone, which leaves `db`'s idle peer the leader on TCP.
 */
const WS_PAIRS: Pair[] = [
  {
    route: "WebSocket, direct (HTTP only → leader)",
    from: "db",
    to: LEADER,
    views: [
      view("db", LEADER, direct("websocket"), "direct/websocket"),
      view(LEADER, "db", direct("websocket"), "direct/websocket"),
    ],
  },
  {
    route: "WebSocket, relayed (HTTP only → NAT)",
    from: "db",
    to: "da",
    views: [
      view("db", "da", relayed("websocket"), "relay:lead/websocket"),
      view("da", "db", relayed(null), "relay:lead"),
      view(LEADER, "db", direct("websocket"), "direct/websocket"),
    ],
  },
];

/** `px` behind the proxy: any time (its site never changes). */
const PROXY_PAIRS: Pair[] = [
  {
    route: "TCP through an HTTP proxy (proxy only → leader)",
    from: "px",
    to: LEADER,
    views: [
      view("px", LEADER, (v) => direct("tcp")(v) && v.proxied === true, "direct/tcp+proxy"),
      view(LEADER, "px", direct("tcp"), "direct/tcp"),
    ],
  },
];

/** The proxy's port on `prox`. */
const PROXY_PORT = 8888;

/** How long a route may take to come up (punching, relay grants, the TCP fallback). */
const ROUTE_WAIT_MS = 120_000;
/** How long a route must hold still before it is measured. */
const SETTLE_MS = 3_000;

function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** Nearest-rank percentile. */
function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(p / 100 * s.length) - 1))];
}

const round = (x: number, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits;

function cpuTicks(pid: number): number {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(f[11]) + Number(f[12]); // utime + stime
  } catch {
    return 0; // gone
  }
}

function agentTicks(m: NatMesh): number {
  let t = 0;
  for (const p of m.procs.values()) t += cpuTicks(p.child.pid);
  return t;
}

function hostTicks(m: NatMesh, host: string): number {
  const p = m.procs.get(host);
  return p ? cpuTicks(p.child.pid) : 0;
}

/**
 * The agents' drop counters by kind and reason (`tcp:queue-full`, `relay server:rate`, ...),
 * summed over every agent (`/metrics`, through curl); null without curl.
 */
async function drops(m: NatMesh, curl: boolean): Promise<Map<string, number> | null> {
  if (!curl) return null;
  const out = new Map<string, number>();
  const families: [string, string][] = [
    ["weft_tcp_send_drops_total", "tcp"],
    ["weft_relay_drops_total", "relay"],
  ];
  for (const host of m.procs.keys()) {
    for (const line of (await metricsOf(m.lab, host)).split("\n")) {
      for (const [name, kind] of families) {
        const x = line.match(new RegExp(`^${name}\\{(.*)\\} (\\S+)$`));
        if (!x) continue;
        const side = x[1].match(/side="([^"]*)"/)?.[1];
        const reason = x[1].match(/reason="([^"]*)"/)?.[1] ?? "?";
        const key = `${kind}${side ? ` ${side}` : ""}:${reason}`;
        out.set(key, (out.get(key) ?? 0) + Number(x[2]));
      }
    }
  }
  return out;
}

/** What changed from `d0` to `d1`: the drops of one kind, and the reasons that moved. */
function dropsBetween(
  d0: Map<string, number> | null,
  d1: Map<string, number> | null,
  kind: string,
): { n: number; reasons: string[] } {
  if (d0 === null || d1 === null) return { n: NaN, reasons: [] };
  let n = 0;
  const reasons: string[] = [];
  for (const [key, v] of d1) {
    const dv = v - (d0.get(key) ?? 0);
    if (!key.startsWith(`${kind}`) || dv <= 0) continue;
    n += dv;
    reasons.push(key);
  }
  return { n, reasons };
}

/** `count` pings 0.2 s apart; the RTTs of the replies (ms) and how many were sent. */
async function pingTimes(
  m: NatMesh,
  from: string,
  to: string,
  count: number,
): Promise<{ rtts: number[]; sent: number }> {
  const r = await m.lab.exec(
    from,
    "ping",
    "-n",
    "-c",
    String(count),
    "-i",
    "0.2",
    "-W",
    "5",
    m.addr[to],
  );
  const rtts = [...r.stdout.matchAll(/time=([\d.]+) ms/g)].map((x) => Number(x[1]));
  return { rtts, sent: count };
}

/**
 * Waits until every view of the pair holds, and still holds with the same `pathChangedAt`
 * {@link SETTLE_MS} later (a route that just moved may move again: a roam, the other side
 * following); throws with the views and logs if that never comes.
 */
async function waitRoute(m: NatMesh, p: Pair): Promise<void> {
  let last: (PeerView | null)[] = [];
  const look = async () => {
    last = await Promise.all(p.views.map((v) => peerView(m.lab, v.host, v.peer)));
    const ok = last.every((v, i) => v !== null && p.views[i].ok(v));
    return ok ? last.map((v) => String(v?.pathChangedAt)).join(" ") : null;
  };
  const deadline = Date.now() + ROUTE_WAIT_MS;
  while (Date.now() < deadline) {
    // Sessions are on demand: a pair with no traffic stays idle, so each look follows a ping.
    await m.lab.exec(p.from, "ping", "-n", "-c", "1", "-W", "1", m.addr[p.to]);
    const first = await look();
    if (first !== null) {
      await new Promise((r) => setTimeout(r, SETTLE_MS));
      if ((await look()) === first) return;
    } else {
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  const seen = p.views.map((v, i) =>
    `${v.host} sees ${v.peer}: want ${v.what}, got ${describe(last[i] ?? null)}`
  );
  throw new Error(
    `${p.route}: the route never settled: ${seen.join("; ")}\n--- ${p.from} log ---\n${
      m.log(p.from).slice(-6000)
    }\n--- ${p.to} log ---\n${m.log(p.to).slice(-4000)}`,
  );
}

function describe(v: PeerView | null): string {
  if (v === null) return "?";
  return `${v.path ?? "?"}${v.via ? `:${v.via}` : ""}/${v.transport ?? "?"}${
    v.proxied ? "+proxy" : ""
  }`;
}

/** iperf3 from `from` to `to`, with pings from `from` during it; the row. */
async function measure(
  m: NatMesh,
  p: Pair,
  seconds: number,
  curl: boolean,
): Promise<PathsBenchRow> {
  await waitRoute(m, p);
  const before = await peerView(m.lab, p.from, p.to);
  const logAt = m.log(p.from).length;
  const toLogAt = m.log(p.to).length;
  // Warm up (ARP, sessions), then idle RTT.
  await pingTimes(m, p.from, p.to, 3);
  const idle = await pingTimes(m, p.from, p.to, 20);

  const server = m.lab.spawn(p.to, "iperf3", ["-s", "-1"]);
  let bps = NaN;
  let bytes = NaN;
  let retransmits = NaN;
  let loaded: { rtts: number[]; sent: number } = { rtts: [], sent: 0 };
  let cpu = 0;
  let leaderCpu = 0;
  let endCpu = 0;
  let d0: Map<string, number> | null = null;
  let d1: Map<string, number> | null = null;
  let profile: PathsProfile | null = null;
  try {
    await eventually(
      async () => (await m.lab.exec(p.to, "ss", "-ltn")).stdout.includes(":5201 "),
      30_000,
      100,
    );
    d0 = await drops(m, curl);
    const hosts = [...new Set([p.from, p.to, LEADER])];
    const sites = hosts.map((h) => m.lab.host(h).site).filter((x): x is string => x !== null);
    profile = await PathsProfile.start(m, p.route, hosts, [...hosts, ...sites]);
    const t0 = agentTicks(m);
    const l0 = hostTicks(m, LEADER);
    const e0 = hostTicks(m, p.from) + hostTicks(m, p.to);
    const client = m.lab.exec(
      p.from,
      "iperf3",
      "-c",
      m.addr[p.to],
      "-t",
      String(seconds),
      "-J",
      "--connect-timeout",
      "10000",
    );
    // Pings start once the stream is going and stop before it ends: all of them under load.
    await new Promise((r) => setTimeout(r, 1_000));
    const count = Math.max(5, Math.floor((seconds - 1.5) / 0.2));
    loaded = await pingTimes(m, p.from, p.to, count);
    const r = await client;
    await profile?.stop();
    cpu = (agentTicks(m) - t0) / 100;
    leaderCpu = (hostTicks(m, LEADER) - l0) / 100;
    endCpu = (hostTicks(m, p.from) + hostTicks(m, p.to) - e0) / 100;
    d1 = await drops(m, curl);
    try {
      const j = JSON.parse(r.stdout);
      bps = j.end?.sum_received?.bits_per_second ?? NaN;
      bytes = j.end?.sum_received?.bytes ?? NaN;
      retransmits = j.end?.sum_sent?.retransmits ?? NaN;
      if (j.error) console.error(`${p.route}: iperf3: ${j.error}`);
    } catch {
      console.error(`${p.route}: iperf3 failed (${r.code}): ${r.stdout}${r.stderr}`);
    }
    await profile?.write(bytes);
  } finally {
    await profile?.stop();
    await m.lab.stop(server.child);
  }
  const after = await peerView(m.lab, p.from, p.to);
  const moves = m.log(p.from).slice(logAt).split("\n").filter((l) =>
    / (path changed|path chosen|no direct path) /.test(l) && l.includes(` peer=${p.to} `)
  ).map((l) => `${l.includes("no direct path") ? "none:" : ""}${/ reason=(\S+)/.exec(l)?.[1]}`);
  if (Deno.env.get("PATHS_BENCH_DEBUG")) {
    console.error(`${p.route}: before ${JSON.stringify(before)}\nafter ${JSON.stringify(after)}`);
    for (const [h, at] of [[p.from, logAt], [p.to, toLogAt]] as const) {
      const lines = m.log(h).slice(at).split("\n").filter((l) =>
        / (path changed|path chosen|no direct path|relay|tcp)/.test(l)
      );
      console.error(`--- ${h} while measured ---\n${lines.join("\n")}`);
    }
  }
  const tcp = dropsBetween(d0, d1, "tcp");
  const relay = dropsBetween(d0, d1, "relay");
  return {
    route: p.route,
    seen: describe(after),
    stable: before !== null && after !== null && before.pathChangedAt === after.pathChangedAt &&
      before.path === after.path && before.transport === after.transport,
    moves: moves.join(", "),
    mbps: round(bps / 1e6, 0),
    retransmits,
    rttMs: round(median(idle.rtts)),
    rttP90Ms: round(percentile(idle.rtts, 90)),
    loadedRttMs: round(median(loaded.rtts)),
    loadedP95Ms: round(percentile(loaded.rtts, 95)),
    loadedLossPct: loaded.sent ? round(100 * (1 - loaded.rtts.length / loaded.sent), 0) : NaN,
    tcpSendDrops: tcp.n,
    relayDrops: relay.n,
    dropReasons: [...tcp.reasons, ...relay.reasons].join(", "),
    agentCpuS: round(cpu),
    leaderCpuS: round(leaderCpu),
    leaderCpuPerGb: round(leaderCpu / (bytes / 1e9), 1),
    endCpuPerGb: round(endCpu / 2 / (bytes / 1e9), 1),
    cpuPerGB: round(cpu / (bytes / 1e9), 1),
  };
}

/** Per route, the medians over the rounds (the routes' path: each one seen, stable in all). */
function combine(runs: PathsBenchRow[]): PathsBenchRow {
  const mid = (f: (r: PathsBenchRow) => number, digits = 2) =>
    round(median(runs.map(f).filter((x) => !Number.isNaN(x))), digits);
  return {
    route: runs[0].route,
    seen: [...new Set(runs.map((r) => r.seen))].join(" "),
    stable: runs.every((r) => r.stable),
    moves: runs.map((r) => r.moves).filter((x) => x).join("; "),
    mbps: mid((r) => r.mbps, 0),
    retransmits: mid((r) => r.retransmits, 0),
    rttMs: mid((r) => r.rttMs),
    rttP90Ms: mid((r) => r.rttP90Ms),
    loadedRttMs: mid((r) => r.loadedRttMs),
    loadedP95Ms: mid((r) => r.loadedP95Ms),
    loadedLossPct: mid((r) => r.loadedLossPct, 0),
    tcpSendDrops: mid((r) => r.tcpSendDrops, 0),
    relayDrops: mid((r) => r.relayDrops, 0),
    dropReasons: [...new Set(runs.flatMap((r) => r.dropReasons.split(", ")).filter((x) => x))]
      .join(", "),
    agentCpuS: mid((r) => r.agentCpuS),
    leaderCpuS: mid((r) => r.leaderCpuS),
    leaderCpuPerGb: mid((r) => r.leaderCpuPerGb, 1),
    endCpuPerGb: mid((r) => r.endCpuPerGb, 1),
    cpuPerGB: mid((r) => r.cpuPerGB, 1),
  };
}

/**
 * The groups of routes, in the order the lab runs them: udp (direct, relayed, to the leader),
 * tcp (UDP blocked), ws (HTTP only) and proxy.
 */
export const PATH_GROUPS = ["udp", "tcp", "ws", "proxy"] as const;

/** A group of routes. */
export type PathGroup = typeof PATH_GROUPS[number];

/**
 * Every route in one lab, `rounds` times (interleaved: the UDP routes, `db`'s site blocked, the
 * TCP routes, unblocked, ...; with more than one round, each figure is the median of the
 * rounds'); null when this machine cannot build the lab (root, ip netns, iptables, conntrack,
 * ping, iperf3, ss). `groups`: only those routes (the lab's later steps are left out).
 */
export async function runPathsBench(
  seconds = 8,
  rounds = 1,
  groups: readonly PathGroup[] = PATH_GROUPS,
): Promise<PathsBenchResult | null> {
  if (
    !(await canBuildLabs()) ||
    !(await haveCommands("ping", "iptables", "conntrack", "iperf3", "ss"))
  ) {
    return null;
  }
  const withProxy = groups.includes("proxy") && await haveCommands("tinyproxy");
  const withTcp = groups.includes("tcp");
  const withWs = groups.includes("ws");
  const opts = { ifPrefix: "pb", cidr: "10.95.0.0/24" };
  const m = await NatMesh.create({
    internet: [LEADER, ...(withProxy ? ["prox"] : [])],
    sites: {
      // px beside da: the lab has four sites, and px's rules name its address alone.
      a: { nat: "masquerade", hosts: ["da", ...(withProxy ? ["px"] : [])] },
      b: { nat: "masquerade", hosts: ["db"] },
      c: { nat: "random-fully", hosts: ["sa"] },
      d: { nat: "random-fully", hosts: ["sb"] },
    },
  }, opts);
  const curl = await haveCommands("curl");
  const pairs = [...UDP_PAIRS, ...TCP_PAIRS, ...WS_PAIRS, ...PROXY_PAIRS];
  const runs: PathsBenchRow[][] = pairs.map(() => []);
  const at = (list: Pair[]) => pairs.indexOf(list[0]);
  const notes: string[] = [];
  let proxy: LabProc | null = null;
  // tinyproxy runs as nobody: its log goes into a folder it may write.
  const pdir = await Deno.makeTempDir({ prefix: "weft-paths-proxy-" });
  try {
    await m.join(["da", "db", "sa", "sb"]);
    if (withProxy) {
      // Of px's packets the site lets out only TCP to the proxy; px joins with HTTPS_PROXY alone.
      const prox = m.lab.host("prox").ip;
      const pxIp = m.lab.host("px").ip;
      await m.lab.run("a", "iptables", "-I", "FORWARD", "1", "-i", "lan", "-s", pxIp, "-j", "DROP");
      await m.lab.run(
        "a",
        ...["iptables", "-I", "FORWARD", "1", "-i", "lan", "-s", pxIp, "-d", prox, "-p", "tcp"],
        ...["--dport", String(PROXY_PORT), "-j", "ACCEPT"],
      );
      await Deno.chmod(pdir, 0o777);
      proxy = await startTinyproxy(m, { host: "prox", ip: prox, port: PROXY_PORT, dir: pdir });
      const px = startMeshNode(m.lab, { dir: m.dir, ...opts }, "px", [
        "--join",
        await m.token(1),
      ], { HTTPS_PROXY: `http://${prox}:${PROXY_PORT}` });
      m.procs.set("px", px);
      await m.settle(["px"]);
    }
    for (let r = 0; r < rounds; r++) {
      // Back to UDP: `db` returns to its direct paths (waitRoute waits for them).
      if (r > 0) {
        await httpOnly(m, "b", false);
        await m.lab.blockUdp("b", false);
      }
      for (const [i, p] of UDP_PAIRS.entries()) runs[i].push(await measure(m, p, seconds, curl));
      if (!withTcp && !withWs && !withProxy) continue;
      await m.lab.blockUdp("b", true);
      for (const [i, p] of TCP_PAIRS.entries()) {
        if (withTcp) runs[at(TCP_PAIRS) + i].push(await measure(m, p, seconds, curl));
      }
      if (!withWs && !withProxy) continue;
      await httpOnly(m, "b", true);
      // A route that never came up must not take the others' figures with them.
      for (const [list, what] of [[WS_PAIRS, "WebSocket"], [PROXY_PAIRS, "proxy"]] as const) {
        if (list === PROXY_PAIRS && !withProxy) continue;
        if (list === WS_PAIRS && !withWs) continue;
        try {
          for (const [i, p] of list.entries()) {
            runs[at(list) + i].push(await measure(m, p, seconds, curl));
          }
        } catch (e) {
          notes.push(`${what} routes not measured: ${String(e).split("\n")[0]}`);
        }
      }
    }
  } finally {
    if (proxy) await m.lab.stop(proxy.child).catch(() => {});
    await m.close();
    await Deno.remove(pdir, { recursive: true }).catch(() => {});
  }
  // Direct UDP first, then relayed UDP, the TCP, WebSocket and proxy routes, and UDP to the
  // leader last (the baseline of every route to the leader). A route not measured is left out.
  const udpToLeader = pairs.indexOf(UDP_PAIRS[2]);
  const order = [...pairs.keys()].filter((i) => i !== udpToLeader).concat(udpToLeader);
  const rows = order.filter((i) => runs[i].length > 0).map((i) => combine(runs[i]));
  const base = rows[0];
  const ratios = rows.map((r) => ({
    route: r.route,
    throughput: round(r.mbps / base.mbps),
    rtt: round(r.rttMs / base.rttMs),
    loadedRtt: round(r.loadedRttMs / base.loadedRttMs),
    loadedP95: round(r.loadedP95Ms / base.loadedP95Ms),
  }));
  if (!withProxy && groups.includes("proxy")) {
    notes.push("no tinyproxy here: the row through an HTTP proxy is left out");
  }
  if (rows.some((r) => r.dropReasons.includes("relay server:rate"))) {
    const mbit = DEFAULT_RELAY_RATE.bytesPerSecond * 8 / 1e6;
    notes.push(
      `the relayed rows run into the relay's rate per sending member (${mbit} Mbit/s, ` +
        `${DEFAULT_RELAY_RATE.packetsPerSecond} packets/s: lib/relay/bucket.ts), which drops ` +
        `rather than queues: their throughput is that limit, and their loaded RTT stays low`,
    );
  }
  if (rows.some((r) => r.dropReasons.includes("relay server:share"))) {
    notes.push(
      "the relay was saturated with several members sending and held the heaviest to its fair " +
        "share (relay server:share: lib/relay/fair_share.ts)",
    );
  }
  if (rows.some((r) => r.dropReasons.includes("tcp:queue-full"))) {
    notes.push(
      "TCP over TCP: the TCP underlay drops what does not fit its per-connection queue " +
        "(tcp:queue-full) rather than buffering it, so the inner TCP sees loss and backs off " +
        "(its retransmits) instead of the outer connection's queue growing without end",
    );
  }
  return { rows, ratios, notes };
}

if (import.meta.main) {
  destroyLabsOnSignal();
  const arg = (name: string, fallback: number) => {
    const i = Deno.args.indexOf(name);
    return i >= 0 ? Number(Deno.args[i + 1]) : fallback;
  };
  const seconds = arg("--seconds", Number(Deno.env.get("BENCH_SECONDS") ?? 8));
  const rounds = arg("--rounds", 1);
  // `--routes udp,tcp`: only those groups (udp: direct, relayed and to the leader; tcp; ws; proxy).
  const ri = Deno.args.indexOf("--routes");
  const groups = ri >= 0 ? Deno.args[ri + 1].split(",") : [...PATH_GROUPS];
  if (!groups.every((g): g is PathGroup => (PATH_GROUPS as readonly string[]).includes(g))) {
    console.error(`--routes takes some of ${PATH_GROUPS.join(",")}`);
    Deno.exit(2);
  }
  if (!Number.isInteger(seconds) || seconds < 3) {
    console.error("--seconds takes an integer of 3 or more");
    Deno.exit(2);
  }
  if (!Number.isInteger(rounds) || rounds < 1) {
    console.error("--rounds takes a positive integer");
    Deno.exit(2);
  }
  const res = await runPathsBench(seconds, rounds, groups);
  if (!res) console.log("skipped: needs root, ip netns, iptables, conntrack, ping, iperf3, ss");
  else {
    console.table(res.rows);
    console.log("ratios against direct UDP:");
    console.table(res.ratios);
    for (const n of res.notes) console.log(`note: ${n}`);
  }
}
