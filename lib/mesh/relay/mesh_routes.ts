/**
 * Which way each peer's packets go when a direct UDP path is not enough, and the member's side
 * of relaying. Per peer, {@link PeerRoute} (lib/relay/route_choice.ts) decides from what the
 * paths (lib/mesh/nat/mesh_paths.ts) and the session say; this module moves the device's
 * peer accordingly: onto a relay's virtual endpoint (`relay://<relay>/<peer>`, wrapped by the relay transport), onto TCP
 * (`tcp://host:port`, for relays and the leader, which listen on TCP), or back to the direct path.
 *
 * Relays are the leader and the members whose record says `relay`; each is reached the way the
 * device reaches it (UDP, or TCP when that is all that works), so a member whose network drops
 * UDP is relayed over TCP. Sessions are asked of every relay (so a second one is ready when the
 * first fails); the relay client sends on the fastest that works. A relay whose own session
 * stalls is marked failed, and its peers move to another at once; when the session with a relay
 * starts anew (it restarted), its sessions are asked for again.
 *
 * A relay reached over a stream (TCP, a WebSocket) may carry nothing but relayed packets, which
 * its own session's counters do not see, and pings cannot watch it as they watch UDP: so relayed
 * traffic that went out with nothing back from the relay (its own packets, a handshake, or the
 * relayed peers' through it) is followed by a handshake to the relay (at most one each
 * {@link STALL_MS}), and one left unanswered that long counts as the relay's session stalled:
 * marked failed, and its own route chosen anew (TCP that stopped getting through moves to the
 * WebSocket). A stream can also stall one way only (a site that starts dropping framed TCP going
 * out still lets the peer's packets in, so nothing looks quiet): a peer on a stream whose health
 * probes, round trips through the tunnel, go unanswered {@link STREAM_PROBES_LOST} times in a row
 * counts as not working either.
 * @module
 */

import type { Device, DeviceEvent } from "../../device/device.ts";
import { leaveFailedUdp, moveEndpoint } from "../../device/roaming.ts";
import { every } from "../../io/cancelable.ts";
import { type Endpoint, isStreamEndpoint, sameEndpoint } from "../../io/driver.ts";
import type { MonotonicClock } from "../../io/clock.ts";
import { LogBudget } from "../../log/budget.ts";
import type { Logger } from "../../log/logger.ts";
import type { Member, MembershipView } from "../../members/member.ts";
import { formatHostPort, parseHostPort } from "../../net/hostport.ts";
import { isIpEndpoint } from "../../net/resolve.ts";
import { type RelayClient, SESSION_REFRESH_MS, SESSION_RETRY_MS } from "../../relay/client.ts";
import { isRelayEndpoint } from "../../relay/endpoint.ts";
import type { RelayServerStats } from "../../relay/server.ts";
import type { RelayMetrics } from "../../relay/metrics.ts";
import type { PeerStatus } from "../../status/status.ts";
import type { ControlPort } from "../sync/control_channel.ts";
import type { MeshPaths } from "../nat/mesh_paths.ts";
import { STALL_MS } from "../nat/session_watch.ts";
import {
  PeerRoute,
  type Route,
  type RouteMove,
  routeOf,
  type RouteTiming,
  transportOf,
} from "../../relay/route_choice.ts";
import type { ControlMessage } from "../sync/protocol.ts";

/** How often the routes are looked at. */
const TICK_MS = 500;
/** While on a fallback, the direct candidates are pinged this often. */
const PROBE_EVERY_MS = 5_000;
/**
 * While traffic flows on a direct path that has a fallback, it is pinged this often, so a path
 * that stops working is left within seconds (the session's counters cannot always tell: a
 * network may let the peer's packets in and ours not out).
 */
const WATCH_EVERY_MS = 1_000;
/** The RTT a relay reached over TCP counts as, so one reached over UDP is preferred. */
const TCP_RTT_MS = 1_000;
/** The RTT a relay counts as before its direct path has one. */
const UNKNOWN_RTT_MS = 500;

