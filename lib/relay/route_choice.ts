/**
 * Which way a member's packets to one peer go when the direct UDP path is not enough: direct
 * UDP first, then through a relay (over UDP, or TCP when that is all the relay link has), then
 * TCP straight to the peer (for relays and the leader, which listen on TCP), and last a WebSocket
 * to the same port (for networks that let out nothing but HTTP). Pure: every call
 * takes `now` (ms) and what the paths, the session and the relays say, and answers with the move
 * to make, if any; the caller moves the device's peer.
 *
 * Falling back: from direct when the path probes found no direct path after the first punching
 * (`graceMs` after the peer was first seen), when a session that worked on the direct path
 * stalls, or when the direct path misses pings in a row (`missesToLeave`; one more while the
 * session still looks alive, since packets coming in can make a one-way path look alive: a
 * network that lets UDP in but not out). Moving back: when a pong on the direct path arrives after the fallback, and the hold
 * has passed. The hold starts at `holdMs` and doubles each time a direct path that came back
 * stalls again (up to `maxHoldMs`), so a path that answers probes but not traffic (a small-packet
 * only path, a flaky link) does not flap; it is reset once a direct path has worked for
 * `settleMs`.
 *
 * WebSocket: TCP that does not work (no session `graceMs` after it was entered, or one that
 * worked stalls), with no relay session to go to, moves to the peer's WebSocket (`ws`, on the
 * TCP port). The grace counts from when TCP was first entered without working since, not from
 * the last entry: while the peer still sends on the path we left (it has not heard us since),
 * its packets roam the device back there, and each return would otherwise start the grace
 * anew, so a member whose UDP and framed TCP stop getting out together would never reach the
 * WebSocket. Once TCP has failed that long, a fallback from direct goes straight to the
 * WebSocket. From there TCP is probed, not moved to: after the hold, and then after twice as long
 * each time (up to `maxHoldMs`), the decision asks for a handshake sent over TCP (`probe`) while
 * the traffic stays on the WebSocket; when TCP gets through, the peer's answer comes over TCP and
 * the device roams onto it (TCP has its grace anew then: that answer was a round trip over it), so
 * a network that lets framed TCP out again is used once more, and one that still does not costs a
 * handshake message, not an outage. A direct pong moves back to direct
 * as from any fallback.
 * @module
 */

import type { Endpoint } from "../io/driver.ts";

/** Where a peer's packets go. */
export type Route = "direct" | "relay" | "tcp" | "websocket";

/**
 * The route a device endpoint is on: a relay's virtual endpoint, TCP, a WebSocket (`ws`, `wss`),
 * or else direct UDP.
 */
export function routeOf(ep: Endpoint): Route {
  const p = ep.proto;
  return p === "relay"
    ? "relay"
    : p === "tcp"
    ? "tcp"
    : p === "ws" || p === "wss"
    ? "websocket"
    : "direct";
}

/** The underlay transport a device endpoint's packets take: a WebSocket, TCP, or else UDP. */
export function transportOf(ep: Endpoint): "udp" | "tcp" | "websocket" {
  const p = ep.proto;
  return p === "tcp" ? "tcp" : p === "ws" || p === "wss" ? "websocket" : "udp";
}

/** Why a peer's route changed. */
export type RouteReason =
  /** To a relay: no direct path. */
  | "relay"
  /** To TCP: no UDP path (or, from a WebSocket, to try TCP again). */
  | "tcp"
  /** To a WebSocket: TCP does not get through. */
  | "websocket"
  /** Back to a direct UDP path that answers again. */
  | "direct";

/** What is known of a peer at one moment. */
export interface RouteInputs {
  /** Monotonic ms. */
  now: number;
  /** The route the device uses now (from its endpoint's kind). */
  current: Route;
  /**
   * The direct path the probes chose, when its last pong came, and how many pings to it were
   * missed in a row since; null when none.
   */
  direct: { endpoint: string; lastPongAt: number; misses?: number } | null;
  /** The WireGuard session to the peer works (data sent is answered). */
  works: boolean;
  /** The peer's TCP endpoint (`tcp://host:port`) when it listens on TCP and relays; else null. */
  tcp: string | null;
  /**
   * The peer's WebSocket endpoint (`ws://host:port`, the TCP port) when it has a TCP one; else
   * null or absent.
   */
  ws?: string | null;
  /** The relayed endpoint when a relay granted a session with the peer; else null. */
  relay: string | null;
  /** Relays could be asked (some relay other than the peer and this node is known). */
  relaysKnown: boolean;
}

/** A move to make. */
export interface RouteMove {
  /** The route. */
  to: Route;
  /** The device endpoint text to use. */
  endpoint: string;
  /** Why. */
  reason: RouteReason;
  /**
   * Off the direct path because its pings went unanswered (missed in a row, or the probes gave
   * it up): our UDP does not get to the peer, though its packets may still get to us. Absent:
   * not so (another fallback, or a direct path never found).
   */
  udpFailed?: boolean;
}

