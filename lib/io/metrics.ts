/**
 * The underlay's and the TUN's `/metrics` families: the UDP socket's, the TCP transport's and the
 * TUN interface's counters (the drivers' own stats objects, read at scrape time).
 * @module
 */

import { type Collector, counter, gauge, sampleCounts } from "../metrics/registry.ts";
import type { PacketDeviceStats, TcpStats, TransportStats, TunOffloadStats } from "./stats.ts";

/**
 * The TCP transport's figures the page shows: a {@link TcpStats} passes straight in (its drops by
 * any reason names).
 */
export type TcpMetrics =
  & Pick<
    TcpStats,
    | "connections"
    | "accepts"
    | "dials"
    | "dialFailures"
    | "evicted"
    | "badFrames"
    | "truncated"
    | "datagramsIn"
    | "bytesIn"
    | "datagramsOut"
    | "bytesOut"
    | "websocket"
  >
  & { drops: Record<string, number> };

/** The UDP underlay's figures: its driver's counters. */
export type UdpMetrics = TransportStats;

/** The TUN interface's figures: its counters, and its offload paths' when the kernel granted them. */
export type TunMetrics = PacketDeviceStats & { offload?: TunOffloadStats };

const DIR = ["dir"] as const;
const KIND = ["kind"] as const;

const UDP_DATAGRAMS = counter(
  "weft_udp_datagrams_total",
  "Datagrams over the UDP underlay, by direction.",
  DIR,
);
const UDP_BYTES = counter(
  "weft_udp_bytes_total",
  "Bytes of the datagrams over the UDP underlay, by direction.",
  DIR,
);
const UDP_ERRORS = counter("weft_udp_errors_total", "UDP underlay errors, by kind.", KIND);
const UDP_OFFLOAD_MESSAGES = counter(
  "weft_udp_offload_messages_total",
  "UDP GSO sends and GRO receives (each carrying several datagrams), by kind.",
  KIND,
);
const UDP_OFFLOAD_DATAGRAMS = counter(
  "weft_udp_offload_datagrams_total",
  "Datagrams carried in UDP GSO sends and GRO receives, by kind.",
  KIND,
);
const UDP_ENDPOINTS_EVICTED = counter(
  "weft_udp_endpoints_evicted_total",
  "Source endpoints the UDP underlay's table let go to stay bounded (unseen for a generation).",
);
const UDP_GSO_FALLBACKS = counter(
  "weft_udp_gso_fallbacks_total",
  "Batches sent again without GSO.",
);

/** The UDP underlay's counters; the offload families when the driver keeps them. */
export function udpCollector(u: UdpMetrics): Collector {
  return (out) => {
    out.sample(UDP_DATAGRAMS, { dir: "in" }, u.datagramsIn);
    out.sample(UDP_DATAGRAMS, { dir: "out" }, u.datagramsOut);
    out.sample(UDP_BYTES, { dir: "in" }, u.bytesIn);
    out.sample(UDP_BYTES, { dir: "out" }, u.bytesOut);
    out.sample(UDP_ERRORS, { kind: "send" }, u.sendErrors);
    out.sample(UDP_ERRORS, { kind: "send-queue-full" }, u.sendDrops);
    out.sample(UDP_ERRORS, { kind: "receive" }, u.recvErrors);
    out.sample(UDP_ENDPOINTS_EVICTED, {}, u.endpointsEvicted ?? 0);
    if (u.gsoMessages === undefined) return;
    out.sample(UDP_OFFLOAD_MESSAGES, { kind: "gso" }, u.gsoMessages);
    out.sample(UDP_OFFLOAD_MESSAGES, { kind: "gro" }, u.groMessages ?? 0);
    out.sample(UDP_OFFLOAD_DATAGRAMS, { kind: "gso" }, u.gsoSegments ?? 0);
    out.sample(UDP_OFFLOAD_DATAGRAMS, { kind: "gro" }, u.groSegments ?? 0);
    out.sample(UDP_GSO_FALLBACKS, {}, u.gsoFallbacks ?? 0);
  };
}

const TCP_CONNECTIONS = gauge(
  "weft_tcp_connections",
  "TCP underlay connections open now (dialled, accepted).",
);
const TCP_ACCEPTS = counter("weft_tcp_accepts_total", "TCP underlay connections accepted.");
const TCP_DIALS = counter("weft_tcp_dials_total", "TCP underlay dials started.");
const TCP_DIAL_FAILURES = counter(
  "weft_tcp_dial_failures_total",
  "TCP underlay dials that failed or timed out.",
);
const TCP_EVICTED = counter(
  "weft_tcp_evicted_total",
  "Idle TCP underlay connections closed to make room at the connection cap.",
);
const TCP_BAD_FRAMES = counter(
  "weft_tcp_bad_frames_total",
  "TCP underlay connections closed for a bad length prefix.",
);
const TCP_TRUNCATED = counter(
  "weft_tcp_truncated_total",
  "TCP underlay connections that ended in the middle of a frame.",
);
const TCP_FRAMES = counter(
  "weft_tcp_frames_total",
  "Frames (datagrams) over the TCP underlay, by direction.",
  DIR,
);
const TCP_BYTES = counter(
  "weft_tcp_bytes_total",
  "Bytes of the frames over the TCP underlay, by direction.",
  DIR,
);
const TCP_SEND_DROPS = counter(
  "weft_tcp_send_drops_total",
  "Frames the TCP underlay dropped before sending, by reason.",
  ["reason"],
);