/** What the routes work with. */
export interface MeshRoutesDeps {
  /** The device: its peers, endpoints and events. */
  device: Device;
  /** The direct paths (null when NAT traversal is off: no fallbacks then). */
  paths: MeshPaths;
  /** The relay client of the device's transport. */
  client: RelayClient;
  /** The control channel (relay requests and grants). */
  channel: ControlPort;
  /** The logger. */
  logger: Logger;
  /** The relay server's figures, when this node relays. */
  serverStats?: () => RelayServerStats;
  /** Overrides of the route timing (tests). */
  timing?: Partial<RouteTiming>;
  /**
   * Sessions on demand: a relay granted a session with a member this node did not ask for (the
   * member opened one to reach us, and its handshake waits at the relay): the member is made
   * active, so that its route is decided and our own request makes the grant ours.
   */
  wake?: (publicKey: string) => void;
  /**
   * The HTTP proxy (its label, no credentials) a TCP endpoint's connection was dialled through;
   * null when it was not (lib/agent/proxy.ts). Absent: no proxy.
   */
  proxiedVia?: (ep: Endpoint) => string | null;
  /** The clock and the timer of the looks (tests); default `performance.now` and `setInterval`. */
  clock?: RoutesClock;
  /**
   * The in-tunnel health probes to a peer lost in a row now (lib/health): each is a round trip,
   * so they see a stream that stalled one way, which the peer's packets still coming in hide from
   * the session's counters. Absent: none lost.
   */
  probesLost?: (publicKey: string) => number;
}

/**
 * Health probes lost in a row that make a peer reached over a stream count as not working (the
 * health tracker's own count for down).
 */
export const STREAM_PROBES_LOST = 3;

/** Monotonic ms, and a timer calling `fn` every `ms` that the returned function stops. */
export interface RoutesClock extends MonotonicClock {
  /** Calls `fn` every `ms` until the returned function is called. */
  every(fn: () => void, ms: number): () => void;
}

const SYSTEM_CLOCK: RoutesClock = {
  now: () => performance.now(),
  every,
};

interface PeerEntry {
  route: PeerRoute;
  /** The route last seen on the device (to count moves the device made by roaming). */
  seen: Route;
  openedAt: number;
  probedAt: number;
  /** The peer's transmitted packets at the last look (traffic flows when it moves). */
  tx: number;
}

interface RelayEntry {
  endpoint: string;
  worked: boolean;
  failed: boolean;
  probedAt: number;
  /** Packets received from the relay and from the peers relayed through it, at the last look. */
  rx: number;
  /** Since when relayed traffic went out with nothing back from the relay; Infinity: not so. */
  quietSince: number;
  /** When the first handshake of this quiet time was sent; Infinity: none yet. */
  askedAt: number;
  /** When the last handshake asking the relay for an answer was sent. */
  nudgedAt: number;
}

/** The routes of a member's peers; see the module docs. */
export class MeshRoutes {
  readonly #d: MeshRoutesDeps;
  readonly #me: string;
  readonly #clock: RoutesClock;
  readonly #members = new Map<string, Member>();
  readonly #keyOf = new Map<string, string>();
  readonly #peers = new Map<string, PeerEntry>();
  readonly #relays = new Map<string, RelayEntry>();
  readonly #fallbacks: Record<string, number> = { relay: 0, tcp: 0, websocket: 0 };
  readonly #budget = new LogBudget({ burst: 50, intervalMs: 1000 });
  readonly #stops: (() => void)[] = [];
  /** Grants from an address that is no relay's. */
  notRelay = 0;
  #tcpFirst: { key: string; to: "tcp" | "websocket" } | null = null;
  #started = false;
  #closed = false;

  /** Routes for `deps.device`'s peers; nothing runs before {@link start}. */
  constructor(deps: MeshRoutesDeps) {
    this.#d = deps;
    this.#me = deps.device.publicKey;
    this.#clock = deps.clock ?? SYSTEM_CLOCK;
  }

  /**
   * Starts on TCP to `publicKey` (the leader, when the join got through only over TCP), rather
   * than waiting for the direct path to be found missing; on its WebSocket with `websocket`
   * (the join got through only that way).
   */
  startOnTcp(publicKey: string, to: "tcp" | "websocket" = "tcp"): void {
    this.#tcpFirst = { key: publicKey, to };
  }