/** What {@link PeerRoute.decide} answers. */
export interface RouteDecision {
  /** The move to make now, or null. */
  move: RouteMove | null;
  /** Sessions with the peer should be asked of the relays (none is held yet, or one may be needed). */
  wantRelay: boolean;
  /**
   * Send a handshake to this endpoint (the peer's TCP one) without moving the traffic: on a
   * WebSocket, whether framed TCP gets through again. Absent: none.
   */
  probe?: string;
}

/** The timing of the choice, in ms. */
export interface RouteTiming {
  /** How long a new peer's direct path is given before falling back. */
  graceMs: number;
  /** The first hold before moving back to a direct path. */
  holdMs: number;
  /** The longest hold. */
  maxHoldMs: number;
  /** A direct path that worked this long resets the hold. */
  settleMs: number;
  /** Pings missed in a row on the direct path that make it failed. */
  missesToLeave: number;
}

/** The timing described in the module docs. */
export const DEFAULT_ROUTE_TIMING: Readonly<RouteTiming> = Object.freeze({
  graceMs: 5_000,
  holdMs: 2_000,
  maxHoldMs: 300_000,
  settleMs: 60_000,
  missesToLeave: 2,
});

const NO_MOVE: RouteDecision = Object.freeze({ move: null, wantRelay: false });

/** One peer's route: see the module docs. */
export class PeerRoute {
  readonly #t: RouteTiming;
  readonly #since: number;
  /** When the last fallback happened (-Infinity: never). */
  #fellBackAt = -Infinity;
  /** The hold before moving back to direct. */
  #hold: number;
  /** The route of the last decision, to notice the device moving by itself (roaming). */
  #route: Route | null = null;
  /** When the route was last entered. */
  #enteredAt = -Infinity;
  /** When TCP was last probed from the WebSocket, and the wait before the next probe. */
  #probedAt = -Infinity;
  #probeHold: number;
  /** The session worked since the route was last entered. */
  #worked = false;
  /** When the current direct route started working (for the hold's reset). */
  #directWorksSince = Infinity;
  /** The probes had a direct path since the route was last entered. */
  #hadDirect = false;
  /**
   * When TCP was first entered without working since (Infinity: it works, or was not tried
   * since a direct path came back by our move or worked for `settleMs`).
   */
  #tcpFailingSince = Infinity;
  /** The current fallback was entered by roaming, not by our move. */
  #roamedOnto = false;
  /**
   * When the peer's packets last moved the device onto its direct path by themselves (roaming;
   * -Infinity: never): that path gets the grace time anew to show it works both ways.
   */
  #roamedDirectAt = -Infinity;

  /** A peer first seen at `now`. */
  constructor(now: number, timing: Partial<RouteTiming> = {}) {
    this.#t = { ...DEFAULT_ROUTE_TIMING, ...timing };
    this.#since = now;
    this.#hold = this.#t.holdMs;
    this.#probeHold = this.#t.holdMs;
  }

  /** The hold now before a move back to direct. */
  get holdMs(): number {
    return this.#hold;
  }

  /** Starts on a fallback at once (the join only got through over TCP). */
  fellBack(now: number): void {
    this.#fellBackAt = now;
  }

  /** The move to make for `x`, if any. */
  decide(x: RouteInputs): RouteDecision {
    if (x.current !== this.#route) {
      // The device moved by itself (or this is the first look): the peer's packets came
      // another way, and ours follow.
      const was = this.#route;
      const roamed = was !== null;
      this.#enter(x.current, x.now);
      // From the WebSocket onto TCP: only the answer to a handshake we sent over TCP (a probe)
      // comes over a TCP connection there, so framed TCP gets through both ways again and has
      // its grace anew (else the session, not yet seen working on it, sent it straight back to
      // the WebSocket, over a connection dialled anew).
      if (roamed && was === "websocket" && x.current === "tcp") {
        this.#tcpFailingSince = Infinity;
      }
      // Roamed onto a fallback: only a pong after now says the direct path works (one from
      // when it last worked would move back at once, onto a path that may have failed the
      // peer, and the peer, roaming after our packets, would flap between the two). No hold:
      // it is for a direct path that stalled on us, and the peer's packets may merely have
      // been in flight on the fallback it just left.
      if (x.current !== "direct" && roamed) {
        this.#fellBackAt = x.now;
        this.#roamedOnto = true;
      } else if (x.current === "direct" && roamed) {
        // Its packets come straight: without this, a peer whose path probes go unanswered
        // (it does not probe) would be sent back to the relay before our answers reach it,
        // and roam straight again with its next packet, each time.
        this.#roamedDirectAt = x.now;
      } else if (x.current !== "direct" && this.#fellBackAt === -Infinity) {
        this.#fellBackAt = x.now;
      }
    }
    if (x.works) this.#worked = true;
    if (x.current === "tcp") {
      if (x.works) this.#tcpFailingSince = Infinity;
      else if (this.#tcpFailingSince === Infinity) this.#tcpFailingSince = x.now;
    }
    const d = x.current === "direct" ? this.#fromDirect(x) : this.#fromFallback(x);
    if (d.move !== null) {
      this.#enter(d.move.to, x.now);
      // Back up to a direct path that answers: TCP gets its grace again next time.
      if (d.move.to === "direct") this.#tcpFailingSince = Infinity;
      else if (d.move.to === "tcp" && this.#tcpFailingSince === Infinity) {
        this.#tcpFailingSince = x.now;
      }
    }
    return d;
  }

  /** A route entered, by our move or by roaming: the session has to prove itself anew. */
  #enter(route: Route, now: number): void {
    this.#route = route;
    this.#enteredAt = now;
    this.#worked = false;
    this.#directWorksSince = Infinity;
    this.#hadDirect = false;
    this.#roamedOnto = false;
  }

