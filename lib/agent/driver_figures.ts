/**
 * The drivers' own reports (lib/io/driver.ts `driverStats`) as /status and /metrics show them:
 * the UDP socket's counters, the TCP side's, the TUN's, and the offloads the kernel granted.
 * @module
 */

import type {
  PacketDriverStats,
  TcpDriverStats,
  TransportDriverStats,
  UdpDriverStats,
} from "../io/driver.ts";
import type { NodeStatus } from "../status/status.ts";
import type { TunMetrics } from "../io/metrics.ts";

/** The UDP socket's report in an underlay's (itself, or a dual transport's UDP side), or null. */
export function udpSide(r: TransportDriverStats | null | undefined): UdpDriverStats | null {
  if (!r) return null;
  if (r.kind === "udp+tcp") return udpSide(r.udp);
  return r.kind === "udp" ? r : null;
}

/** The TCP side's report in an underlay's, or null. */
export function tcpSide(r: TransportDriverStats | null | undefined): TcpDriverStats | null {
  if (!r) return null;
  if (r.kind === "udp+tcp") return tcpSide(r.tcp);
  return r.kind === "tcp" ? r : null;
}

/**
 * `/status` node.offloads: the TUN's offloads and UDP GSO/GRO; undefined when neither the packet
 * device nor the UDP socket can have offloads (the userspace stack on Deno's UDP).
 */
export function offloadsOf(
  udp: UdpDriverStats | null,
  packets: PacketDriverStats | null,
): NodeStatus["offloads"] {
  if (packets === null && udp?.offloads == null) return undefined;
  return {
    tun: packets ? [...packets.offloads] : [],
    udpGso: udp?.offloads?.gso === true,
    udpGro: udp?.offloads?.gro === true,
  };
}

/** `/metrics` tun: the TUN's counters, with its offload paths' when on; nothing without a TUN. */
export function tunMetricsOf(packets: PacketDriverStats | null): { tun?: TunMetrics } {
  if (packets === null) return {};
  const { counters, offload } = packets;
  return { tun: { ...counters, ...(offload ? { offload } : {}) } };
}
