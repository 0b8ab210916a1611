/**
 * `/metrics`: the Prometheus text exposition format (version 0.0.4) and weft's metric families.
 * The writer knows the format (HELP/TYPE lines, escaping, histogram series); `renderMetrics`
 * knows what weft exposes and reads it from a plain `MetricsSnapshot` the agent fills.
 * @module
 */

import type { ListenerStats } from "../net/conn_guard.ts";
import type { HealthState } from "../health/state.ts";
import type { HistogramSnapshot } from "../health/histogram.ts";

/** The `content-type` of the text format. */
export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** Label names to values. */
export type Labels = Record<string, string>;

/** One series of a counter or gauge. */
export interface Sample {
  /** The series' labels. */
  labels?: Labels;
  /** The value. */
  value: number;
}

/** One series of a histogram. */
export interface HistogramSample {
  /** The series' labels (not `le`). */
  labels?: Labels;
  /** Its figures. */
  histogram: HistogramSnapshot;
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Formats a sample value as the format wants it (`+Inf`, `-Inf`, `NaN`). */
export function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return Object.is(v, -0) ? "0" : String(v);
}

/** Escapes a label value: backslash, double quote and line feed. */
export function escapeLabelValue(v: string): string {
  return v.replace(/[\\"\n]/g, (c) => (c === "\\" ? "\\\\" : c === '"' ? '\\"' : "\\n"));
}

/** Escapes HELP text: backslash and line feed. */
export function escapeHelp(v: string): string {
  return v.replace(/[\\\n]/g, (c) => (c === "\\" ? "\\\\" : "\\n"));
}

function labelText(labels: Labels | undefined, extra?: [string, string]): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(labels ?? {})) {
    if (!LABEL_NAME.test(k) || k.startsWith("__")) throw new Error(`bad label name "${k}"`);
    parts.push(`${k}="${escapeLabelValue(v)}"`);
  }
  if (extra) parts.push(`${extra[0]}="${escapeLabelValue(extra[1])}"`);
  return parts.length ? `{${parts.join(",")}}` : "";
}

/** Builds an exposition document family by family. */
export class MetricsWriter {
  readonly #lines: string[] = [];
  readonly #families = new Set<string>();

  #head(name: string, type: string, help: string): void {
    if (!METRIC_NAME.test(name)) throw new Error(`bad metric name "${name}"`);
    if (this.#families.has(name)) throw new Error(`metric family "${name}" written twice`);
    this.#families.add(name);
    this.#lines.push(`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} ${type}`);
  }

  #samples(name: string, type: string, help: string, samples: Sample[]): this {
    this.#head(name, type, help);
    for (const s of samples) {
      this.#lines.push(`${name}${labelText(s.labels)} ${formatValue(s.value)}`);
    }
    return this;
  }

  /** A counter family (by convention its name ends in `_total`). */
  counter(name: string, help: string, samples: Sample[]): this {
    return this.#samples(name, "counter", help, samples);
  }

  /** A gauge family. */
  gauge(name: string, help: string, samples: Sample[]): this {
    return this.#samples(name, "gauge", help, samples);
  }

  /** A histogram family: `_bucket` series per bound and `+Inf`, then `_sum` and `_count`. */
  histogram(name: string, help: string, series: HistogramSample[]): this {
    this.#head(name, "histogram", help);
    for (const { labels, histogram: h } of series) {
      if (labels && "le" in labels) throw new Error('a histogram series cannot have an "le" label');
      if (h.counts.length !== h.buckets.length) {
        throw new Error("histogram counts and buckets differ in length");
      }
      for (let i = 0; i < h.buckets.length; i++) {
        const le = labelText(labels, ["le", formatValue(h.buckets[i])]);
        this.#lines.push(`${name}_bucket${le} ${formatValue(h.counts[i])}`);
      }
      this.#lines.push(
        `${name}_bucket${labelText(labels, ["le", "+Inf"])} ${formatValue(h.count)}`,
      );
      this.#lines.push(`${name}_sum${labelText(labels)} ${formatValue(h.sum)}`);
      this.#lines.push(`${name}_count${labelText(labels)} ${formatValue(h.count)}`);
    }
    return this;
  }

  /** The document (ends with a line feed). */
  text(): string {
    return this.#lines.length ? this.#lines.join("\n") + "\n" : "";
  }
}

