/**
 * A relaying member's side (the leader, and members started with `--relay`): it takes the
 * members' `relay-open` and `relay-close` requests on the control channel (the sender is the
 * member whose overlay address the request came from, which WireGuard vouches for), hands them
 * to the {@link RelayServer}, and sends the grants and notices back the same way. It keeps the
 * server told where each member is (its WireGuard peer's endpoint, which only authenticated
 * packets move: refreshed as the device says one moved, and every second) and who the members
 * are, and sweeps idle sessions. The packets themselves go through the relay mux straight to the
 * server, never through here.
 * @module
 */

import type { Device } from "../../device/device.ts";
import { heardFrom } from "../../device/roaming.ts";
import { LogBudget } from "../../log/budget.ts";
import type { Logger } from "../../log/logger.ts";
import type { Member, MembershipView, ViewChange } from "../../members/member.ts";
import type { RelayOutgoing, RelayServer } from "../../relay/server.ts";
import type { ControlPort } from "../sync/control_channel.ts";
import type { ControlMessage } from "../sync/protocol.ts";

/** How often endpoints are refreshed and idle sessions swept. */
const TICK_MS = 1_000;

/** What the relay service works with. */
export interface RelayServiceDeps {
  /** The relay. */
  server: RelayServer;
  /** The device: the members' endpoints. */
  device: Device;
  /** The control channel. */
  channel: ControlPort;
  /** The logger. */
  logger: Logger;
}

/** Serves relay requests; see the module docs. */
export class RelayService {
  readonly #d: RelayServiceDeps;
  readonly #keyOf = new Map<string, string>();
  readonly #addressOf = new Map<string, string>();
  // Each member's addresses in #keyOf (dropped from it when it moves or leaves).
  readonly #at = new Map<string, string[]>();
  // A member can make the relay refuse as fast as it can send: the lines are budgeted.
  readonly #budget = new LogBudget({ burst: 10, intervalMs: 5_000 });
  readonly #stops: (() => void)[] = [];
  /** Requests from an address that is no member's (counted, never answered). */
  notMember = 0;
  #closed = false;

  /** A service for `deps.server`; nothing runs before {@link start}. */
  constructor(deps: RelayServiceDeps) {
    this.#d = deps;
  }

  /** Takes `view`'s members and starts listening and sweeping. */
  start(view: MembershipView): void {
    this.viewChanged(view);
    // A member sends its relayed packets the way it reaches us, which its own route choice
    // picks: after a restart or a fallback that may be TCP while we send to it over UDP (or the
    // other way), and its packets from there are as much its own.
    const device = this.#d.device;
    this.#d.server.setHeard((key, from) => {
      const peer = device.peer(key);
      return peer !== undefined && heardFrom(peer, from);
    });
    this.#stops.push(this.#d.channel.listen((msg, from) => this.#onControl(msg, from)));
    // A member's endpoint moves when its authenticated packets come from elsewhere (a relay
    // that restarted learns every member's anew, from its first handshake): told at once, the
    // server takes its packets from there and sends there, where waiting for the tick dropped
    // them as `source` (or sent them to the old place) for up to a second.
    this.#stops.push(this.#d.device.onEvent((e) => {
      if (e.type === "endpoint-changed" && this.#addressOf.has(e.peer)) this.#refresh(e.peer);
    }));
    const t = setInterval(() => this.#tick(), TICK_MS);
    this.#stops.push(() => clearInterval(t));
  }

  /**
   * Takes a new view: members that left lose their sessions (the others are told). With
   * `change` (how it differs from the last view taken), only the members it names.
   */
  viewChanged(v: MembershipView, change: ViewChange | null = null): void {
    if (this.#closed) return;
    const me = this.#d.device.publicKey;
    if (change) {
      for (const key of change.remove) this.#leave(key);
      for (const m of change.upsert) if (m.publicKey !== me) this.#take(m);
      return;
    }
    const present = new Set<string>();
    this.#keyOf.clear();
    this.#at.clear();
    for (const m of v.members) {
      if (m.publicKey === me) continue;
      present.add(m.publicKey);
      this.#take(m);
    }
    for (const key of [...this.#addressOf.keys()]) if (!present.has(key)) this.#leave(key);
  }

  /** Member `m` at its addresses now. */
  #take(m: Member): void {
    const was = this.#at.get(m.publicKey);
    if (was) { for (const a of was) if (this.#keyOf.get(a) === m.publicKey) this.#keyOf.delete(a); }
    const at = m.address6 ? [m.address, m.address6] : [m.address];
    for (const a of at) this.#keyOf.set(a, m.publicKey);
    this.#at.set(m.publicKey, at);
    this.#addressOf.set(m.publicKey, m.address);
  }

  /** Member `key` left: the server drops it, and its peers are told. */
  #leave(key: string): void {
    const was = this.#at.get(key);
    if (was) { for (const a of was) if (this.#keyOf.get(a) === key) this.#keyOf.delete(a); }
    this.#at.delete(key);
    if (!this.#addressOf.delete(key)) return;
    this.#send(this.#d.server.removeMember(key));
  }

  /** Stops listening and sweeping. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const stop of this.#stops.splice(0)) stop();
  }

  #onControl(msg: ControlMessage, from: string): void {
    if (this.#closed || (msg.t !== "relay-open" && msg.t !== "relay-close")) return;
    const key = this.#keyOf.get(from);
    if (key === undefined) {
      this.notMember++;
      return;
    }
    // The endpoints as the device knows them now, so a grant is usable at once.
    this.#refresh(key);
    if (msg.t === "relay-open" && this.#addressOf.has(msg.to)) this.#refresh(msg.to);
    const r = this.#d.server.handle(msg, key);
    if (r.refused !== null) {
      const left = this.#budget.take();
      if (left !== null) {
        this.#d.logger.info("relay request refused", {
          from: key,
          to: msg.to,
          reason: r.refused,
          ...(left > 0 ? { suppressed: left } : {}),
        });
      }
    }
    this.#send(r.send);
  }

  #tick(): void {
    if (this.#closed) return;
    for (const key of this.#addressOf.keys()) this.#refresh(key);
    this.#send(this.#d.server.sweep());
  }

  /** Tells the server where member `key` is, as its WireGuard peer says. */
  #refresh(key: string): void {
    this.#d.server.setEndpoint(key, this.#d.device.peer(key)?.endpoint ?? null);
  }

  #send(out: RelayOutgoing[]): void {
    for (const o of out) {
      const address = this.#addressOf.get(o.to);
      if (address !== undefined) this.#d.channel.send(address, o.msg);
    }
  }
}
