/**
 * The whole `/metrics` page: every subsystem's collector on one registry, fed fixed figures,
 * read back by a parser and checked by promtool.
 */
import assert from "node:assert/strict";
import { MetricsRegistry } from "./registry.ts";
import { agentEventsCollector, agentInfoCollector } from "../agent/metrics.ts";
import { deviceDropsCollector, devicePeersCollector } from "../device/metrics.ts";
import { healthCollector } from "../health/metrics.ts";
import { listenersCollector } from "../net/listener_metrics.ts";
import {
  tcpCollector,
  type TcpMetrics,
  tunCollector,
  type TunMetrics,
  udpCollector,
  type UdpMetrics,
} from "../io/metrics.ts";
import { dnsCollector } from "../dns/metrics.ts";
import { leaderCollector } from "../mesh/leader/metrics.ts";
import { type PathMetrics, pathsCollector } from "../nat/metrics.ts";
import { relayCollector, type RelayMetrics } from "../relay/metrics.ts";
import { type ServiceMetrics, servicesCollector } from "../services/metrics.ts";
import { leaseCollector, type LeaseMetrics } from "../services/lease/collector.ts";
import { policyCollector } from "../policy/metrics.ts";
import { controlCollector, sharedViewsCollector } from "../mesh/sync/metrics.ts";
import type { RateCounts } from "../policy/qos.ts";
import type { ListenerStats } from "../net/conn_guard.ts";
import type { HealthState } from "../health/state.ts";
import { Histogram, type HistogramSnapshot } from "../health/histogram.ts";
import { DROP_REASONS } from "../device/drops.ts";
import { parsePrometheus, promtoolCheck, promValue } from "../../tests/fixtures/prom_parse.ts";

const PROMTOOL = "/usr/bin/promtool";
const hasPromtool = (() => {
  try {
    return Deno.statSync(PROMTOOL).isFile;
  } catch {
    return false;
  }
})();

/** One peer's figures. */
interface PeerFigures {
  publicKey: string;
  name?: string;
  rxBytes: number;
  txBytes: number;
  rxPackets: number;
  txPackets: number;
  lastHandshakeUnixMs: number;
  health?: HealthState;
  rttMs?: number | null;
  loss?: number | null;
  probeRtt?: HistogramSnapshot;
}

/** The figures of every subsystem; an optional one left out is a part that does not run. */
interface Snapshot {
  version: string;
  crypto: string;
  uptimeSeconds: number;
  peers: PeerFigures[];
  handshakes: { completed: number; failed: number; received: number };
  drops: Record<string, number>;
  listenerErrors?: Record<string, number>;
  listeners?: Record<string, ListenerStats>;
  dns?: {
    byTypeRcode: Record<string, number>;
    forwarded: number;
    forwardFailed: number;
    forwardRefused: number;
  };
  policyDrops?: Record<string, number>;
  policyRates?: Record<string, RateCounts>;
  joinDrops?: Record<string, number>;
  memberRefusals?: Record<string, number>;
  paths?: PathMetrics;
  relay?: RelayMetrics;
  services?: ServiceMetrics;
  leases?: LeaseMetrics;
  tcp?: TcpMetrics;
  udp?: UdpMetrics;
  tun?: TunMetrics;
}

