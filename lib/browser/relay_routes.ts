/**
 * The routes of a member with one way out, its WebSocket to the leader: the leader is its peer
 * over the socket, and every other member is reached through the leader as a relay
 * (`relay://<leader>/<member>`, lib/relay/): a page has no UDP, so there is no direct path to
 * find and nothing to fall back from. A full agent decides its routes from measured paths
 * (lib/mesh/relay/mesh_routes.ts); this one has a single route per peer and only keeps the
 * relay sessions it needs.
 *
 * Sessions on demand, as the agent's: a session with a member is asked of the leader when the
 * device starts a handshake with it (its first packet) and there is none, again every 2 s while
 * none is granted, and every 10 s while one is in use (a relay grants an open session again
 * unchanged); a grant the node did not ask for (a member opened a session to reach it) is taken
 * by asking back. When the session with the leader starts anew (it restarted and lost its
 * sessions), those in use are asked for again.
 * @module
 */

import type { Device, DeviceEvent } from "../device/device.ts";
import type { Endpoint } from "../io/driver.ts";
import type { Logger } from "../log/logger.ts";
import type { MembershipView } from "../members/member.ts";
import { type RelayClient, SESSION_REFRESH_MS, SESSION_RETRY_MS } from "../relay/client.ts";
import type { ControlPort } from "../mesh/sync/control_channel.ts";
import type { ControlMessage } from "../mesh/sync/protocol.ts";

/** How often sessions are looked at. */
const TICK_MS = 1_000;
/** A peer counts as in use this long after its last handshake started or completed. */
const IN_USE_MS = 180_000;

/** What the routes work with. */
export interface RelayRoutesDeps {
  /** The device. */
  device: Device;
  /** The relay client under the device's transport. */
  client: RelayClient;
  /** The control channel (relay requests and grants). */
  channel: ControlPort;
  /** The leader's public key: the relay. */
  leader: string;
  /** The socket's far end: the leader's endpoint. */
  leaderEndpoint: Endpoint;
  /** The logger. */
  logger: Logger;
}

/** Every peer but the leader through the leader. See the module docs. */
export class RelayRoutes {
  readonly #d: RelayRoutesDeps;
  /** The leader's overlay address, once the view has it. */
  #leaderAddress: string | null = null;
  readonly #members = new Set<string>();
  /** When each peer's session was last asked for, and last wanted (a handshake). */
  readonly #asked = new Map<string, number>();
  readonly #wanted = new Map<string, number>();
  readonly #stops: (() => void)[] = [];
  #closed = false;

  /** Routes for `deps.device`'s peers; nothing runs before {@link start}. */
  constructor(deps: RelayRoutesDeps) {
    this.#d = deps;
    deps.client.setRelay(deps.leader, deps.leaderEndpoint);
  }

  /**
   * The endpoint text of a member's peer: the socket for the leader, the relay endpoint through
   * the leader for the others.
   */
  endpointOf(publicKey: string): string {
    const d = this.#d;
    return publicKey === d.leader
      ? d.leaderEndpoint.toString()
      : d.client.endpoint(d.leader, publicKey).fullText;
  }

  /** Follows the view, the control channel, the device's events and the clock. */
  start(view: MembershipView): void {
    this.viewChanged(view);
    const d = this.#d;
    this.#stops.push(d.channel.listen((msg, from) => this.#onControl(msg, from)));
    this.#stops.push(d.device.onEvent((e) => this.#onEvent(e)));
    const t = setInterval(() => this.#tick(), TICK_MS);
    this.#stops.push(() => clearInterval(t));
  }

  /** Takes a new view: the leader's address, and the members that left lose their sessions. */
  viewChanged(v: MembershipView): void {
    if (this.#closed) return;
    const d = this.#d;
    const present = new Set<string>();
    for (const m of v.members) {
      if (m.publicKey === d.device.publicKey) continue;
      if (m.publicKey === d.leader) this.#leaderAddress = m.address;
      else present.add(m.publicKey);
    }
    for (const key of this.#members) {
      if (present.has(key)) continue;
      d.client.closePeer(key);
      this.#asked.delete(key);
      this.#wanted.delete(key);
    }
    this.#members.clear();
    for (const key of present) this.#members.add(key);
  }

  /** Stops the timer and the listeners. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const stop of this.#stops.splice(0)) stop();
  }

  #tick(): void {
    if (this.#closed) return;
    const d = this.#d;
    const now = performance.now();
    d.client.sweep();
    for (const [key, at] of this.#wanted) {
      if (now - at > IN_USE_MS) {
        this.#wanted.delete(key);
        continue;
      }
      const every = d.client.hasSession(key) ? SESSION_REFRESH_MS : SESSION_RETRY_MS;
      if (now - (this.#asked.get(key) ?? -Infinity) >= every) this.#open(key, now);
    }
  }

  /** Asks the leader for a session with `key`. */
  #open(key: string, now: number): void {
    const address = this.#leaderAddress;
    if (address === null || !this.#members.has(key)) return;
    this.#asked.set(key, now);
    // The client takes the relay's grant only after this ask.
    this.#d.client.asked(this.#d.leader, key);
    // `ht`: this member signs and checks the head-and-tag MAC form (lib/relay/wire.ts).
    this.#d.channel.send(address, { t: "relay-open", to: key, ht: true });
  }

  #want(key: string): void {
    const now = performance.now();
    const fresh = !this.#wanted.has(key);
    this.#wanted.set(key, now);
    if (fresh && !this.#d.client.hasSession(key)) this.#open(key, now);
  }

  #onControl(msg: ControlMessage, from: string): void {
    if (this.#closed || (msg.t !== "relay-session" && msg.t !== "relay-closed")) return;
    // Only the leader relays for this node: a grant from anyone else is not one.
    if (from !== this.#leaderAddress) return;
    const d = this.#d;
    const refused = d.client.onNotice(msg, d.leader);
    if (msg.t !== "relay-session") return;
    if (refused === "not-asked") {
      // A member opened a session to reach this node: asking back makes the grant ours.
      const now = performance.now();
      this.#wanted.set(msg.peer, now);
      this.#open(msg.peer, now);
    } else if (refused !== null) {
      d.logger.debug("relay grant refused", { reason: refused });
    } else {
      // What waited for the session (the handshake's staged packets) goes now.
      d.device.initiateHandshakeNow(msg.peer);
    }
  }

  #onEvent(e: DeviceEvent): void {
    if (this.#closed) return;
    const d = this.#d;
    if (e.peer === d.leader) {
      // A new session with the leader may be a leader that restarted and lost its sessions.
      if (e.type === "handshake-complete") {
        const now = performance.now();
        for (const key of this.#wanted.keys()) this.#open(key, now);
      }
      return;
    }
    if (e.type === "handshake-initiated" || e.type === "handshake-complete") this.#want(e.peer);
  }
}