/** One peer's figures for `/metrics`. */
export interface PeerMetrics {
  /** Base64 public key (the `peer` label). */
  publicKey: string;
  /** The peer's node name (the `name` label); empty when unknown. */
  name?: string;
  /** Underlay bytes received. */
  rxBytes: number;
  /** Underlay bytes sent. */
  txBytes: number;
  /** Transport packets received. */
  rxPackets: number;
  /** Transport packets sent. */
  txPackets: number;
  /** Last completed handshake, unix ms; 0 when none. */
  lastHandshakeUnixMs: number;
  /** Current health (default `unknown`). */
  health?: HealthState;
  /** Mean probe RTT over the health window, ms; null or absent when unmeasured. */
  rttMs?: number | null;
  /** Probe loss over the health window, 0..1; null or absent when unmeasured. */
  loss?: number | null;
  /** Probe RTTs in seconds (the tracker's `rttHistogram`). */
  probeRtt?: HistogramSnapshot;
}

/** DNS figures as the DNS server keeps them: counts keyed `"<TYPE>|<RCODE>"`, e.g. `A|NOERROR`. */
export interface DnsMetrics {
  /** Responses by query type and answer code, one count per response (so they add up). */
  byTypeRcode: Record<string, number>;
}

/** One series of service calls: a service, an action, an outcome and the calls' latencies. */
export interface ServiceCallSeries {
  /** The service. */
  service: string;
  /** The action. */
  action: string;
  /** `ok`, or the error code (`timeout`, `remote-error`, ...). */
  outcome: string;
  /** Latencies in seconds; its count is the number of calls. */
  histogram: HistogramSnapshot;
}

/** The service layer's figures (lib/services). */
export interface ServiceMetrics {
  /** Calls this node made, by service, action and outcome. */
  calls: ServiceCallSeries[];
  /** Calls this node served, by service, action and outcome. */
  served: ServiceCallSeries[];
  /** Events this node published, sent to other nodes, and handed to its own subscribers. */
  events: { published: number; sent: number; delivered: number };
  /** Events dropped, by reason (a slow subscriber's full queue, no ack after resends, ...). */
  eventDrops: Record<string, number>;
  /** Service messages dropped on the wire, by reason. */
  drops: Record<string, number>;
}

/** The service-leader leases' figures (lib/services/lease_*.ts). */
export interface LeaseMetrics {
  /** Every service known here, with its leader's node name (null when none is known). */
  leaders: { service: string; node: string | null }[];
  /** Changes of a service's leader heard here, by service. */
  changes: Record<string, number>;
  /** This node's lease client. */
  client: {
    /** Asks and renewals sent. */
    asks: number;
    /** Leases given up. */
    releases: number;
    /** Leases stepped down from because no renewal came in time. */
    lapsed: number;
    /** Rows of announced leases dropped because the table of leaders was full. */
    rowsDropped: number;
  };
  /** The arbiter (the mesh leader only). */
  arbiter?: {
    /** Leases granted. */
    granted: number;
    /** Leases renewed. */
    renewed: number;
    /** Leases that ended, by reason (`released`, `expired`). */
    ended: Record<string, number>;
    /** Asks refused, by reason (`not-member`, `unhealthy`, `rate-limited`, ...). */
    refused: Record<string, number>;
    /** Releases of a lease the sender did not hold. */
    staleReleases: number;
    /** Grants not made because the record could not be persisted. */
    persistFailed: number;
  };
}

/** The figures of the path probes: path changes, drops and the peers' path states. */
export interface PathMetrics {
  /**
   * Changes of a peer's path, by reason (`punched`, `lan`, `rtt`, `failed`, `roamed`, and with
   * relays `relay`, `tcp`, `direct`); any reason is rendered as given.
   */
  changes: Record<string, number>;
  /** Path probes dropped and call-me messages refused, by reason. */
  drops: Record<string, number>;
  /** Peers by path state (`direct`, `relay`, `none`). */
  states: Record<string, number>;
  /** LAN announcements refused, by reason, while LAN discovery runs. */
  announceDrops?: Record<string, number>;
}

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
  /** Moves of a peer to a fallback, by where to: relay, tcp. */
  fallbacks: Record<string, number>;
  /** Peers by route now: direct, relay, tcp, none. */
  routes: Record<string, number>;
}