/** The page the collectors render from `s`, registered as the agent and the mesh agent do. */
function renderPage(s: Snapshot): string {
  const r = new MetricsRegistry();
  const names = new Map(s.peers.map((p) => [p.publicKey, p.name ?? ""]));
  const nameOf = (key: string) => names.get(key) ?? "";
  const device = {
    peers: () =>
      s.peers.map((p) => ({
        publicKeyText: p.publicKey,
        lastHandshakeUnixMs: p.lastHandshakeUnixMs,
        counters: p,
      })),
    stats: { drops: s.drops },
  };
  const health = new Map(s.peers.map((p) => [p.publicKey, {
    state: p.health ?? "unknown",
    rttMs: { avg: p.rttMs ?? null },
    loss: p.loss ?? null,
    rttHistogram: p.probeRtt,
  }]));
  const agent = {
    version: s.version,
    crypto: s.crypto,
    uptimeSeconds: () => s.uptimeSeconds,
    handshakes: () => s.handshakes,
    listenerErrors: () => s.listenerErrors ?? {},
    healthTransitions: () => ({ up: 3, down: 1 }),
  };
  r.register(agentInfoCollector(agent));
  r.register(devicePeersCollector(device, nameOf));
  r.register(healthCollector(health, () => s.peers.map((p) => p.publicKey), nameOf));
  r.register(agentEventsCollector(agent));
  r.register(deviceDropsCollector(device));
  r.register(listenersCollector(s.listeners ?? {}));
  if (s.tcp) r.register(tcpCollector(s.tcp));
  if (s.udp) r.register(udpCollector(s.udp));
  if (s.tun) r.register(tunCollector(() => s.tun!));
  r.register(dnsCollector(() => s.dns));
  r.register(leaderCollector({
    joinDrops: () => s.joinDrops,
    memberRefusals: () => s.memberRefusals,
    departedForgotten: () => 2,
    sharedViews: () => ({
      sent: { holders: 3, manifest: 9, piece: 12, asked: 4 },
      drops: { rate: 1, malformed: 0, lack: 2 },
      holders: 64,
    }),
    pushes: () => ({ pushes: 12, datagrams: 120_000, spaced: 9, gapMs: 1000 }),
  }));
  r.register(pathsCollector(() => s.paths));
  r.register(relayCollector(() => s.relay));
  r.register(servicesCollector(() => s.services));
  r.register(leaseCollector(() => s.leases));
  r.register(controlCollector(() => ({ untracked: 3, malformed: 7 })));
  r.register(sharedViewsCollector(() => ({
    pieces: { holder: 600, leader: 25 },
    refused: { mismatch: 2, "not-named": 1, duplicate: 3, malformed: 0 },
    served: 170,
    failed: { now: 1, held: 2 },
    drops: { rate: 4, "not-member": 1, malformed: 0, lack: 5 },
  })));
  if (s.policyDrops) {
    r.register(
      policyCollector(() =>
        s.policyRates ? { drops: s.policyDrops!, rates: s.policyRates } : s.policyDrops!
      ),
    );
  }
  return r.render();
}

/** How many families weft's collectors declare (all of them are on the whole page). */
const FAMILIES = 115;

function snapshot(): Snapshot {
  const h = new Histogram();
  for (const ms of [0.3, 0.8, 4, 12, 40, 40, 700, 9000]) h.observe(ms / 1000);
  const drops = Object.fromEntries(DROP_REASONS.map((r, i) => [r, i * 3]));
  return {
    version: "0.1.0",
    crypto: "noble",
    uptimeSeconds: 3723,
    peers: [
      {
        publicKey: "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=",
        name: "bravo",
        rxBytes: 123456789,
        txBytes: 98765,
        rxPackets: 1000,
        txPackets: 999,
        lastHandshakeUnixMs: 1_700_000_123_456,
        health: "degraded",
        rttMs: 42.5,
        loss: 0.3,
        probeRtt: h.snapshot(),
      },
      {
        publicKey: "HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=",
        // A hostile name: quotes, backslashes and a line feed must not break the document.
        name: 'ch"ar\\lie\nx',
        rxBytes: 0,
        txBytes: 0,
        rxPackets: 0,
        txPackets: 0,
        lastHandshakeUnixMs: 0,
      },
    ],
    handshakes: { completed: 7, failed: 2, received: 4 },
    drops,
    dns: {
      byTypeRcode: { "A|NOERROR": 10, "AAAA|NXDOMAIN": 3, "SRV|NOERROR": 1 },
      forwarded: 7,
      forwardFailed: 2,
      forwardRefused: 4,
    },
    policyDrops: { "deny-db": 5, "default": 1 },
    policyRates: {
      "bulk-20m": {
        passedBytes: 1_000_000,
        passedPackets: 800,
        delayedBytes: 20_000,
        delayedPackets: 16,
        droppedBytes: 1420,
        droppedPackets: 1,
      },
    },
    paths: {
      // relay, tcp and direct: reasons the relays bring, rendered as any other.
      changes: { punched: 3, lan: 1, rtt: 0, failed: 2, relay: 5, tcp: 1, direct: 2 },
      drops: { "not-member": 4, "callme-not-leader": 1 },
      states: { direct: 1, relay: 2, none: 1 },
      announceDrops: { mac: 2, replay: 1 },
    },
    relay: {
      server: {
        sessions: 3,
        opened: 11,
        closed: 6,
        expired: 2,
        received: { packets: 5000, bytes: 6_400_000 },
        forwarded: { packets: 4990, bytes: 6_387_200 },
        headTag: 4000,
        drops: { "not-member": 4, "unknown-session": 3, mac: 2, rate: 1, "too-large": 0 },
        refusals: { "not-member": 1, self: 2, rate: 0, "too-many": 3 },
      },
      client: {
        sessions: 2,
        wrapped: { packets: 700, bytes: 89_600 },
        unwrapped: { packets: 650, bytes: 83_200 },
        switches: 1,
        drops: { mac: 5, "some new reason": 1 },
        refusals: { "not-member": 2 },
      },
      fallbacks: { relay: 4, tcp: 2 },
      routes: { direct: 3, relay: 2, tcp: 1, none: 0 },
    },
    tcp: {
      connections: 4,
      accepts: 9,
      dials: 7,
      dialFailures: 2,
      evicted: 1,
      badFrames: 3,
      truncated: 1,
      datagramsIn: 1200,
      bytesIn: 150_000,
      datagramsOut: 1100,
      bytesOut: 140_000,
      drops: { "queue-full": 5, "dial-failed": 2, closed: 0 },
    },
  };
}

