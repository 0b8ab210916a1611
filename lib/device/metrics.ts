/**
 * The device's `/metrics` families: each peer's traffic counters and last handshake, and the
 * packets dropped by reason. Read from the device at scrape time.
 * @module
 */

import { type Collector, counter, gauge, sampleCounts } from "../metrics/registry.ts";

/** What the collector reads of a device (the `Device` has it). */
export interface DeviceFigures {
  /** Every peer, with its counters. */
  peers(): readonly {
    readonly publicKeyText: string;
    readonly lastHandshakeUnixMs: number;
    readonly counters: {
      readonly rxBytes: number;
      readonly txBytes: number;
      readonly rxPackets: number;
      readonly txPackets: number;
    };
  }[];
  /** The device's counters. */
  readonly stats: { readonly drops: Readonly<Record<string, number>> };
}

const PEER = ["peer", "name"] as const;
const RX_BYTES = counter("weft_peer_rx_bytes_total", "Underlay bytes received from a peer.", PEER);
const TX_BYTES = counter("weft_peer_tx_bytes_total", "Underlay bytes sent to a peer.", PEER);
const RX_PACKETS = counter(
  "weft_peer_rx_packets_total",
  "Transport packets received from a peer (keepalives included).",
  PEER,
);
const TX_PACKETS = counter(
  "weft_peer_tx_packets_total",
  "Transport packets sent to a peer (keepalives included).",
  PEER,
);
const LAST_HANDSHAKE = gauge(
  "weft_peer_last_handshake_seconds",
  "Unix time of the last completed handshake with a peer; 0 when none.",
  PEER,
);
const DROPS = counter("weft_drops_total", "Packets dropped, by reason.", ["reason"]);

/** The per-peer counters, labelled with the peer's key and `nameOf` it ("" when unknown). */
export function devicePeersCollector(
  device: DeviceFigures,
  nameOf: (publicKey: string) => string,
): Collector {
  return (out) => {
    const peers = device.peers();
    const labels = peers.map((p) => ({ peer: p.publicKeyText, name: nameOf(p.publicKeyText) }));
    out.family(RX_BYTES, TX_BYTES, RX_PACKETS, TX_PACKETS, LAST_HANDSHAKE);
    peers.forEach((p, i) => out.sample(RX_BYTES, labels[i], p.counters.rxBytes));
    peers.forEach((p, i) => out.sample(TX_BYTES, labels[i], p.counters.txBytes));
    peers.forEach((p, i) => out.sample(RX_PACKETS, labels[i], p.counters.rxPackets));
    peers.forEach((p, i) => out.sample(TX_PACKETS, labels[i], p.counters.txPackets));
    peers.forEach((p, i) => out.sample(LAST_HANDSHAKE, labels[i], p.lastHandshakeUnixMs / 1000));
  };
}

/** The packets the device dropped, by reason. */
export function deviceDropsCollector(device: DeviceFigures): Collector {
  return (out) => sampleCounts(out, DROPS, "reason", device.stats.drops);
}