/**
 * TCP transport figures (the agent listens on TCP). Same fields as drivers/stats.ts `TcpStats`
 * (which lib/status may not import), so the agent can pass a `TcpStats` straight in.
 */
export interface TcpMetrics {
  /** Connections open now (accepted, dialled, or being dialled). */
  connections: number;
  /** Connections accepted. */
  accepts: number;
  /** Dials started. */
  dials: number;
  /** Dials that failed or timed out. */
  dialFailures: number;
  /** Idle connections closed to make room at the connection cap. */
  evicted: number;
  /** Connections closed for a bad length prefix. */
  badFrames: number;
  /** Connections that ended in the middle of a frame. */
  truncated: number;
  /** Frames received. */
  datagramsIn: number;
  /** Bytes of those frames. */
  bytesIn: number;
  /** Frames sent. */
  datagramsOut: number;
  /** Bytes of those frames. */
  bytesOut: number;
  /** Frames dropped before reaching the kernel, by reason. */
  drops: Record<string, number>;
}

/** UDP underlay figures; the same fields as drivers/stats.ts TransportStats. */
export interface UdpMetrics {
  /** Datagrams received. */
  datagramsIn: number;
  /** Bytes of those datagrams. */
  bytesIn: number;
  /** Datagrams sent. */
  datagramsOut: number;
  /** Bytes of those datagrams. */
  bytesOut: number;
  /** Sends that failed. */
  sendErrors: number;
  /** Sends dropped on a full queue. */
  sendDrops: number;
  /** Receive errors and truncated datagrams. */
  recvErrors: number;
  /** UDP GSO messages sent (each several datagrams), when the kernel has it. */
  gsoMessages?: number;
  /** Datagrams sent in those. */
  gsoSegments?: number;
  /** Times GSO was given up for a batch. */
  gsoFallbacks?: number;
  /** UDP GRO messages received (each several datagrams). */
  groMessages?: number;
  /** Datagrams received in those. */
  groSegments?: number;
}

/** The TUN interface's figures; the fields of drivers/stats.ts DeviceStats, and of the TUN
 * offloads' OffloadStats when the kernel granted them. */
export interface TunMetrics {
  /** Packets read from the host. */
  packetsIn: number;
  /** Bytes of those. */
  bytesIn: number;
  /** Packets written to the host. */
  packetsOut: number;
  /** Bytes of those. */
  bytesOut: number;
  /** Reads that failed. */
  readErrors: number;
  /** Writes that failed or found the queue full. */
  writeErrors: number;
  /** The offloads' figures, when on. */
  offload?: {
    gsoReads: number;
    segments: number;
    checksumsCompleted: number;
    readDrops: number;
    coalescedWrites: number;
    coalescedPackets: number;
  };
}

/** Everything `/metrics` shows; the agent fills it per scrape. */
export interface MetricsSnapshot {
  /** weft's version. */
  version: string;
  /** The crypto suite in use. */
  crypto: string;
  /** Seconds since the agent started. */
  uptimeSeconds: number;
  /** Every peer. */
  peers: PeerMetrics[];
  /** Handshakes by outcome. */
  handshakes: {
    /** Handshakes completed with a peer (either role). */
    completed: number;
    /** Handshake attempts that failed (given up, or rejected). */
    failed: number;
    /** Initiations received that authenticated. */
    received: number;
  };
  /** Dropped packets by reason. */
  drops: Record<string, number>;
  /** DNS queries, when the DNS server runs. */
  dns?: DnsMetrics;
  /** Packets dropped by policy, by rule name. */
  policyDrops?: Record<string, number>;
  /** Join datagrams the leader dropped, by reason (leader only). */
  joinDrops?: Record<string, number>;
  /** What the leader refused of members' joins and hellos, by reason (leader only). */
  memberRefusals?: Record<string, number>;
  /** Paths to the peers (mesh agents probing for them). */
  paths?: PathMetrics;
  /** Exceptions thrown by subscribers of the agent's events, by source (`health`, ...). */
  listenerErrors?: Record<string, number>;
  /** Connection counters of the socket listeners (`http`, `uapi`, `dns_tcp`), by listener. */
  listeners?: Record<string, ListenerStats>;
  /** Relays and fallbacks (mesh agents). */
  relay?: RelayMetrics;
  /** Service calls and events (mesh agents). */
  services?: ServiceMetrics;
  /** Service-leader leases (mesh agents). */
  leases?: LeaseMetrics;
  /** The TCP transport, while the agent listens on TCP. */
  tcp?: TcpMetrics;
  /** The UDP underlay (the agent's own UDP socket). */
  udp?: UdpMetrics;
  /** The TUN interface (TUN mode). */
  tun?: TunMetrics;
}