/** {@link snapshot} with every optional part running: the whole page. */
function fullSnapshot(): Snapshot {
  const h = new Histogram([0.001, 0.01]);
  h.observe(0.0005);
  return {
    ...snapshot(),
    listenerErrors: { device: 1, health: 0 },
    listeners: {
      http: { accepted: 5, acceptErrors: 0, rejected: 1, evicted: 0, timedOut: 2, open: 1 },
    },
    joinDrops: { mac: 2 },
    memberRefusals: { hello: 3 },
    udp: {
      datagramsIn: 10,
      bytesIn: 1000,
      datagramsOut: 20,
      bytesOut: 2000,
      sendErrors: 1,
      sendDrops: 2,
      recvErrors: 3,
      gsoMessages: 4,
      gsoSegments: 90,
      gsoFallbacks: 0,
      groMessages: 5,
      groSegments: 70,
    },
    tun: {
      packetsIn: 5,
      bytesIn: 500,
      packetsOut: 6,
      bytesOut: 600,
      readErrors: 0,
      writeErrors: 1,
      offload: {
        gsoReads: 2,
        segments: 80,
        checksumsCompleted: 3,
        readDrops: 0,
        coalescedWrites: 4,
        coalescedPackets: 90,
      },
    },
    services: {
      calls: [{ service: "echo", action: "say", outcome: "ok", histogram: h.snapshot() }],
      served: [{ service: "echo", action: "say", outcome: "ok", histogram: h.snapshot() }],
      events: { published: 1, sent: 2, delivered: 3 },
      eventDrops: { unacked: 1 },
      drops: { malformed: 1 },
      wire: {
        sentBytes: 1000,
        receivedBytes: 2000,
        compressedSent: { messages: 1, plainBytes: 10_000, deflatedBytes: 900 },
        compressedReceived: { messages: 0, plainBytes: 0, deflatedBytes: 0 },
      },
      denied: [{ service: "echo", rule: "web-only", count: 1 }],
      resilience: { ejections: { echo: 1 }, retries: { echo: 2 }, budgetRefusals: { echo: 1 } },
    },
    leases: {
      leaders: [{ service: "echo", node: "n1" }],
      changes: { echo: 1 },
      client: { asks: 1, releases: 0, lapsed: 0, rowsDropped: 0 },
      arbiter: {
        granted: 1,
        renewed: 2,
        ended: { expired: 1 },
        refused: { unhealthy: 1 },
        staleReleases: 0,
        persistFailed: 0,
        storeFailed: 0,
      },
    },
  };
}

Deno.test({
  name: "metrics: promtool accepts weft's metrics without a lint complaint",
  ignore: !hasPromtool,
  async fn() {
    const text = renderPage(fullSnapshot());
    // The whole page: every family of every collector is on it.
    assert.equal(parsePrometheus(text).families.size, FAMILIES);
    const r = await promtoolCheck(text);
    assert.equal(r.code, 0, r.out);
    assert.equal(r.out.trim(), "");
    // And the harness does fail: a broken document and a lint problem are both caught.
    assert.notEqual((await promtoolCheck('x{a="b} 1\n')).code, 0);
    assert.notEqual((await promtoolCheck("# TYPE foo counter\nfoo 1\n")).code, 0);
  },
});