  #fromDirect(x: RouteInputs): RouteDecision {
    const { now } = x;
    // The probes gave up the direct path they had chosen on this route: failed, however alive
    // the session looks (packets that still come in say nothing of ours getting out), and
    // whatever the misses were when it went (the table and the session are sampled apart).
    const given = x.direct === null && this.#hadDirect;
    if (x.direct !== null) this.#hadDirect = true;
    const misses = x.direct?.misses ?? 0;
    const failing = given || misses >= this.#t.missesToLeave + (x.works ? 1 : 0);
    if (x.works && !failing) {
      if (this.#directWorksSince === Infinity) this.#directWorksSince = now;
      if (now - this.#directWorksSince >= this.#t.settleMs) {
        this.#hold = this.#t.holdMs;
        this.#tcpFailingSince = Infinity;
      }
      return NO_MOVE;
    }
    this.#directWorksSince = Infinity;
    const stalled = this.#worked || failing;
    const unreached = x.direct === null &&
      now - Math.max(this.#since, this.#roamedDirectAt) >= this.#t.graceMs;
    if (!stalled && !unreached) return NO_MOVE;
    const move = this.#fallback(x, now);
    if (move === null) return { move: null, wantRelay: x.tcp === null && x.relaysKnown };
    // A direct path that came back and stalled again waits longer before it is trusted again.
    if (stalled && this.#fellBackAt > -Infinity) {
      this.#hold = Math.min(this.#hold * 2, this.#t.maxHoldMs);
    }
    this.#fellBackAt = now;
    if (failing) move.udpFailed = true;
    return { move, wantRelay: move.to === "relay" };
  }

  #fromFallback(x: RouteInputs): RouteDecision {
    const { now } = x;
    const d = x.direct;
    if (
      d !== null && d.lastPongAt > this.#fellBackAt &&
      (this.#roamedOnto || now - this.#fellBackAt >= this.#hold)
    ) {
      return { move: { to: "direct", endpoint: d.endpoint, reason: "direct" }, wantRelay: false };
    }
    const wantRelay = x.current === "relay" && x.relaysKnown;
    if (x.current === "relay" && x.relay === null && x.tcp !== null) {
      // The relay session is gone and the peer takes TCP: go there rather than wait.
      return { move: { to: "tcp", endpoint: x.tcp, reason: "tcp" }, wantRelay };
    }
    if (x.current === "tcp" && this.#worked && !x.works && x.relay !== null) {
      // TCP to the peer stalled, and a relay has a session: try it.
      return { move: { to: "relay", endpoint: x.relay, reason: "relay" }, wantRelay: true };
    }
    const ws = x.ws ?? null;
    if (
      x.current === "tcp" && ws !== null && !x.works && x.relay === null &&
      (this.#worked || this.#tcpFailing(now))
    ) {
      // Framed TCP does not get through (a firewall that lets out HTTP only): a WebSocket.
      this.#fellBackAt = now;
      this.#probedAt = now;
      this.#probeHold = this.#t.holdMs;
      return { move: { to: "websocket", endpoint: ws, reason: "websocket" }, wantRelay };
    }
    if (x.current === "websocket" && x.tcp !== null) {
      // Up again once TCP answers: a handshake over it, the traffic left where it works.
      if (this.#probedAt === -Infinity) this.#probedAt = this.#fellBackAt;
      if (now - this.#probedAt >= this.#probeHold) {
        this.#probedAt = now;
        this.#probeHold = Math.min(this.#probeHold * 2, this.#t.maxHoldMs);
        return { move: null, wantRelay, probe: x.tcp };
      }
    }
    return { move: null, wantRelay };
  }

  /** TCP has not worked for the grace time since it was first entered (see the module docs). */
  #tcpFailing(now: number): boolean {
    return now - this.#tcpFailingSince >= this.#t.graceMs;
  }

  /**
   * The fallback to take: TCP to the peer when it has it (its WebSocket when TCP has been
   * failing), else a relay.
   */
  #fallback(x: RouteInputs, now: number): RouteMove | null {
    const ws = x.ws ?? null;
    if (x.tcp !== null && ws !== null && x.relay === null && this.#tcpFailing(now)) {
      this.#probedAt = now;
      this.#probeHold = this.#t.holdMs;
      return { to: "websocket", endpoint: ws, reason: "websocket" };
    }
    if (x.tcp !== null) return { to: "tcp", endpoint: x.tcp, reason: "tcp" };
    if (x.relay !== null) return { to: "relay", endpoint: x.relay, reason: "relay" };
    return null;
  }
}