  /** Takes `view`, and follows the control channel, the device's events and the clock. */
  start(view: MembershipView): void {
    this.viewChanged(view);
    const d = this.#d;
    this.#stops.push(d.channel.listen((msg, from) => this.#onControl(msg, from)));
    this.#stops.push(d.device.onEvent((e) => this.#onEvent(e)));
    this.#stops.push(this.#clock.every(() => this.#tick(), TICK_MS));
    this.#started = true;
    this.#startOnTcp();
  }

  /** Takes a new view: the peers, and which of them relay. */
  viewChanged(v: MembershipView): void {
    if (this.#closed) return;
    const now = this.#clock.now();
    const present = new Set<string>();
    this.#keyOf.clear();
    for (const m of v.members) {
      if (m.publicKey === this.#me) continue;
      present.add(m.publicKey);
      this.#members.set(m.publicKey, m);
      this.#keyOf.set(m.address, m.publicKey);
      if (m.address6) this.#keyOf.set(m.address6, m.publicKey);
      if (!this.#peers.has(m.publicKey)) {
        this.#peers.set(m.publicKey, {
          route: new PeerRoute(now, this.#d.timing),
          seen: "direct",
          openedAt: -Infinity,
          probedAt: -Infinity,
          tx: 0,
        });
      }
      if (isRelay(m)) {
        if (!this.#relays.has(m.publicKey)) {
          this.#relays.set(m.publicKey, {
            endpoint: "",
            worked: false,
            failed: false,
            probedAt: -Infinity,
            rx: 0,
            quietSince: Infinity,
            askedAt: Infinity,
            nudgedAt: -Infinity,
          });
          this.#d.client.setRelay(m.publicKey, null);
        }
      } else if (this.#relays.delete(m.publicKey)) {
        this.#d.client.removeRelay(m.publicKey);
      }
    }
    for (const key of [...this.#members.keys()]) {
      if (present.has(key)) continue;
      this.#members.delete(key);
      this.#peers.delete(key);
      this.#d.client.closePeer(key);
      if (this.#relays.delete(key)) this.#d.client.removeRelay(key);
    }
    // A joiner's first view may come after its start: the leader it joined is in it now.
    if (this.#started) this.#startOnTcp();
  }

  /** Moves the peer {@link startOnTcp} named once it is known; then forgets it. */
  #startOnTcp(): void {
    const first = this.#tcpFirst;
    if (first !== null && this.#toTcpNow(first.key, first.to)) this.#tcpFirst = null;
  }

  /**
   * The endpoint a peer's record must not override: its fallback (relay or TCP), as text the
   * device parses; null while it goes direct.
   */
  endpoint(publicKey: string): string | null {
    const ep = this.#d.device.peer(publicKey)?.endpoint ?? null;
    if (ep === null || routeOf(ep) === "direct") return null;
    return isRelayEndpoint(ep) ? ep.fullText : ep.toString();
  }

  /** The relay (its public key) `publicKey`'s packets go through now; null when not relayed. */
  relayOf(publicKey: string): string | null {
    const ep = this.#d.device.peer(publicKey)?.endpoint ?? null;
    return ep !== null && routeOf(ep) === "relay" ? this.#d.client.relayFor(publicKey) : null;
  }

  /** A peer's route fields for `/status`: path (when not direct), via, transport. */
  peerStatus(publicKey: string): Partial<PeerStatus> {
    const ep = this.#d.device.peer(publicKey)?.endpoint ?? null;
    if (ep === null) return { via: null, transport: null };
    const route = routeOf(ep);
    if (route === "relay") {
      const relay = this.#d.client.relayFor(publicKey);
      const relayEp = relay === null ? null : this.#d.device.peer(relay)?.endpoint ?? null;
      return {
        path: "relay",
        via: relay === null ? null : this.#members.get(relay)?.name || relay.slice(0, 8),
        transport: relayEp === null ? null : transportOf(relayEp),
        ...this.#proxied(relayEp),
      };
    }
    // Over TCP the path is direct once a session works on it; before (a leader stopped before
    // the first handshake) the paths' own word stands.
    if (route === "tcp" || route === "websocket") {
      const hasSession = this.#d.device.peer(publicKey)?.current != null;
      const transport = transportOf(ep);
      return hasSession
        ? { path: "direct", via: null, transport, ...this.#proxied(ep) }
        : { via: null, transport, ...this.#proxied(ep) };
    }
    return { via: null, transport: "udp" };
  }

  /**
   * `proxied` and `proxy` for a TCP (or WebSocket) endpoint dialled through the HTTP proxy; else
   * nothing.
   */
  #proxied(ep: Endpoint | null): Partial<PeerStatus> {
    if (ep === null || !isStreamEndpoint(ep) || !this.#d.proxiedVia) return {};
    const proxy = this.#d.proxiedVia(ep);
    return proxy === null ? {} : { proxied: true, proxy };
  }

  /** A peer's route for the metrics' path states: `relay`, or null (the direct path's). */
  state(publicKey: string): string | null {
    const ep = this.#d.device.peer(publicKey)?.endpoint ?? null;
    return ep !== null && routeOf(ep) === "relay" ? "relay" : null;
  }

  /** The figures `/metrics` shows. */
  metrics(): RelayMetrics {
    const c = this.#d.client.stats;
    const routes: Record<string, number> = { direct: 0, relay: 0, tcp: 0, websocket: 0, none: 0 };
    for (const key of this.#peers.keys()) {
      const ep = this.#d.device.peer(key)?.endpoint ?? null;
      routes[ep === null ? "none" : routeOf(ep)]++;
    }
    const s = this.#d.serverStats?.();
    return {
      ...(s
        ? {
          server: {
            sessions: s.sessions,
            opened: s.opened,
            closed: s.closed,
            expired: s.expired,
            received: s.received,
            forwarded: s.forwarded,
            headTag: s.headTag,
            drops: { ...s.drops },
            refusals: { ...s.refusals },
          },
        }
        : {}),
      client: {
        sessions: c.sessions,
        wrapped: c.wrapped,
        unwrapped: c.unwrapped,
        switches: c.switches,
        drops: { ...c.drops },
        refusals: { ...c.refusals, "not-relay": this.notRelay },
      },
      fallbacks: { ...this.#fallbacks },
      routes,
    };
  }

  /** Stops the timer and the listeners. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const stop of this.#stops.splice(0)) stop();
  }

  // ---- the clock ----

  #tick(): void {
    if (this.#closed) return;
    const now = this.#clock.now();
    // Relays that carry traffic now are pinged often, so one that stops is left within seconds.
    const busy = new Set<string>();
    // What came back through each relay: the relayed peers' packets received.
    const relayedRx = new Map<string, number>();
    // The members whose paths are probed only (sessions on demand): an idle one has no route to
    // decide, and the tick must not grow with the members known.
    for (const key of this.#d.paths.activeKeys()) {
      const p = this.#peers.get(key);
      if (!p) continue;
      const peer = this.#d.device.peer(key);
      if (peer?.endpoint?.proto !== "relay") continue;
      const relay = this.#d.client.relayFor(key);
      if (relay === null) continue;
      relayedRx.set(relay, (relayedRx.get(relay) ?? 0) + peer.counters.rxPackets);
      if (peer.counters.txPackets !== p.tx) busy.add(relay);
    }
    for (const [key, r] of this.#relays) {
      this.#watchRelay(key, r, busy.has(key), relayedRx.get(key) ?? 0, now);
    }
    for (const gone of this.#d.client.sweep()) {
      this.#d.logger.debug("relay session idle", { relay: gone.relay, peer: gone.peer });
    }
    for (const key of this.#d.paths.activeKeys()) {
      const p = this.#peers.get(key);
      if (p) this.#route(key, p, now);
    }
  }

  /**
   * Keeps the client told of a relay's endpoint, RTT and failure; `rx` is what came back through
   * it (see {@link #stalled}).
   */
  #watchRelay(key: string, r: RelayEntry, busy: boolean, rx: number, now: number): void {
    const client = this.#d.client;
    const peer = this.#d.device.peer(key);
    const ep = peer?.endpoint ?? null;
    this.#relayFollows(key);
    rx += peer?.counters.rxPackets ?? 0;
    if (rx !== r.rx) {
      r.rx = rx;
      r.quietSince = r.askedAt = Infinity;
    } else if (busy && ep !== null && isStreamEndpoint(ep) && r.quietSince === Infinity) {
      r.quietSince = now;
    }
    if (r.quietSince !== Infinity && now - r.nudgedAt >= STALL_MS) {
      // Relayed packets say nothing of the relay's session, and a stream has no pings: a
      // handshake is what the relay answers, over the same stream when it still gets through.
      r.nudgedAt = now;
      r.askedAt = Math.min(r.askedAt, now);
      this.#d.device.initiateHandshakeNow(key);
    }
    const info = this.#d.paths.info(key);
    if (info === null || ep === null) return;
    const udp = routeOf(ep) === "direct";
    if (busy && udp && now - r.probedAt >= WATCH_EVERY_MS) {
      r.probedAt = now;
      this.#d.paths.probeSoon(key);
    }
    // Reached over UDP, missed pings say it is gone before the session's counters can.
    const missing = udp && info.direct !== null && info.direct.misses >= 2;
    if (info.works && !missing && !this.#stalled(key, now) && !this.#streamLost(key)) {
      r.worked = true;
      r.failed = false;
      const rtt = routeOf(ep) === "tcp"
        ? TCP_RTT_MS
        : info.direct !== null && Number.isFinite(info.direct.rttMs)
        ? info.direct.rttMs
        : UNKNOWN_RTT_MS;
      client.setRtt(key, rtt);
    } else if ((r.worked || missing) && !r.failed) {
      r.worked = false;
      r.failed = true;
      client.relayFailed(key);
      this.#say("warn", "relay not answering", { relay: this.#members.get(key)?.name ?? key });
    }
  }

  /**
   * The relay client sends to relay `key` the way the device does now: at once after a move or a
   * roam (a connection left is closed, and relayed packets sent there would dial it anew, from a
   * place the relay does not take them from), and at each look.
   */
  #relayFollows(key: string): void {
    const r = this.#relays.get(key);
    if (r === undefined) return;
    const ep = this.#d.device.peer(key)?.endpoint ?? null;
    const text = ep?.toString() ?? "";
    if (text === r.endpoint) return;
    r.endpoint = text;
    r.quietSince = r.askedAt = Infinity;
    this.#d.client.setRelay(key, ep !== null && routeOf(ep) !== "relay" ? ep : null);
  }

  /**
   * Relayed traffic to relay `key` went out over a stream with nothing back from it, not even
   * the answer to a handshake sent {@link STALL_MS} ago: its session counts as stalled whatever
   * its own counters say.
   */
  #stalled(key: string, now: number): boolean {
    const r = this.#relays.get(key);
    return r !== undefined && now - r.askedAt >= STALL_MS;
  }

  /**
   * The peer is reached over a stream and its health probes went unanswered
   * {@link STREAM_PROBES_LOST} times in a row: the stream does not get our packets there, whatever
   * comes back on it (a site that starts dropping framed TCP going out still lets the peer's in).
   */
  #streamLost(key: string): boolean {
    const ep = this.#d.device.peer(key)?.endpoint ?? null;
    return ep !== null && isStreamEndpoint(ep) &&
      (this.#d.probesLost?.(key) ?? 0) >= STREAM_PROBES_LOST;
  }

  #route(key: string, p: PeerEntry, now: number): void {
    const d = this.#d;
    const info = d.paths.info(key);
    const peer = d.device.peer(key);
    const m = this.#members.get(key);
    if (info === null || !peer || !m) return;
    const current = peer.endpoint === null ? "direct" : routeOf(peer.endpoint);
    if (current !== p.seen) {
      // The device roamed: the peer's packets come another way (it chose it), and ours follow.
      p.seen = current;
      // Onto a fallback: a ping now tells soon whether the direct path still answers.
      if (current !== "direct") p.probedAt = -Infinity;
      d.paths.routeChanged(key, current === "direct" ? "direct" : current);
      this.#say("info", "path changed", {
        peer: m.name,
        endpoint: peer.endpoint?.toString() ?? "",
        reason: "roamed",
      });
    }
    const relayKey = d.client.relayFor(key);
    const tcp = this.#tcpOf(m);
    const ws = this.#tcpOf(m, "ws");
    const relaysKnown = this.#relaysFor(key).length > 0;
    const works = info.works && !this.#stalled(key, now) && !this.#streamLost(key);
    const decision = p.route.decide({
      now,
      current,
      direct: info.direct,
      works,
      tcp,
      ws,
      relay: relayKey === null ? null : d.client.endpoint(relayKey, key).fullText,
      relaysKnown,
    });
    if (decision.move !== null) this.#move(key, decision.move, works);
    if (decision.probe !== undefined) this.#probeTcp(key, decision.probe);
    if (decision.wantRelay) this.#open(key, p, now);
    const on = decision.move?.to ?? current;
    const tx = peer.counters.txPackets;
    const active = tx !== p.tx;
    p.tx = tx;
    // Off direct: the way back is a pong after the fallback. On direct with traffic and a
    // fallback to take: frequent pings tell a path that stopped working.
    const every = on !== "direct"
      ? PROBE_EVERY_MS
      : active && (tcp !== null || relaysKnown) && info.direct !== null
      ? WATCH_EVERY_MS
      : Infinity;
    if (now - p.probedAt >= every) {
      p.probedAt = now;
      d.paths.probeSoon(key);
    }
  }

  /** Moves the device's peer as decided; counts and logs it. */
  #move(key: string, move: RouteMove, works: boolean): void {
    const d = this.#d;
    const p = d.device.peer(key);
    if (!p) return;
    let ep: Endpoint;
    try {
      ep = move.to === "relay"
        ? d.client.endpoint(d.client.relayFor(key)!, key)
        : d.device.endpoint(move.endpoint);
    } catch {
      return;
    }
    const left = p.endpoint;
    const from = left?.toString() ?? "";
    // The place left stays one the peer may send from (a relay takes its relayed packets there).
    // Left because our pings there went unanswered: the peer's packets still coming from there
    // do not roam it back until the path answers again (lib/device/roaming.ts leaveFailedUdp).
    if (move.udpFailed === true) leaveFailedUdp(p, ep);
    else moveEndpoint(p, ep);
    // A stream left is closed when we dialled it: one that stopped getting through, kept, would
    // bring the peer's packets still coming in on it, and the device would roam back onto it.
    // One the peer dialled stays (Transport.release): its route, not ours, chose it.
    this.#relayFollows(key);
    if (left !== null && left !== ep && !sameEndpoint(left, ep)) d.device.release(left);
    const entry = this.#peers.get(key);
    if (entry) entry.seen = move.to;
    if (move.to !== "direct") this.#fallbacks[move.to]++;
    d.paths.routeChanged(key, move.reason);
    this.#say("info", "path changed", {
      peer: this.#members.get(key)?.name ?? "",
      endpoint: ep.toString(),
      from,
      reason: move.reason,
    });
    // Without a working session the last initiation went where nothing answers.
    if (!works) d.device.initiateHandshakeNow(key);
    // Back on UDP (a pong came from there) with a working session: a keepalive now brings the
    // peer's sending along (its roaming follows it), where its next packet on the stream it chose
    // would bring ours back onto that stream, and the two would move every look (a relay that
    // restarted, on each of its members).
    else if (move.to === "direct") d.device.backOnUdp(key);
  }

  /**
   * Sends a handshake initiation to `text` (the peer's TCP endpoint) and leaves the peer where it
   * is: if TCP gets through, the answer comes over it and the device roams there by itself.
   */
  #probeTcp(key: string, text: string): void {
    const d = this.#d;
    const p = d.device.peer(key);
    if (!p) return;
    let ep: Endpoint;
    try {
      ep = d.device.endpoint(text);
    } catch {
      return;
    }
    const was = p.endpoint;
    p.endpoint = ep;
    try {
      d.device.initiateHandshakeNow(key);
    } finally {
      p.endpoint = was;
    }
  }

  /** Moves a peer onto TCP (or its WebSocket) at once (see {@link startOnTcp}). */
  #toTcpNow(key: string, to: "tcp" | "websocket"): boolean {
    const m = this.#members.get(key);
    const p = this.#peers.get(key);
    const at = m ? this.#tcpOf(m, to === "tcp" ? "tcp" : "ws") : null;
    if (!p || at === null || !this.#d.device.peer(key)) return false;
    p.route.fellBack(this.#clock.now());
    this.#move(key, { to, endpoint: at, reason: to }, false);
    return true;
  }

  /** Asks the relays for sessions with `key`, no more often than the retry times. */
  #open(key: string, p: PeerEntry, now: number): void {
    const every = this.#d.client.hasSession(key) ? SESSION_REFRESH_MS : SESSION_RETRY_MS;
    if (now - p.openedAt < every) return;
    p.openedAt = now;
    for (const relay of this.#relaysFor(key)) this.#sendOpen(relay, key);
  }

  #sendOpen(relay: string, peer: string): void {
    const address = this.#members.get(relay)?.address;
    if (address === undefined || !this.#members.has(peer)) return;
    // The client takes the relay's grant only after this ask.
    this.#d.client.asked(relay, peer);
    // `ht`: this member signs and checks the head-and-tag MAC form (lib/relay/wire.ts).
    this.#d.channel.send(address, { t: "relay-open", to: peer, ht: true });
  }

  /** The relays that could relay to `key`: every one but itself. */
  #relaysFor(key: string): string[] {
    return [...this.#relays.keys()].filter((r) => r !== key);
  }

  /**
   * `tcp://host:port` of a relaying member that listens on TCP at an address we know; with
   * `ws`, `ws://host:port`, the WebSocket it serves on the same port.
   */
  #tcpOf(m: Member, scheme: "tcp" | "ws" = "tcp"): string | null {
    if (!isRelay(m) || m.tcpPort === undefined) return null;
    for (const e of m.endpoints) {
      if (!isIpEndpoint(e)) continue;
      try {
        return `${scheme}://${formatHostPort({ host: parseHostPort(e).host, port: m.tcpPort })}`;
      } catch {
        continue;
      }
    }
    return null;
  }

  // ---- events ----

  #onControl(msg: ControlMessage, from: string): void {
    if (this.#closed || (msg.t !== "relay-session" && msg.t !== "relay-closed")) return;
    const relay = this.#keyOf.get(from);
    if (relay === undefined || !this.#relays.has(relay)) {
      this.notRelay++;
      return;
    }
    const refused = this.#d.client.onNotice(msg, relay);
    if (refused === "not-asked" && msg.t === "relay-session" && this.#d.wake) {
      // An idle member wants a session through this relay: woken, it asks too (the relay grants
      // an open session again unchanged) and takes the grant then.
      this.#d.wake(msg.peer);
    } else if (refused !== null) {
      this.#say("info", "relay grant refused", { relay, reason: refused });
    } else if (msg.t === "relay-session") {
      // Use it now rather than at the next tick.
      const p = this.#peers.get(msg.peer);
      if (p) this.#route(msg.peer, p, this.#clock.now());
    }
  }

  #onEvent(e: DeviceEvent): void {
    if (this.#closed) return;
    if (e.type === "endpoint-changed") return this.#roamedOff(e.peer);
    if (e.type !== "handshake-complete") return;
    const r = this.#relays.get(e.peer);
    if (r === undefined) return;
    // The relay answered: what went out through it was not lost on the way there.
    r.quietSince = r.askedAt = Infinity;
    // A new session with a relay may be a relay that restarted and lost its sessions: ask again
    // for those in use (a relay grants an open session again unchanged).
    const relayPeer = e.peer;
    for (const [key] of this.#peers) {
      const ep = this.#d.device.peer(key)?.endpoint ?? null;
      if (key !== relayPeer && ep !== null && routeOf(ep) === "relay") {
        this.#sendOpen(relayPeer, key);
      }
    }
  }

  /**
   * The device roamed `key` (its packets came from elsewhere): a stream it left is closed if we
   * dialled it, as {@link #move} closes one (the device keeps the place left as `otherEndpoint`).
   */
  #roamedOff(key: string): void {
    this.#relayFollows(key);
    const p = this.#d.device.peer(key);
    const left = p?.otherEndpoint ?? null;
    const ep = p?.endpoint ?? null;
    if (left !== null && ep !== null && isStreamEndpoint(left) && !sameEndpoint(left, ep)) {
      this.#d.device.release(left);
    }
  }

  #say(level: "info" | "warn", event: string, fields: Record<string, unknown>): void {
    const left = this.#budget.take();
    if (left === null) return;
    this.#d.logger[level](event, left > 0 ? { ...fields, suppressed: left } : fields);
  }
}

/** The leader, and members started with `--relay`. */
function isRelay(m: Member): boolean {
  return m.role === "leader" || m.relay === true;
}
