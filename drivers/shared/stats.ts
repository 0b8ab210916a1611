/**
 * Counters kept by the drivers, read by status and benchmarks.
 * @module
 */

import type {
  PacketDeviceStats as DeviceStats,
  TcpStats,
  TransportStats,
  UdpOffloadStats as OffloadStats,
  WsStats,
} from "../../lib/io/stats.ts";

// The types live with the driver interfaces (lib/io), which may not import drivers; these names
// stay for the drivers and their importers.
export type {
  PacketDeviceStats as DeviceStats,
  TcpSendDrop,
  TcpStats,
  TransportStats,
  UdpOffloadStats as OffloadStats,
  WsStats,
} from "../../lib/io/stats.ts";

/** A zeroed {@link TransportStats}. */
export function newTransportStats(): TransportStats {
  return {
    datagramsIn: 0,
    bytesIn: 0,
    datagramsOut: 0,
    bytesOut: 0,
    sendErrors: 0,
    sendDrops: 0,
    recvErrors: 0,
    endpointsEvicted: 0,
  };
}

/** A zeroed {@link OffloadStats}. */
export function newOffloadStats(): OffloadStats {
  return { gsoMessages: 0, gsoSegments: 0, gsoFallbacks: 0, groMessages: 0, groSegments: 0 };
}

/** A zeroed {@link TcpStats}. */
export function newTcpStats(): TcpStats {
  return {
    ...newTransportStats(),
    drops: {
      "queue-full": 0,
      "dial-queue": 0,
      "dial-failed": 0,
      "dial-backoff": 0,
      "conn-lost": 0,
      "released": 0,
      "evicted": 0,
      "bad-size": 0,
      "closed": 0,
    },
    accepts: 0,
    dials: 0,
    dialFailures: 0,
    connections: 0,
    badFrames: 0,
    truncated: 0,
    idleClosed: 0,
    evicted: 0,
    refusedPerAddress: 0,
    queuedBytes: 0,
    websocket: newWsStats(),
  };
}

/** A zeroed {@link WsStats}. */
export function newWsStats(): WsStats {
  return {
    upgrades: 0,
    refused: 0,
    dials: 0,
    dialFailures: 0,
    connections: 0,
    badFrames: 0,
    pings: 0,
    closes: 0,
  };
}

/** A zeroed {@link DeviceStats}. */
export function newDeviceStats(): DeviceStats {
  return { packetsIn: 0, bytesIn: 0, packetsOut: 0, bytesOut: 0, readErrors: 0, writeErrors: 0 };
}
