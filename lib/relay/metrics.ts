/**
 * The relays' `/metrics` families: this node's relay (server) and its use of relays (client),
 * fallbacks and the peers' routes. The collector reads the mesh's relay figures at scrape time.
 * @module
 */

import { type Collector, counter, gauge, sampleCounts } from "../metrics/registry.ts";

/** Traffic: packets and bytes. */
export interface TrafficFigures {
  /** Packets. */
  packets: number;
  /** Bytes. */
  bytes: number;
}

/** A relay's figures (this node relays). */
export interface RelayServerFigures {
  /** Sessions open now. */
  sessions: number;
  /** Sessions opened. */
  opened: number;
  /** Sessions closed by a member. */
  closed: number;
  /** Sessions that expired unused. */
  expired: number;
  /** Data packets received from members. */
  received: TrafficFigures;
  /** Data packets passed on to the other member. */
  forwarded: TrafficFigures;
  /** Of them, those with the head-and-tag MAC (lib/relay/wire.ts); absent: none. */
  headTag?: number;
  /** Packets dropped, by reason (`not-member`, `unknown-session`, `mac`, `rate`, ...). */
  drops: Record<string, number>;
  /** Session requests refused, by reason (`not-member`, `self`, `rate`, `too-many`, ...). */
  refusals: Record<string, number>;
}

/** A member's relaying figures (as a user of relays). */
export interface RelayClientFigures {
  /** Relay sessions open now. */
  sessions: number;
  /** Packets wrapped and sent through a relay. */
  wrapped: TrafficFigures;
  /** Packets received through a relay and unwrapped. */
  unwrapped: TrafficFigures;
  /** Moves of a peer from one relay to another. */
  switches: number;
  /** Relayed packets dropped, by reason. */
  drops: Record<string, number>;
  /** Session requests a relay refused, by reason. */
  refusals: Record<string, number>;
}

/** Relay and fallback figures. */
export interface RelayMetrics {
  /** The relay's own figures, when this node relays. */
  server?: RelayServerFigures;
  /** This node's figures as a user of relays. */
  client: RelayClientFigures;
  /** Moves of a peer to a fallback, by where to: relay, tcp, websocket. */
  fallbacks: Record<string, number>;
  /** Peers by route now: direct, relay, tcp, websocket, none. */
  routes: Record<string, number>;
}

const SESSIONS = gauge(
  "weft_relay_sessions",
  "Relay sessions open now, as the relay (server) or a user (client).",
  ["role"],
);
const OPENED = counter(
  "weft_relay_sessions_opened_total",
  "Sessions this relay opened between members.",
);
const CLOSED = counter(
  "weft_relay_sessions_closed_total",
  "Sessions this relay ended: closed (by a member) or expired (unused).",
  ["why"],
);
const RECEIVED_PACKETS = counter(
  "weft_relay_received_packets_total",
  "Data packets this relay received from members.",
);
const RECEIVED_BYTES = counter(
  "weft_relay_received_bytes_total",
  "Bytes of the data packets this relay received from members.",
);
const FORWARDED_PACKETS = counter(
  "weft_relay_forwarded_packets_total",
  "Data packets this relay passed on to the other member of their session.",
);
const FORWARDED_BYTES = counter(
  "weft_relay_forwarded_bytes_total",
  "Bytes of the data packets this relay passed on.",
);
const FORWARDED_HEAD_TAG = counter(
  "weft_relay_forwarded_head_tag_packets_total",
  "Of the data packets this relay passed on, those whose MAC covers the WireGuard header and " +
    "tag (both members of their session take that form), not the whole message.",
);
const DROPS = counter(
  "weft_relay_drops_total",
  "Relayed packets dropped, by side (server: as the relay; client: as a user) and reason.",
  ["side", "reason"],
);
const REFUSALS = counter(
  "weft_relay_refusals_total",
  "Relay session requests refused, by side (server: refused by this relay; client: refused " +
    "to this node) and reason.",
  ["side", "reason"],
);
const CLIENT_PACKETS = counter(
  "weft_relay_client_packets_total",
  "Packets this node sent (out: wrapped) and received (in: unwrapped) through relays.",
  ["dir"],
);
const CLIENT_BYTES = counter(
  "weft_relay_client_bytes_total",
  "Bytes this node sent (out) and received (in) through relays.",
  ["dir"],
);
const SWITCHES = counter("weft_relay_switches_total", "Moves of a peer from one relay to another.");
const FALLBACKS = counter(
  "weft_fallbacks_total",
  "Moves of a peer to a fallback, by where to (relay, tcp, websocket).",
  ["to"],
);
const ROUTES = gauge(
  "weft_routes",
  "Peers by the route their packets take now: direct, relay, tcp, websocket or none.",
  ["route"],
);

/** The relay figures `relay` gives (the server's only when this node relays); nothing while it
 * gives undefined. */
export function relayCollector(relay: () => RelayMetrics | undefined): Collector {
  return (out) => {
    const r = relay();
    if (!r) return;
    const srv = r.server;
    const cli = r.client;
    if (srv) out.sample(SESSIONS, { role: "server" }, srv.sessions);
    out.sample(SESSIONS, { role: "client" }, cli.sessions);
    if (srv) {
      out.sample(OPENED, {}, srv.opened);
      out.sample(CLOSED, { why: "closed" }, srv.closed);
      out.sample(CLOSED, { why: "expired" }, srv.expired);
      out.sample(RECEIVED_PACKETS, {}, srv.received.packets);
      out.sample(RECEIVED_BYTES, {}, srv.received.bytes);
      out.sample(FORWARDED_PACKETS, {}, srv.forwarded.packets);
      out.sample(FORWARDED_BYTES, {}, srv.forwarded.bytes);
      out.sample(FORWARDED_HEAD_TAG, {}, srv.headTag ?? 0);
    }
    if (srv) sampleCounts(out, DROPS, "reason", srv.drops, { side: "server" });
    sampleCounts(out, DROPS, "reason", cli.drops, { side: "client" });
    if (srv) sampleCounts(out, REFUSALS, "reason", srv.refusals, { side: "server" });
    sampleCounts(out, REFUSALS, "reason", cli.refusals, { side: "client" });
    out.sample(CLIENT_PACKETS, { dir: "out" }, cli.wrapped.packets);
    out.sample(CLIENT_PACKETS, { dir: "in" }, cli.unwrapped.packets);
    out.sample(CLIENT_BYTES, { dir: "out" }, cli.wrapped.bytes);
    out.sample(CLIENT_BYTES, { dir: "in" }, cli.unwrapped.bytes);
    out.sample(SWITCHES, {}, cli.switches);
    sampleCounts(out, FALLBACKS, "to", r.fallbacks);
    sampleCounts(out, ROUTES, "route", r.routes);
  };
}