const WS_CONNECTIONS = gauge(
  "weft_websocket_connections",
  "WebSocket connections open now on the TCP underlay (also in weft_tcp_connections).",
);
const WS_HANDSHAKES = counter(
  "weft_websocket_handshakes_total",
  "WebSocket handshakes on the TCP underlay, by result: upgraded (served), refused (a bad " +
    "request answered 400/404/405, or a failed TLS handshake), dialled, dial-failed.",
  ["result"],
);
const WS_FRAMES = counter(
  "weft_websocket_control_total",
  "WebSocket frames that carry no datagram, by kind: ping (answered), close, bad (a frame that " +
    "breaks the protocol, or a ping flood: the connection was closed).",
  KIND,
);

/** The TCP transport's counters (a `TcpStats`, passed straight in). */
export function tcpCollector(t: TcpMetrics): Collector {
  return (out) => {
    out.sample(TCP_CONNECTIONS, {}, t.connections);
    out.sample(TCP_ACCEPTS, {}, t.accepts);
    out.sample(TCP_DIALS, {}, t.dials);
    out.sample(TCP_DIAL_FAILURES, {}, t.dialFailures);
    out.sample(TCP_EVICTED, {}, t.evicted);
    out.sample(TCP_BAD_FRAMES, {}, t.badFrames);
    out.sample(TCP_TRUNCATED, {}, t.truncated);
    out.sample(TCP_FRAMES, { dir: "in" }, t.datagramsIn);
    out.sample(TCP_FRAMES, { dir: "out" }, t.datagramsOut);
    out.sample(TCP_BYTES, { dir: "in" }, t.bytesIn);
    out.sample(TCP_BYTES, { dir: "out" }, t.bytesOut);
    sampleCounts(out, TCP_SEND_DROPS, "reason", t.drops);
    const ws = t.websocket;
    if (ws !== undefined) {
      out.sample(WS_CONNECTIONS, {}, ws.connections);
      out.sample(WS_HANDSHAKES, { result: "upgraded" }, ws.upgrades);
      out.sample(WS_HANDSHAKES, { result: "refused" }, ws.refused);
      out.sample(WS_HANDSHAKES, { result: "dialled" }, ws.dials);
      out.sample(WS_HANDSHAKES, { result: "dial-failed" }, ws.dialFailures);
      out.sample(WS_FRAMES, { kind: "ping" }, ws.pings);
      out.sample(WS_FRAMES, { kind: "close" }, ws.closes);
      out.sample(WS_FRAMES, { kind: "bad" }, ws.badFrames);
    }
  };
}

const TUN_PACKETS = counter(
  "weft_tun_packets_total",
  "Packets through the TUN interface, by direction.",
  DIR,
);
const TUN_BYTES = counter(
  "weft_tun_bytes_total",
  "Bytes through the TUN interface, by direction.",
  DIR,
);
const TUN_ERRORS = counter(
  "weft_tun_errors_total",
  "TUN reads and writes that failed, by kind.",
  KIND,
);
const TUN_GSO_READS = counter(
  "weft_tun_gso_reads_total",
  "Large (TSO/USO) packets read from the TUN and cut.",
);
const TUN_GSO_SEGMENTS = counter(
  "weft_tun_gso_segments_total",
  "Packets those large reads were cut into.",
);
const TUN_CHECKSUMS = counter(
  "weft_tun_checksums_completed_total",
  "Partial checksums completed on TUN reads.",
);
const TUN_READ_DROPS = counter(
  "weft_tun_read_drops_total",
  "TUN reads dropped as malformed by the offloads.",
);
const TUN_COALESCED_WRITES = counter(
  "weft_tun_coalesced_writes_total",
  "Coalesced TCP packets written to the TUN.",
);
const TUN_COALESCED_PACKETS = counter(
  "weft_tun_coalesced_packets_total",
  "Packets carried by those coalesced writes.",
);

/** The TUN's figures, read at each scrape (the offloads' only while on; nothing without a TUN). */
export function tunCollector(tun: () => TunMetrics | undefined): Collector {
  return (out) => {
    const t = tun();
    if (!t) return;
    out.sample(TUN_PACKETS, { dir: "in" }, t.packetsIn);
    out.sample(TUN_PACKETS, { dir: "out" }, t.packetsOut);
    out.sample(TUN_BYTES, { dir: "in" }, t.bytesIn);
    out.sample(TUN_BYTES, { dir: "out" }, t.bytesOut);
    out.sample(TUN_ERRORS, { kind: "read" }, t.readErrors);
    out.sample(TUN_ERRORS, { kind: "write" }, t.writeErrors);
    const o = t.offload;
    if (!o) return;
    out.sample(TUN_GSO_READS, {}, o.gsoReads);
    out.sample(TUN_GSO_SEGMENTS, {}, o.segments);
    out.sample(TUN_CHECKSUMS, {}, o.checksumsCompleted);
    out.sample(TUN_READ_DROPS, {}, o.readDrops);
    out.sample(TUN_COALESCED_WRITES, {}, o.coalescedWrites);
    out.sample(TUN_COALESCED_PACKETS, {}, o.coalescedPackets);
  };
}