Deno.test("metrics: values, labels and families as a parser reads them", () => {
  const snap = snapshot();
  const doc = parsePrometheus(renderPage(snap));
  const bravo = { peer: snap.peers[0].publicKey, name: "bravo" };
  const charlie = { peer: snap.peers[1].publicKey, name: 'ch"ar\\lie\nx' };
  assert.equal(promValue(doc, "weft_build_info", { version: "0.1.0", crypto: "noble" }), 1);
  assert.equal(promValue(doc, "weft_uptime_seconds"), 3723);
  assert.equal(promValue(doc, "weft_leader_pushes_total"), 12);
  assert.equal(promValue(doc, "weft_leader_push_datagrams_total"), 120_000);
  assert.equal(promValue(doc, "weft_leader_pushes_spaced_total"), 9);
  assert.equal(promValue(doc, "weft_leader_push_gap_seconds"), 1);
  assert.equal(promValue(doc, "weft_peer_rx_bytes_total", bravo), 123456789);
  assert.equal(promValue(doc, "weft_peer_tx_bytes_total", bravo), 98765);
  assert.equal(promValue(doc, "weft_peer_rx_packets_total", bravo), 1000);
  assert.equal(promValue(doc, "weft_peer_tx_packets_total", bravo), 999);
  assert.equal(promValue(doc, "weft_peer_rx_bytes_total", charlie), 0, "escaped name round-trips");
  assert.equal(promValue(doc, "weft_peer_last_handshake_seconds", bravo), 1_700_000_123.456);
  assert.equal(promValue(doc, "weft_peer_last_handshake_seconds", charlie), 0);
  for (const [who, current] of [[bravo, "degraded"], [charlie, "unknown"]] as const) {
    for (const state of ["up", "degraded", "down", "unknown"]) {
      const v = promValue(doc, "weft_peer_health", { ...who, state });
      assert.equal(v, state === current ? 1 : 0, `${who.name} ${state}`);
    }
  }
  assert.equal(promValue(doc, "weft_peer_rtt_seconds", bravo), 0.0425);
  assert.equal(promValue(doc, "weft_peer_probe_loss_ratio", bravo), 0.3);
  assert.throws(() => promValue(doc, "weft_peer_rtt_seconds", charlie), /0 samples/);
  assert.equal(promValue(doc, "weft_handshakes_total", { result: "completed" }), 7);
  assert.equal(promValue(doc, "weft_handshakes_total", { result: "failed" }), 2);
  assert.equal(promValue(doc, "weft_handshakes_total", { result: "received" }), 4);
  for (const [i, reason] of DROP_REASONS.entries()) {
    assert.equal(promValue(doc, "weft_drops_total", { reason }), i * 3);
  }
  assert.equal(promValue(doc, "weft_dns_queries_total", { type: "A", rcode: "NOERROR" }), 10);
  assert.equal(promValue(doc, "weft_dns_queries_total", { type: "AAAA", rcode: "NXDOMAIN" }), 3);
  assert.equal(promValue(doc, "weft_dns_forwarded_total", { result: "answered" }), 5);
  assert.equal(promValue(doc, "weft_dns_forwarded_total", { result: "failed" }), 2);
  assert.equal(promValue(doc, "weft_dns_forward_refused_total", {}), 4);
  assert.equal(promValue(doc, "weft_policy_drops_total", { rule: "deny-db" }), 5);
  const bulk = (result: string) => ({ rule: "bulk-20m", result });
  assert.equal(promValue(doc, "weft_policy_rate_bytes_total", bulk("passed")), 1_000_000);
  assert.equal(promValue(doc, "weft_policy_rate_bytes_total", bulk("delayed")), 20_000);
  assert.equal(promValue(doc, "weft_policy_rate_bytes_total", bulk("dropped")), 1420);
  assert.equal(promValue(doc, "weft_policy_rate_packets_total", bulk("dropped")), 1);
  assert.equal(promValue(doc, "weft_path_changes_total", { reason: "punched" }), 3);
  assert.equal(promValue(doc, "weft_path_changes_total", { reason: "failed" }), 2);
  assert.equal(promValue(doc, "weft_path_drops_total", { reason: "not-member" }), 4);
  assert.equal(promValue(doc, "weft_paths", { state: "none" }), 1);
  assert.equal(promValue(doc, "weft_lan_announce_drops_total", { reason: "mac" }), 2);
  const types = Object.fromEntries([...doc.families].map(([k, v]) => [k, v.type]));
  assert.equal(types.weft_peer_rx_bytes_total, "counter");
  assert.equal(types.weft_peer_health, "gauge");
  assert.equal(types.weft_path_changes_total, "counter");
  assert.equal(types.weft_paths, "gauge");
  assert.equal(types.weft_probe_rtt_seconds, "histogram");
  for (const [name, f] of doc.families) assert.ok(f.help.length > 0, `${name} has help`);
});

