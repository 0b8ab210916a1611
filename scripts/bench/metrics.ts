/**
 * `/metrics` render benchmark: one scrape of a realistic mesh page (N peers with health and a
 * probe RTT histogram each, and every subsystem's collector: DNS, policy, leader, paths, relays
 * as server and client, 30 service call series made and served, leases, TCP, UDP, listeners).
 *
 *   deno run -A scripts/bench/metrics.ts [peers=50]
 * @module
 */

import { MetricsRegistry } from "../../lib/metrics/registry.ts";
import { agentEventsCollector, agentInfoCollector } from "../../lib/agent/metrics.ts";
import { deviceDropsCollector, devicePeersCollector } from "../../lib/device/metrics.ts";
import { healthCollector } from "../../lib/health/metrics.ts";
import { listenersCollector } from "../../lib/net/listener_metrics.ts";
import { tcpCollector, udpCollector } from "../../lib/io/metrics.ts";
import { dnsCollector } from "../../lib/dns/metrics.ts";
import { leaderCollector } from "../../lib/mesh/leader/metrics.ts";
import { pathsCollector } from "../../lib/nat/metrics.ts";
import { relayCollector } from "../../lib/relay/metrics.ts";
import { type ServiceCallSeries, servicesCollector } from "../../lib/services/metrics.ts";
import { leaseCollector } from "../../lib/services/lease/collector.ts";
import { policyCollector } from "../../lib/policy/metrics.ts";
import { Histogram, type HistogramSnapshot } from "../../lib/health/histogram.ts";
import { DROP_REASONS } from "../../lib/device/drops.ts";
import { newListenerStats } from "../../lib/net/conn_guard.ts";
import { encodeBase64 } from "../../lib/crypto/base64.ts";

/** What one run measured. */
export interface MetricsBenchResult {
  /** Peers on the page. */
  peers: number;
  /** Bytes of the page. */
  bytes: number;
  /** Lines of the page. */
  lines: number;
  /** Median µs per render over 7 rounds. */
  medianUs: number;
  /** Fastest round, µs per render. */
  minUs: number;
}

function rtts(seed: number): HistogramSnapshot {
  const h = new Histogram();
  for (let i = 0; i < 40; i++) h.observe(((i * 37 + seed) % 900) / 10000);
  return h.snapshot();
}

/**
 * A registry with every collector over fixed figures of a mesh of `n` peers (`r`: the registry
 * to register them with, by default a new one; scripts/bench/libs.ts passes a recorder).
 */