const HEALTH_STATES: readonly HealthState[] = ["up", "degraded", "down", "unknown"];

function byKey<T>(rec: Record<string, T>): [string, T][] {
  return Object.entries(rec).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Renders weft's metrics in the text exposition format. */
export function renderMetrics(s: MetricsSnapshot): string {
  const w = new MetricsWriter();
  const peerLabels = (p: PeerMetrics): Labels => ({ peer: p.publicKey, name: p.name ?? "" });
  const perPeer = (f: (p: PeerMetrics) => number): Sample[] =>
    s.peers.map((p) => ({ labels: peerLabels(p), value: f(p) }));

  w.gauge("weft_build_info", "weft's version and crypto suite; the value is always 1.", [
    { labels: { version: s.version, crypto: s.crypto }, value: 1 },
  ]);
  w.gauge("weft_uptime_seconds", "Seconds since the agent started.", [
    { value: s.uptimeSeconds },
  ]);
  w.counter(
    "weft_peer_rx_bytes_total",
    "Underlay bytes received from a peer.",
    perPeer((p) => p.rxBytes),
  );
  w.counter(
    "weft_peer_tx_bytes_total",
    "Underlay bytes sent to a peer.",
    perPeer((p) => p.txBytes),
  );
  w.counter(
    "weft_peer_rx_packets_total",
    "Transport packets received from a peer (keepalives included).",
    perPeer((p) => p.rxPackets),
  );
  w.counter(
    "weft_peer_tx_packets_total",
    "Transport packets sent to a peer (keepalives included).",
    perPeer((p) => p.txPackets),
  );
  w.gauge(
    "weft_peer_last_handshake_seconds",
    "Unix time of the last completed handshake with a peer; 0 when none.",
    perPeer((p) => p.lastHandshakeUnixMs / 1000),
  );
  w.gauge(
    "weft_peer_health",
    "A peer's health: 1 for its current state, 0 for the others.",
    s.peers.flatMap((p) =>
      HEALTH_STATES.map((state) => ({
        labels: { ...peerLabels(p), state },
        value: (p.health ?? "unknown") === state ? 1 : 0,
      }))
    ),
  );
  w.gauge(
    "weft_peer_rtt_seconds",
    "Mean probe round-trip time over the health window.",
    s.peers.filter((p) => typeof p.rttMs === "number").map((p) => ({
      labels: peerLabels(p),
      value: p.rttMs! / 1000,
    })),
  );
  w.gauge(
    "weft_peer_probe_loss_ratio",
    "Share of probes lost over the health window, 0 to 1.",
    s.peers.filter((p) => typeof p.loss === "number").map((p) => ({
      labels: peerLabels(p),
      value: p.loss!,
    })),
  );
  w.histogram(
    "weft_probe_rtt_seconds",
    "Round-trip times of health probes through the tunnel.",
    s.peers.filter((p) => p.probeRtt).map((p) => ({
      labels: peerLabels(p),
      histogram: p.probeRtt!,
    })),
  );
  w.counter("weft_handshakes_total", "Handshakes by result.", [
    { labels: { result: "completed" }, value: s.handshakes.completed },
    { labels: { result: "failed" }, value: s.handshakes.failed },
    { labels: { result: "received" }, value: s.handshakes.received },
  ]);
  w.counter(
    "weft_drops_total",
    "Packets dropped, by reason.",
    byKey(s.drops).map(([reason, value]) => ({ labels: { reason }, value })),
  );
  if (s.listenerErrors) {
    w.counter(
      "weft_listener_errors_total",
      "Exceptions thrown by event subscribers (the first of each is logged), by source.",
      byKey(s.listenerErrors).map(([source, value]) => ({ labels: { source }, value })),
    );
  }
  if (s.listeners && Object.keys(s.listeners).length > 0) {
    const ls = byKey(s.listeners);
    w.counter(
      "weft_listener_accept_errors_total",
      "Failed accepts (e.g. out of file descriptors), each retried after a pause, by listener.",
      ls.map(([listener, v]) => ({ labels: { listener }, value: v.acceptErrors })),
    );
    w.counter(
      "weft_listener_connections_total",
      "Connections accepted, by listener.",
      ls.map(([listener, v]) => ({ labels: { listener }, value: v.accepted })),
    );
    w.counter(
      "weft_listener_connections_dropped_total",
      "Connections closed by the guard: rejected (all slots busy), evicted (oldest idle one, " +
        "for a new one) or timeout (slow head, idle, stalled write), by listener and reason.",
      ls.flatMap(([listener, v]) => [
        { labels: { listener, reason: "rejected" }, value: v.rejected },
        { labels: { listener, reason: "evicted" }, value: v.evicted },
        { labels: { listener, reason: "timeout" }, value: v.timedOut },
      ]),
    );
    w.gauge(
      "weft_listener_connections_open",
      "Connections open now, by listener.",
      ls.map(([listener, v]) => ({ labels: { listener }, value: v.open })),
    );
  }
  if (s.dns) {
    w.counter(
      "weft_dns_queries_total",
      "DNS queries answered, by query type (NONE: no single question) and response code.",
      byKey(s.dns.byTypeRcode).map(([key, value]) => {
        const bar = key.indexOf("|");
        const type = bar < 0 ? key : key.slice(0, bar);
        const rcode = bar < 0 ? "" : key.slice(bar + 1);
        return { labels: { type, rcode }, value };
      }),
    );
  }
  if (s.joinDrops) {
    w.counter(
      "weft_join_drops_total",
      "Join datagrams the leader dropped (before or after the DH), by reason.",
      byKey(s.joinDrops).map(([reason, value]) => ({ labels: { reason }, value })),
    );
  }
  if (s.memberRefusals) {
    w.counter(
      "weft_member_refusals_total",
      "What the leader refused of members' joins and hellos, by reason: label (a label only " +
        "the leader grants), service (a service offered without a grant), hello (over the " +
        "hello rate).",
      byKey(s.memberRefusals).map(([reason, value]) => ({ labels: { reason }, value })),
    );
  }
  if (s.paths) {
    w.counter(
      "weft_path_changes_total",
      "Changes of the path to a peer, by reason: punched (the first), lan (to a LAN path), rtt " +
        "(to a clearly faster one), failed (the path stopped answering), roamed (to where the " +
        "device roamed: the peer's packets come from there now), relay (to a relay), tcp (to " +
        "TCP), direct (back to a direct path).",
      byKey(s.paths.changes).map(([reason, value]) => ({ labels: { reason }, value })),
    );
    w.counter(
      "weft_path_drops_total",
      "Path probes dropped and call-me messages refused, by reason.",
      byKey(s.paths.drops).map(([reason, value]) => ({ labels: { reason }, value })),
    );
    w.gauge(
      "weft_paths",
      "Peers by path state: direct (a confirmed path), relay (through a relay) or none.",
      byKey(s.paths.states).map(([state, value]) => ({ labels: { state }, value })),
    );
    if (s.paths.announceDrops) {
      w.counter(
        "weft_lan_announce_drops_total",
        "LAN announcements refused (forged, replayed, stale, our own, not a member's), by reason.",
        byKey(s.paths.announceDrops).map(([reason, value]) => ({ labels: { reason }, value })),
      );
    }
  }
  if (s.relay) renderRelay(w, s.relay);
  if (s.services) renderServices(w, s.services);
  if (s.leases) renderLeases(w, s.leases);
  if (s.tcp) renderTcp(w, s.tcp);
  if (s.udp) renderUdp(w, s.udp);
  if (s.tun) renderTun(w, s.tun);
  if (s.policyDrops) {
    w.counter(
      "weft_policy_drops_total",
      "Packets dropped by policy, by rule.",
      byKey(s.policyDrops).map(([rule, value]) => ({ labels: { rule }, value })),
    );
  }
  return w.text();
}

function renderServices(w: MetricsWriter, s: ServiceMetrics): void {
  const series = (list: ServiceCallSeries[]): HistogramSample[] =>
    list.map(({ service, action, outcome, histogram }) => ({
      labels: { service, action, outcome },
      histogram,
    }));
  w.histogram(
    "weft_service_request_duration_seconds",
    "Service calls this node made, by service, action and outcome (ok or the error code), and " +
      "how long they took (retries included).",
    series(s.calls),
  );
  w.histogram(
    "weft_service_served_duration_seconds",
    "Service calls this node served, by service, action and outcome, and how long they took.",
    series(s.served),
  );
  w.counter("weft_service_events_published_total", "Events published on this node.", [
    { value: s.events.published },
  ]);
  w.counter("weft_service_events_sent_total", "Events sent to other nodes (one per node).", [
    { value: s.events.sent },
  ]);
  w.counter(
    "weft_service_events_delivered_total",
    "Events handed to subscribers on this node (one per subscriber).",
    [{ value: s.events.delivered }],
  );
  w.counter(
    "weft_service_events_dropped_total",
    "Events dropped, by reason: slow-subscriber (its queue was full), unacked (no node took " +
      "it after resends), duplicate (a resend already delivered).",
    keyed(s.eventDrops, "reason"),
  );
  w.counter(
    "weft_service_drops_total",
    "Service messages dropped on the wire, by reason.",
    keyed(s.drops, "reason"),
  );
}

function renderLeases(w: MetricsWriter, l: LeaseMetrics): void {
  const leaders = [...l.leaders].sort((a, b) =>
    a.service < b.service ? -1 : a.service > b.service ? 1 : 0
  );
  w.gauge(
    "weft_service_leaders",
    "Whether this node knows a leader of the service (1) or none (0), by service.",
    leaders.map(({ service, node }) => ({ labels: { service }, value: node === null ? 0 : 1 })),
  );
  w.gauge(
    "weft_service_leader",
    "The leader of each service as this node knows it (1, labelled with its node name).",
    leaders.flatMap(({ service, node }) =>
      node === null ? [] : [{ labels: { service, node }, value: 1 }]
    ),
  );
  w.counter(
    "weft_service_leader_changes_total",
    "Changes of a service's leader heard on this node (a new holder, a new lease, or none).",
    keyed(l.changes, "service"),
  );
  w.counter("weft_service_lease_asks_total", "Lease asks and renewals this node sent.", [
    { value: l.client.asks },
  ]);
  w.counter("weft_service_lease_releases_total", "Leases this node gave up.", [
    { value: l.client.releases },
  ]);
  w.counter(
    "weft_service_lease_lapsed_total",
    "Leases this node stepped down from because no renewal came in time.",
    [{ value: l.client.lapsed }],
  );
  w.counter(
    "weft_service_lease_rows_dropped_total",
    "Rows of announced leases dropped because this node's table of leaders was full.",
    [{ value: l.client.rowsDropped }],
  );
  const a = l.arbiter;
  if (!a) return;
  w.counter("weft_service_lease_grants_total", "Leases the arbiter granted (mesh leader).", [
    { value: a.granted },
  ]);
  w.counter("weft_service_lease_renewals_total", "Leases the arbiter renewed (mesh leader).", [
    { value: a.renewed },
  ]);
  w.counter(
    "weft_service_lease_ends_total",
    "Leases that ended at the arbiter, by reason: released by the holder, or expired.",
    keyed(a.ended, "reason"),
  );
  w.counter(
    "weft_service_lease_refusals_total",
    "Lease asks the arbiter refused, by reason.",
    keyed(a.refused, "reason"),
  );
  w.counter(
    "weft_service_lease_stale_releases_total",
    "Releases of a lease the sender did not hold (late or repeated).",
    [{ value: a.staleReleases }],
  );
  w.counter(
    "weft_service_lease_persist_failures_total",
    "Grants not made because the leader's state could not be written.",
    [{ value: a.persistFailed }],
  );
}

/** Counts by reason as samples labelled `{...fixed, [name]: key}`, in key order. */
function keyed(rec: Record<string, number>, name: string, fixed: Labels = {}): Sample[] {
  return byKey(rec).map(([k, value]) => ({ labels: { ...fixed, [name]: k }, value }));
}

function renderRelay(w: MetricsWriter, r: RelayMetrics): void {
  const srv = r.server;
  const cli = r.client;
  w.gauge(
    "weft_relay_sessions",
    "Relay sessions open now, as the relay (server) or a user (client).",
    [
      ...(srv ? [{ labels: { role: "server" }, value: srv.sessions }] : []),
      { labels: { role: "client" }, value: cli.sessions },
    ],
  );
  if (srv) {
    w.counter("weft_relay_sessions_opened_total", "Sessions this relay opened between members.", [
      { value: srv.opened },
    ]);
    w.counter(
      "weft_relay_sessions_closed_total",
      "Sessions this relay ended: closed (by a member) or expired (unused).",
      [
        { labels: { why: "closed" }, value: srv.closed },
        { labels: { why: "expired" }, value: srv.expired },
      ],
    );
    w.counter(
      "weft_relay_received_packets_total",
      "Data packets this relay received from members.",
      [{ value: srv.received.packets }],
    );
    w.counter(
      "weft_relay_received_bytes_total",
      "Bytes of the data packets this relay received from members.",
      [{ value: srv.received.bytes }],
    );
    w.counter(
      "weft_relay_forwarded_packets_total",
      "Data packets this relay passed on to the other member of their session.",
      [{ value: srv.forwarded.packets }],
    );
    w.counter(
      "weft_relay_forwarded_bytes_total",
      "Bytes of the data packets this relay passed on.",
      [{ value: srv.forwarded.bytes }],
    );
  }
  w.counter(
    "weft_relay_drops_total",
    "Relayed packets dropped, by side (server: as the relay; client: as a user) and reason.",
    [
      ...(srv ? keyed(srv.drops, "reason", { side: "server" }) : []),
      ...keyed(cli.drops, "reason", { side: "client" }),
    ],
  );
  w.counter(
    "weft_relay_refusals_total",
    "Relay session requests refused, by side (server: refused by this relay; client: refused " +
      "to this node) and reason.",
    [
      ...(srv ? keyed(srv.refusals, "reason", { side: "server" }) : []),
      ...keyed(cli.refusals, "reason", { side: "client" }),
    ],
  );
  w.counter(
    "weft_relay_client_packets_total",
    "Packets this node sent (out: wrapped) and received (in: unwrapped) through relays.",
    [
      { labels: { dir: "out" }, value: cli.wrapped.packets },
      { labels: { dir: "in" }, value: cli.unwrapped.packets },
    ],
  );
  w.counter(
    "weft_relay_client_bytes_total",
    "Bytes this node sent (out) and received (in) through relays.",
    [
      { labels: { dir: "out" }, value: cli.wrapped.bytes },
      { labels: { dir: "in" }, value: cli.unwrapped.bytes },
    ],
  );
  w.counter("weft_relay_switches_total", "Moves of a peer from one relay to another.", [
    { value: cli.switches },
  ]);
  w.counter(
    "weft_fallbacks_total",
    "Moves of a peer to a fallback, by where to (relay, tcp).",
    keyed(r.fallbacks, "to"),
  );
  w.gauge(
    "weft_routes",
    "Peers by the route their packets take now: direct, relay, tcp or none.",
    keyed(r.routes, "route"),
  );
}

function renderTun(w: MetricsWriter, t: TunMetrics): void {
  w.counter("weft_tun_packets_total", "Packets through the TUN interface, by direction.", [
    { labels: { dir: "in" }, value: t.packetsIn },
    { labels: { dir: "out" }, value: t.packetsOut },
  ]);
  w.counter("weft_tun_bytes_total", "Bytes through the TUN interface, by direction.", [
    { labels: { dir: "in" }, value: t.bytesIn },
    { labels: { dir: "out" }, value: t.bytesOut },
  ]);
  w.counter("weft_tun_errors_total", "TUN reads and writes that failed, by kind.", [
    { labels: { kind: "read" }, value: t.readErrors },
    { labels: { kind: "write" }, value: t.writeErrors },
  ]);
  const o = t.offload;
  if (!o) return;
  w.counter("weft_tun_gso_reads_total", "Large (TSO/USO) packets read from the TUN and cut.", [
    { value: o.gsoReads },
  ]);
  w.counter("weft_tun_gso_segments_total", "Packets those large reads were cut into.", [
    { value: o.segments },
  ]);
  w.counter("weft_tun_checksums_completed_total", "Partial checksums completed on TUN reads.", [
    { value: o.checksumsCompleted },
  ]);
  w.counter("weft_tun_read_drops_total", "TUN reads dropped as malformed by the offloads.", [
    { value: o.readDrops },
  ]);
  w.counter("weft_tun_coalesced_writes_total", "Coalesced TCP packets written to the TUN.", [
    { value: o.coalescedWrites },
  ]);
  w.counter("weft_tun_coalesced_packets_total", "Packets carried by those coalesced writes.", [
    { value: o.coalescedPackets },
  ]);
}

function renderUdp(w: MetricsWriter, u: UdpMetrics): void {
  w.counter("weft_udp_datagrams_total", "Datagrams over the UDP underlay, by direction.", [
    { labels: { dir: "in" }, value: u.datagramsIn },
    { labels: { dir: "out" }, value: u.datagramsOut },
  ]);
  w.counter("weft_udp_bytes_total", "Bytes of the datagrams over the UDP underlay, by direction.", [
    { labels: { dir: "in" }, value: u.bytesIn },
    { labels: { dir: "out" }, value: u.bytesOut },
  ]);
  w.counter("weft_udp_errors_total", "UDP underlay errors, by kind.", [
    { labels: { kind: "send" }, value: u.sendErrors },
    { labels: { kind: "send-queue-full" }, value: u.sendDrops },
    { labels: { kind: "receive" }, value: u.recvErrors },
  ]);
  if (u.gsoMessages === undefined) return;
  w.counter(
    "weft_udp_offload_messages_total",
    "UDP GSO sends and GRO receives (each carrying several datagrams), by kind.",
    [
      { labels: { kind: "gso" }, value: u.gsoMessages },
      { labels: { kind: "gro" }, value: u.groMessages ?? 0 },
    ],
  );
  w.counter(
    "weft_udp_offload_datagrams_total",
    "Datagrams carried in UDP GSO sends and GRO receives, by kind.",
    [
      { labels: { kind: "gso" }, value: u.gsoSegments ?? 0 },
      { labels: { kind: "gro" }, value: u.groSegments ?? 0 },
    ],
  );
  w.counter("weft_udp_gso_fallbacks_total", "Batches sent again without GSO.", [
    { value: u.gsoFallbacks ?? 0 },
  ]);
}

function renderTcp(w: MetricsWriter, t: TcpMetrics): void {
  w.gauge("weft_tcp_connections", "TCP underlay connections open now (dialled, accepted).", [
    { value: t.connections },
  ]);
  w.counter("weft_tcp_accepts_total", "TCP underlay connections accepted.", [
    { value: t.accepts },
  ]);
  w.counter("weft_tcp_dials_total", "TCP underlay dials started.", [{ value: t.dials }]);
  w.counter("weft_tcp_dial_failures_total", "TCP underlay dials that failed or timed out.", [
    { value: t.dialFailures },
  ]);
  w.counter(
    "weft_tcp_evicted_total",
    "Idle TCP underlay connections closed to make room at the connection cap.",
    [{ value: t.evicted }],
  );
  w.counter(
    "weft_tcp_bad_frames_total",
    "TCP underlay connections closed for a bad length prefix.",
    [{ value: t.badFrames }],
  );
  // Not in the fixed list of names, but TcpMetrics carries it; left out it would be invisible.
  w.counter(
    "weft_tcp_truncated_total",
    "TCP underlay connections that ended in the middle of a frame.",
    [{ value: t.truncated }],
  );
  w.counter("weft_tcp_frames_total", "Frames (datagrams) over the TCP underlay, by direction.", [
    { labels: { dir: "in" }, value: t.datagramsIn },
    { labels: { dir: "out" }, value: t.datagramsOut },
  ]);
  w.counter("weft_tcp_bytes_total", "Bytes of the frames over the TCP underlay, by direction.", [
    { labels: { dir: "in" }, value: t.bytesIn },
    { labels: { dir: "out" }, value: t.bytesOut },
  ]);
  w.counter(
    "weft_tcp_send_drops_total",
    "Frames the TCP underlay dropped before sending, by reason.",
    keyed(t.drops, "reason"),
  );
}