Deno.test("metrics: relay, fallback and route figures", () => {
  const doc = parsePrometheus(renderPage(snapshot()));
  const v = (name: string, labels: Record<string, string> = {}) => promValue(doc, name, labels);
  assert.equal(v("weft_relay_sessions", { role: "server" }), 3);
  assert.equal(v("weft_relay_sessions", { role: "client" }), 2);
  assert.equal(v("weft_relay_sessions_opened_total"), 11);
  assert.equal(v("weft_relay_sessions_closed_total", { why: "closed" }), 6);
  assert.equal(v("weft_relay_sessions_closed_total", { why: "expired" }), 2);
  assert.equal(v("weft_relay_received_packets_total"), 5000);
  assert.equal(v("weft_relay_received_bytes_total"), 6_400_000);
  assert.equal(v("weft_relay_forwarded_packets_total"), 4990);
  assert.equal(v("weft_relay_forwarded_bytes_total"), 6_387_200);
  assert.equal(v("weft_relay_forwarded_head_tag_packets_total"), 4000);
  assert.equal(v("weft_relay_drops_total", { side: "server", reason: "unknown-session" }), 3);
  assert.equal(v("weft_relay_drops_total", { side: "server", reason: "too-large" }), 0);
  assert.equal(v("weft_relay_drops_total", { side: "client", reason: "mac" }), 5);
  assert.equal(v("weft_relay_drops_total", { side: "client", reason: "some new reason" }), 1);
  assert.equal(v("weft_relay_refusals_total", { side: "server", reason: "too-many" }), 3);
  assert.equal(v("weft_relay_refusals_total", { side: "server", reason: "self" }), 2);
  assert.equal(v("weft_relay_refusals_total", { side: "client", reason: "not-member" }), 2);
  assert.equal(v("weft_relay_client_packets_total", { dir: "out" }), 700);
  assert.equal(v("weft_relay_client_packets_total", { dir: "in" }), 650);
  assert.equal(v("weft_relay_client_bytes_total", { dir: "out" }), 89_600);
  assert.equal(v("weft_relay_client_bytes_total", { dir: "in" }), 83_200);
  assert.equal(v("weft_relay_switches_total"), 1);
  assert.equal(v("weft_fallbacks_total", { to: "relay" }), 4);
  assert.equal(v("weft_fallbacks_total", { to: "tcp" }), 2);
  for (const [route, n] of [["direct", 3], ["relay", 2], ["tcp", 1], ["none", 0]] as const) {
    assert.equal(v("weft_routes", { route }), n, route);
  }
  // The path families take the relays' reasons and states as they come.
  assert.equal(v("weft_path_changes_total", { reason: "relay" }), 5);
  assert.equal(v("weft_path_changes_total", { reason: "tcp" }), 1);
  assert.equal(v("weft_path_changes_total", { reason: "direct" }), 2);
  assert.equal(v("weft_paths", { state: "relay" }), 2);
  const types = Object.fromEntries([...doc.families].map(([k, f]) => [k, f.type]));
  for (const g of ["weft_relay_sessions", "weft_routes"]) assert.equal(types[g], "gauge", g);
  for (const [name, type] of Object.entries(types)) {
    if (name.startsWith("weft_relay_") || name.startsWith("weft_fallbacks")) {
      assert.equal(type, name.endsWith("_total") ? "counter" : "gauge", name);
    }
  }
});

Deno.test("metrics: a member that does not relay has client figures only", async () => {
  const snap = snapshot();
  delete snap.relay!.server;
  const text = renderPage(snap);
  const doc = parsePrometheus(text);
  assert.equal(promValue(doc, "weft_relay_sessions", { role: "client" }), 2);
  assert.throws(() => promValue(doc, "weft_relay_sessions", { role: "server" }), /0 samples/);
  const serverOnly = [
    "weft_relay_sessions_opened_total",
    "weft_relay_sessions_closed_total",
    "weft_relay_received_packets_total",
    "weft_relay_forwarded_bytes_total",
  ];
  for (const f of serverOnly) assert.ok(!doc.families.has(f), f);
  assert.equal(doc.samples.filter((x) => x.labels.side === "server").length, 0);
  assert.equal(
    promValue(doc, "weft_relay_drops_total", { side: "client", reason: "mac" }),
    5,
  );
  if (hasPromtool) {
    const r = await promtoolCheck(text);
    assert.equal(r.code, 0, r.out);
    assert.equal(r.out.trim(), "");
  }
});

