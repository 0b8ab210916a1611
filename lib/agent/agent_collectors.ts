/**
 * The agent's own `/metrics` collectors, in the order `/metrics` shows them: build info, the
 * process, the device's peers, their health, the agent's events, the device's drops, the
 * listeners, and the drivers' counters (TCP, UDP, TUN, the HTTP proxy) when the drivers keep them.
 * @module
 */

import type { Device } from "../device/device.ts";
import { deviceDropsCollector, devicePeersCollector } from "../device/metrics.ts";
import type { PeerHealth } from "../health/health.ts";
import { healthCollector } from "../health/metrics.ts";
import type { PacketDevice, Transport } from "../io/driver.ts";
import { tcpCollector, tunCollector, udpCollector } from "../io/metrics.ts";
import { processCollector } from "../metrics/process.ts";
import type { Collector } from "../metrics/registry.ts";
import type { ListenerStats } from "../net/conn_guard.ts";
import { listenersCollector } from "../net/listener_metrics.ts";
import { tcpSide, tunMetricsOf, udpSide } from "./driver_figures.ts";
import { proxyCollector } from "./proxy.ts";
import type { ProxyStats } from "../../drivers/proxy_connect.ts";
import { agentEventsCollector, type AgentFigures, agentInfoCollector } from "./metrics.ts";

/** What the collectors read of an agent. */
export interface AgentSources {
  /** The device. */
  device: Device;
  /** A peer's name (empty when it has none). */
  nameOf: (publicKey: string) => string;
  /** The agent's own figures. */
  figures: AgentFigures;
  /** A peer's health (`idle` when not followed). */
  peerHealth: (publicKey: string) => PeerHealth | undefined;
  /** The listeners' counters, by listener. */
  listenerStats: Record<string, ListenerStats>;
  /** The underlay before any wrapping (its drivers keep the counters). */
  underlay: Transport;
  /** The packet side. */
  packets: PacketDevice;
  /** The HTTP proxy's counters, when TCP dials go through one. */
  proxy?: ProxyStats;
}

/** The agent's own collectors. */
export function agentCollectors(a: AgentSources): Collector[] {
  const { device, nameOf, packets } = a;
  const out: Collector[] = [
    agentInfoCollector(a.figures),
    processCollector(),
    devicePeersCollector(device, nameOf),
    healthCollector(
      {
        // An idle peer has a state, and no figures (no histogram of probes it never had).
        get: (key) => {
          const h = a.peerHealth(key);
          return h?.state === "idle" ? { state: h.state, rttMs: h.rttMs, loss: null } : h;
        },
      },
      () => device.peers().map((p) => p.publicKeyText),
      nameOf,
    ),
    agentEventsCollector(a.figures),
    deviceDropsCollector(device),
    listenersCollector(a.listenerStats),
  ];
  // The drivers' counters are live objects: taken once here, read at each scrape.
  const underlay = a.underlay.driverStats?.();
  const tcp = tcpSide(underlay);
  if (tcp) out.push(tcpCollector(tcp.counters));
  const udp = udpSide(underlay);
  if (udp) out.push(udpCollector(udp.counters));
  if (a.proxy) out.push(proxyCollector(a.proxy));
  if (packets.driverStats?.()) {
    out.push(tunCollector(() => tunMetricsOf(packets.driverStats?.() ?? null).tun));
  }
  return out;
}