export function meshPage<R extends Pick<MetricsRegistry, "register"> = MetricsRegistry>(
  n: number,
  r: R = new MetricsRegistry() as unknown as R,
): R {
  const states = ["up", "degraded", "down", "unknown"] as const;
  const peers = Array.from({ length: n }, (_, i) => ({
    // The first byte tells peers 256 apart: no two peers share a key (a series) at any size.
    publicKeyText: encodeBase64(
      Uint8Array.from({ length: 32 }, (_, j) => j === 0 ? i >> 8 : (i * 7 + j) & 255),
    ),
    lastHandshakeUnixMs: 1_700_000_000_000 + i * 1234,
    counters: { rxBytes: 1e6 * i, txBytes: 9e5 * i, rxPackets: 1e3 * i, txPackets: 990 * i },
  }));
  const health = new Map(peers.map((p, i) => [p.publicKeyText, {
    state: states[i % 4],
    rttMs: { avg: i % 5 ? 10 + i / 3 : null },
    loss: i % 5 ? (i % 10) / 100 : null,
    rttHistogram: rtts(i),
  }]));
  const names = new Map(peers.map((p, i) => [p.publicKeyText, `node-${i}`]));
  const nameOf = (key: string) => names.get(key) ?? "";
  const device = {
    peers: () => peers,
    stats: { drops: Object.fromEntries(DROP_REASONS.map((r, i) => [r, i * 3])) },
  };
  const agent = {
    version: "0.1.0",
    crypto: "noble",
    uptimeSeconds: () => 3723,
    handshakes: () => ({ completed: 7, failed: 2, received: 4 }),
    listenerErrors: () => ({ device: 0, health: 1, datagram: 0, control: 0 }),
    healthTransitions: () => ({ up: 12, degraded: 1, down: 2, unknown: 0, idle: 0 }),
  };
  const series = (seed: number): ServiceCallSeries[] =>
    ["echo", "auth", "jobs", "kv", "web"].flatMap((service) =>
      ["get", "put", "list"].flatMap((action) =>
        ["ok", "timeout"].map((outcome) => ({
          service,
          action,
          outcome,
          histogram: rtts(seed++),
        }))
      )
    );
  const calls = series(0), served = series(100);
  const tcp = {
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
  };
  const udp = {
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
  };
  r.register(agentInfoCollector(agent));
  r.register(devicePeersCollector(device, nameOf));
  r.register(healthCollector(health, () => peers.map((p) => p.publicKeyText), nameOf));
  r.register(agentEventsCollector(agent));
  r.register(deviceDropsCollector(device));
  r.register(listenersCollector({ http: newListenerStats(), uapi: newListenerStats() }));
  r.register(tcpCollector(tcp));
  r.register(udpCollector(udp));
  r.register(dnsCollector(() => ({
    byTypeRcode: { "A|NOERROR": 10, "AAAA|NXDOMAIN": 3 },
    forwarded: 4,
    forwardFailed: 1,
    forwardRefused: 2,
  })));
  r.register(leaderCollector({
    joinDrops: () => ({ mac: 1, replay: 2 }),
    memberRefusals: () => ({ label: 1, hello: 2 }),
  }));
  r.register(pathsCollector(() => ({
    changes: { punched: 3, lan: 1, rtt: 0, failed: 2, relay: 5, tcp: 1, direct: 2 },
    drops: { "not-member": 4 },
    states: { direct: n - 10, relay: 8, none: 2 },
    announceDrops: { mac: 2 },
  })));
  const traffic = { packets: 5000, bytes: 6_400_000 };
  r.register(relayCollector(() => ({
    server: {
      sessions: 3,
      opened: 11,
      closed: 6,
      expired: 2,
      received: traffic,
      forwarded: traffic,
      drops: { "not-member": 4, mac: 2 },
      refusals: { self: 2 },
    },
    client: {
      sessions: 2,
      wrapped: traffic,
      unwrapped: traffic,
      switches: 1,
      drops: { mac: 5 },
      refusals: {},
    },
    fallbacks: { relay: 4, tcp: 2 },
    routes: { direct: n - 10, relay: 8, tcp: 0, none: 2 },
  })));
  r.register(servicesCollector(() => ({
    calls,
    served,
    events: { published: 4, sent: 6, delivered: 9 },
    eventDrops: { unacked: 1 },
    drops: { malformed: 3 },
  })));
  r.register(leaseCollector(() => ({
    leaders: [{ service: "jobs", node: null }, { service: "echo", node: "n1" }],
    changes: { echo: 3 },
    client: { asks: 40, releases: 1, lapsed: 2, rowsDropped: 0 },
  })));
  r.register(policyCollector(() => ({ "deny-db": 5, "(default)": 1 })));
  return r;
}

/** Renders the page of `peers` peers, 7 rounds of `iterations` renders after a warm-up. */
export function runMetricsBench(peers = 50, iterations = 2000): MetricsBenchResult {
  const registry = meshPage(peers);
  for (let i = 0; i < 300; i++) registry.render();
  const rounds: number[] = [];
  for (let r = 0; r < 7; r++) {
    const t0 = performance.now();
    for (let i = 0; i < iterations; i++) registry.render();
    rounds.push((performance.now() - t0) / iterations * 1000);
  }
  rounds.sort((a, b) => a - b);
  const text = registry.render();
  return {
    peers,
    bytes: text.length,
    lines: text.split("\n").length - 1,
    medianUs: Math.round(rounds[3]),
    minUs: Math.round(rounds[0]),
  };
}

if (import.meta.main) console.log(runMetricsBench(Number(Deno.args[0] ?? 50)));