Deno.test("metrics: TCP transport figures", () => {
  const doc = parsePrometheus(renderPage(snapshot()));
  const v = (name: string, labels: Record<string, string> = {}) => promValue(doc, name, labels);
  assert.equal(v("weft_tcp_connections"), 4);
  assert.equal(v("weft_tcp_accepts_total"), 9);
  assert.equal(v("weft_tcp_dials_total"), 7);
  assert.equal(v("weft_tcp_dial_failures_total"), 2);
  assert.equal(v("weft_tcp_evicted_total"), 1);
  assert.equal(v("weft_tcp_bad_frames_total"), 3);
  assert.equal(v("weft_tcp_truncated_total"), 1);
  assert.equal(v("weft_tcp_frames_total", { dir: "in" }), 1200);
  assert.equal(v("weft_tcp_frames_total", { dir: "out" }), 1100);
  assert.equal(v("weft_tcp_bytes_total", { dir: "in" }), 150_000);
  assert.equal(v("weft_tcp_bytes_total", { dir: "out" }), 140_000);
  assert.equal(v("weft_tcp_send_drops_total", { reason: "queue-full" }), 5);
  assert.equal(v("weft_tcp_send_drops_total", { reason: "closed" }), 0);
  assert.equal(doc.families.get("weft_tcp_connections")!.type, "gauge");
});

Deno.test("metrics: the probe RTT histogram is cumulative and ends in +Inf = count", () => {
  const snap = snapshot();
  const doc = parsePrometheus(renderPage(snap));
  const bravo = { peer: snap.peers[0].publicKey, name: "bravo" };
  const le = (b: string) => promValue(doc, "weft_probe_rtt_seconds_bucket", { ...bravo, le: b });
  // Observed (ms): 0.3, 0.8, 4, 12, 40, 40, 700, 9000.
  assert.equal(le("0.0005"), 1);
  assert.equal(le("0.001"), 2);
  assert.equal(le("0.005"), 3);
  assert.equal(le("0.025"), 4);
  assert.equal(le("0.05"), 6);
  assert.equal(le("0.5"), 6);
  assert.equal(le("1"), 7);
  assert.equal(le("2.5"), 7);
  assert.equal(le("+Inf"), 8);
  assert.equal(promValue(doc, "weft_probe_rtt_seconds_count", bravo), 8);
  const sum = promValue(doc, "weft_probe_rtt_seconds_sum", bravo);
  assert.ok(Math.abs(sum - 9.7971) < 1e-9, String(sum));
  const buckets = doc.samples.filter((s) => s.name === "weft_probe_rtt_seconds_bucket");
  for (let i = 1; i < buckets.length; i++) assert.ok(buckets[i].value >= buckets[i - 1].value);
  // The peer without probes has no histogram series.
  assert.equal(buckets.length, 13);
});

Deno.test("metrics: optional families are left out; the empty mesh is still a valid document", async () => {
  const text = renderPage({
    version: "0.1.0",
    crypto: "node",
    uptimeSeconds: 0,
    peers: [],
    handshakes: { completed: 0, failed: 0, received: 0 },
    drops: {},
  });
  const doc = parsePrometheus(text);
  assert.ok(!doc.families.has("weft_dns_queries_total"));
  assert.ok(!doc.families.has("weft_policy_drops_total"));
  assert.ok(!doc.families.has("weft_paths"), "no mesh paths: no path families");
  assert.ok(![...doc.families.keys()].some((k) => /^weft_(relay|fallbacks|routes|tcp)/.test(k)));
  assert.ok(doc.families.has("weft_peer_rx_bytes_total"), "HELP/TYPE even with no series");
  if (hasPromtool) assert.equal((await promtoolCheck(text)).code, 0);
});

Deno.test("metrics: the test parser refuses malformed documents", () => {
  assert.throws(() => parsePrometheus('x{a="b} 1\n'), /line 1/);
  assert.throws(() => parsePrometheus("# TYPE x gauge\nx 1\nx 2\n"), /twice/);
  assert.throws(() => parsePrometheus("y 1\n"), /outside/);
  assert.throws(() => parsePrometheus("# TYPE x gauge\nx one\n"), /bad value/);
  assert.throws(() => parsePrometheus('# TYPE x gauge\nx{a="\\q"} 1\n'), /escape/);
});

Deno.test("metrics: the UDP underlay's figures, with GSO and GRO when the driver has them", async () => {
  const udp = {
    datagramsIn: 10,
    bytesIn: 1000,
    datagramsOut: 20,
    bytesOut: 2000,
    sendErrors: 1,
    sendDrops: 2,
    recvErrors: 3,
  };
  const plain = renderPage({ ...snapshot(), udp });
  assert.equal(promValue(parsePrometheus(plain), "weft_udp_datagrams_total", { dir: "out" }), 20);
  assert.equal(promValue(parsePrometheus(plain), "weft_udp_errors_total", { kind: "receive" }), 3);
  assert.ok(!parsePrometheus(plain).families.has("weft_udp_offload_messages_total"));
  const text = renderPage({
    ...snapshot(),
    udp: {
      ...udp,
      gsoMessages: 4,
      gsoSegments: 90,
      gsoFallbacks: 0,
      groMessages: 5,
      groSegments: 70,
    },
  });
  const doc = parsePrometheus(text);
  assert.equal(promValue(doc, "weft_udp_offload_datagrams_total", { kind: "gso" }), 90);
  assert.equal(promValue(doc, "weft_udp_offload_messages_total", { kind: "gro" }), 5);
  if (hasPromtool) assert.equal((await promtoolCheck(text)).code, 0);
});

Deno.test("metrics: the TUN's figures, with the offloads' when on", async () => {
  const tun = {
    packetsIn: 5,
    bytesIn: 500,
    packetsOut: 6,
    bytesOut: 600,
    readErrors: 0,
    writeErrors: 1,
  };
  const plain = parsePrometheus(renderPage({ ...snapshot(), tun }));
  assert.equal(promValue(plain, "weft_tun_packets_total", { dir: "out" }), 6);
  assert.ok(!plain.families.has("weft_tun_gso_reads_total"));
  const offload = {
    gsoReads: 2,
    segments: 80,
    checksumsCompleted: 3,
    readDrops: 0,
    coalescedWrites: 4,
    coalescedPackets: 90,
  };
  const text = renderPage({ ...snapshot(), tun: { ...tun, offload } });
  const doc = parsePrometheus(text);
  assert.equal(promValue(doc, "weft_tun_gso_segments_total", {}), 80);
  assert.equal(promValue(doc, "weft_tun_coalesced_packets_total", {}), 90);
  if (hasPromtool) assert.equal((await promtoolCheck(text)).code, 0);
});

Deno.test("metrics: service calls and events", async () => {
  const h = new Histogram([0.001, 0.01]);
  h.observe(0.0005);
  h.observe(0.005);
  const text = renderPage({
    ...snapshot(),
    services: {
      calls: [{ service: "echo", action: "say", outcome: "ok", histogram: h.snapshot() }],
      served: [{ service: "auth", action: "login", outcome: "timeout", histogram: h.snapshot() }],
      events: { published: 4, sent: 6, delivered: 9 },
      eventDrops: { "slow-subscriber": 2, unacked: 1 },
      drops: { malformed: 3, "inflate-too-large": 1 },
      wire: {
        sentBytes: 1000,
        receivedBytes: 2000,
        compressedSent: { messages: 1, plainBytes: 10_000, deflatedBytes: 900 },
        compressedReceived: { messages: 2, plainBytes: 30_000, deflatedBytes: 1_500 },
      },
    },
  });
  const doc = parsePrometheus(text);
  const v = (name: string, labels: Record<string, string> = {}) => promValue(doc, name, labels);
  const call = { service: "echo", action: "say", outcome: "ok" };
  assert.equal(v("weft_service_request_duration_seconds_count", call), 2);
  assert.equal(v("weft_service_wire_bytes_total", { direction: "received" }), 2000);
  assert.equal(v("weft_service_compressed_messages_total", { direction: "received" }), 2);
  const deflated = { direction: "sent", form: "deflated" };
  assert.equal(v("weft_service_compressed_bytes_total", deflated), 900);
  assert.equal(v("weft_service_drops_total", { reason: "inflate-too-large" }), 1);
  assert.equal(v("weft_service_request_duration_seconds_bucket", { ...call, le: "0.001" }), 1);
  assert.equal(
    v("weft_service_served_duration_seconds_count", { service: "auth", outcome: "timeout" }),
    2,
  );
  assert.equal(v("weft_service_events_published_total"), 4);
  assert.equal(v("weft_service_events_sent_total"), 6);
  assert.equal(v("weft_service_events_delivered_total"), 9);
  assert.equal(v("weft_service_events_dropped_total", { reason: "slow-subscriber" }), 2);
  assert.equal(v("weft_service_drops_total", { reason: "malformed" }), 3);
  if (hasPromtool) {
    const r = await promtoolCheck(text);
    assert.equal(r.code, 0, r.out);
  }
});

Deno.test("metrics: service ejections, retries and retry budget refusals", async () => {
  const text = renderPage({
    ...snapshot(),
    services: {
      calls: [],
      served: [],
      events: { published: 0, sent: 0, delivered: 0 },
      eventDrops: {},
      drops: {},
      resilience: {
        ejections: { echo: 2 },
        retries: { echo: 7, db: 1 },
        budgetRefusals: { echo: 3 },
      },
    },
  });
  const doc = parsePrometheus(text);
  const v = (name: string, service: string) => promValue(doc, name, { service });
  assert.equal(v("weft_service_ejections_total", "echo"), 2);
  assert.equal(v("weft_service_retries_total", "echo"), 7);
  assert.equal(v("weft_service_retries_total", "db"), 1);
  assert.equal(v("weft_service_retry_budget_refusals_total", "echo"), 3);
  if (hasPromtool) {
    const r = await promtoolCheck(text);
    assert.equal(r.code, 0, r.out);
  }
});

Deno.test("metrics: service-leader leases, on a node and on the arbiter", async () => {
  const node = renderPage({
    ...snapshot(),
    leases: {
      leaders: [{ service: "jobs", node: null }, { service: "echo", node: "n1" }],
      changes: { echo: 3 },
      client: { asks: 40, releases: 1, lapsed: 2, rowsDropped: 0 },
    },
  });
  const doc = parsePrometheus(node);
  const v = (name: string, labels: Record<string, string> = {}) => promValue(doc, name, labels);
  assert.equal(v("weft_service_leaders", { service: "echo" }), 1);
  assert.equal(v("weft_service_leaders", { service: "jobs" }), 0);
  assert.equal(v("weft_service_leader", { service: "echo", node: "n1" }), 1);
  assert.equal(
    doc.samples.filter((s) => s.name === "weft_service_leader").length,
    1,
    "no series for a service without a leader",
  );
  assert.equal(v("weft_service_leader_changes_total", { service: "echo" }), 3);
  assert.equal(v("weft_service_lease_asks_total"), 40);
  assert.equal(v("weft_service_lease_lapsed_total"), 2);
  assert.ok(!doc.families.has("weft_service_lease_grants_total"), "only the arbiter grants");
  // Sorted by service, whatever order they came in.
  assert.deepEqual(
    doc.samples.filter((s) => s.name === "weft_service_leaders").map((s) => s.labels.service),
    ["echo", "jobs"],
  );

  const arbiter = renderPage({
    ...snapshot(),
    leases: {
      leaders: [],
      changes: {},
      client: { asks: 0, releases: 0, lapsed: 0, rowsDropped: 5 },
      arbiter: {
        granted: 7,
        renewed: 90,
        ended: { released: 2, expired: 4 },
        refused: { "not-member": 1, unhealthy: 6, "rate-limited": 0 },
        staleReleases: 1,
        persistFailed: 0,
        storeFailed: 0,
      },
    },
  });
  const a = parsePrometheus(arbiter);
  assert.equal(promValue(a, "weft_service_lease_grants_total"), 7);
  assert.equal(promValue(a, "weft_service_lease_renewals_total"), 90);
  assert.equal(promValue(a, "weft_service_lease_ends_total", { reason: "expired" }), 4);
  assert.equal(promValue(a, "weft_service_lease_refusals_total", { reason: "unhealthy" }), 6);
  assert.equal(promValue(a, "weft_service_lease_rows_dropped_total"), 5);
  if (hasPromtool) {
    for (const text of [node, arbiter]) {
      const r = await promtoolCheck(text);
      assert.equal(r.code, 0, r.out);
    }
  }
});
