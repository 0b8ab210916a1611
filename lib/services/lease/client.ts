/**
 * A node's side of the service-leader leases. For each service the node offers (and whose own
 * health check, if any, passes) it asks the arbiter (the mesh leader) for the lease every
 * `renewMs`, and renews it the same way once it holds it. From the arbiter's announcements it
 * knows every service's leader, and tells subscribers when one changes.
 *
 * Safety of the holder: its lease counts from the moment it sent the ask that the grant or
 * renewal answers (before the arbiter started the lease), shortened by the tolerated clock drift
 * and a margin. A holder that gets no renewal in time therefore stops being leader by its own
 * clock before the arbiter's lease ends, and so before the arbiter can grant it to another:
 * as long as the clocks' rates differ by less than `maxDrift`. Clocks are monotonic
 * (`performance.now`), so setting the wall clock does not matter.
 *
 * Pure: the clock and the sending are collaborators; the owner calls {@link LeaseClient.tick}
 * every few hundred ms and hands it the arbiter's announcements.
 * @module
 */

import type { Logger } from "../../log/logger.ts";
import { serviceNameProblem } from "../../members/services.ts";
import type { LeaseAnnouncement, LeaseRequest, LeaseTiming } from "./protocol.ts";
import { leaseTiming } from "./protocol.ts";

/** A service's leader as this node knows it. */
export interface ObservedLeader {
  /** The service. */
  service: string;
  /** The holder's public key. */
  holder: string;
  /** The lease's fencing token. */
  token: number;
  /**
   * Until when (this node's monotonic ms) it is leader, as far as this node knows: for its own
   * lease the moment it steps down; for another's, the arbiter's word plus delivery time.
   */
  until: number;
}

/** A change of a service's leader (null: none known now). */
export interface LeaderChange {
  /** The service. */
  service: string;
  /** Its leader now. */
  leader: ObservedLeader | null;
}

/** The client's counters. */
export interface LeaseClientStats {
  /** Asks and renewals sent. */
  asks: number;
  /** Releases sent. */
  releases: number;
  /** Leases this node stepped down from because no renewal came in time. */
  lapsed: number;
  /** Announcements for services beyond the table's bound, dropped. */
  tableFull: number;
}

/** What the client works with. */
export interface LeaseClientDeps {
  /** This node's public key. */
  self: string;
  /** Monotonic milliseconds. */
  now: () => number;
  /** Sends a request to the arbiter. */
  send: (msg: LeaseRequest) => void;
  /**
   * Lease timing (defaults: {@link DEFAULT_LEASE_TIMING}). The lease length used is the one the
   * arbiter's answers state; `renewMs` must stay well below it.
   */
  timing?: Partial<LeaseTiming>;
  /** Most services whose leader is tracked. Default 1024. */
  maxServices?: number;
  /** Lapses and listener failures. */
  logger?: Logger;
  /**
   * The number of the first ask. Default: random, so that answers to a previous run's asks
   * (still on their way after a quick restart) match none of this run's.
   */
  firstAsk?: number;
}

/** A service this node offers: its asks and its lease. */
interface Campaign {
  nextAt: number;
  /** The last few asks: their number and when they were sent. */
  asks: { n: number; at: number }[];
  held: { token: number; until: number } | null;
}

/** What the arbiter said of a service's lease. */
interface Entry {
  holder: string | null;
  token: number;
  until: number;
}

/** Asks sent are remembered this many deep per service, to match late answers. */
const ASKS_KEPT = 8;

/** Asks for, holds and follows service leases. See the module docs. */
export class LeaseClient {
  readonly #deps: LeaseClientDeps;
  readonly #timing: LeaseTiming;
  readonly #maxServices: number;
  readonly #campaigns = new Map<string, Campaign>();
  readonly #unhealthy = new Set<string>();
  readonly #table = new Map<string, Entry>();
  readonly #emitted = new Map<string, string>();
  readonly #listeners = new Set<(c: LeaderChange) => void>();
  #n = 0;
  #closed = false;
  /** The counters (read-only for callers). */
  readonly stats: LeaseClientStats = { asks: 0, releases: 0, lapsed: 0, tableFull: 0 };

  /** A client offering nothing yet. */
  constructor(deps: LeaseClientDeps) {
    this.#deps = deps;
    this.#timing = leaseTiming(deps.timing);
    this.#maxServices = deps.maxServices ?? 1024;
    this.#n = (deps.firstAsk ?? crypto.getRandomValues(new Uint32Array(1))[0]) - 1;
  }

  /**
   * Sets the services this node offers (by name). New ones are asked for at the next tick; the
   * lease of one no longer offered is given up at once.
   */
  offer(services: Iterable<string>): void {
    if (this.#closed) return;
    const want = new Set(services);
    const now = this.#deps.now();
    for (const s of [...this.#campaigns.keys()]) {
      if (want.has(s)) continue;
      this.#giveUp(s);
      this.#campaigns.delete(s);
      this.#check(s, now);
    }
    for (const s of want) {
      if (!this.#campaigns.has(s)) this.#campaigns.set(s, { nextAt: now, asks: [], held: null });
    }
  }

  /**
   * Records what this node's own health check says of a local service: while it fails, the
   * node gives up the service's lease (at once) and does not ask for it. Throws a RangeError
   * for a name that is not a service name, or when more than the tracked bound of services are
   * unhealthy at once.
   */
  setHealth(service: string, healthy: boolean): void {
    const p = serviceNameProblem(service);
    if (p !== undefined) throw new RangeError(`service ${JSON.stringify(service)}: ${p}`);
    if (healthy) {
      if (!this.#unhealthy.delete(service)) return;
      const c = this.#campaigns.get(service);
      if (c) c.nextAt = this.#deps.now();
      return;
    }
    if (this.#unhealthy.has(service)) return;
    if (this.#unhealthy.size >= this.#maxServices) {
      throw new RangeError(`more than ${this.#maxServices} services marked unhealthy`);
    }
    this.#unhealthy.add(service);
    this.#giveUp(service);
    this.#check(service, this.#deps.now());
  }

  /** Sends the asks that are due, steps down from leases not renewed in time, notes changes. */
  tick(): void {
    if (this.#closed) return;
    const now = this.#deps.now();
    for (const [s, c] of this.#campaigns) {
      if (c.held !== null && now >= c.held.until) {
        c.held = null;
        this.stats.lapsed++;
        this.#deps.logger?.warn("service leader lease not renewed in time: stepped down", {
          service: s,
        });
      }
      if (this.#wants(s) && now >= c.nextAt) this.#ask(s, c, now);
    }
    for (const [s, e] of this.#table) {
      // Ended entries are kept a while, so that a late older announcement is seen as one.
      if (e.until < now - this.#timing.ttlMs) this.#table.delete(s);
    }
    for (const s of this.#services()) this.#check(s, now);
  }

  /** Takes an announcement of the arbiter. */
  handle(msg: LeaseAnnouncement): void {
    if (this.#closed) return;
    const now = this.#deps.now();
    if (msg.t === "leases") {
      for (const [s, h, tk, ttl] of msg.l) this.#take(s, h, tk, ttl, undefined, now);
    } else this.#take(msg.s, msg.h, msg.tk, msg.ttl, msg.n, now);
  }

  /** A service's leader as this node knows it now, or null. */
  leader(service: string): ObservedLeader | null {
    return this.#effective(service, this.#deps.now());
  }

  /** Every service's known leader. */
  leaders(): ObservedLeader[] {
    const now = this.#deps.now();
    const out: ObservedLeader[] = [];
    for (const s of this.#services()) {
      const l = this.#effective(s, now);
      if (l) out.push(l);
    }
    return out;
  }

  /** This node's own lease of a service (its fencing token, and when it steps down), or null. */
  held(service: string): { token: number; until: number } | null {
    const h = this.#campaigns.get(service)?.held;
    return h && h.until > this.#deps.now() ? { ...h } : null;
  }

  /** Subscribes to leader changes; returns the unsubscribe function. */
  subscribe(fn: (c: LeaderChange) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /** Gives up every lease held and stops. */
  close(): void {
    if (this.#closed) return;
    for (const s of this.#campaigns.keys()) this.#giveUp(s);
    this.#closed = true;
    this.#listeners.clear();
  }

  #wants(service: string): boolean {
    return this.#campaigns.has(service) && !this.#unhealthy.has(service);
  }

  #services(): Set<string> {
    return new Set([...this.#table.keys(), ...this.#campaigns.keys()]);
  }

  #ask(service: string, c: Campaign, now: number): void {
    const n = ++this.#n;
    c.asks.push({ n, at: now });
    if (c.asks.length > ASKS_KEPT) c.asks.shift();
    c.nextAt = now + this.#timing.renewMs;
    this.stats.asks++;
    const tk = c.held?.token;
    this.#deps.send({ t: "lease-ask", s: service, n, ...(tk !== undefined ? { tk } : {}) });
  }

  /** Steps down from the service's lease, if held, and tells the arbiter. */
  #giveUp(service: string): void {
    const c = this.#campaigns.get(service);
    if (!c?.held) return;
    const token = c.held.token;
    c.held = null;
    this.#release(service, token);
  }

  #release(service: string, token: number): void {
    this.stats.releases++;
    this.#deps.send({ t: "lease-release", s: service, tk: token });
  }

  /** Takes what the arbiter says of one lease (`n`: the ask of ours it answers). */
  #take(
    service: string,
    holder: string | null,
    token: number,
    ttl: number,
    n: number | undefined,
    now: number,
  ): void {
    this.#observe(service, holder, token, ttl, now);
    const c = this.#campaigns.get(service);
    if (holder === this.#deps.self) {
      if (!this.#wants(service)) {
        // Not (or no longer) wanted: the release was lost, or crossed a late grant.
        this.#release(service, token);
      } else if (c && n !== undefined) this.#hold(c, token, ttl, n, now);
    } else if (c?.held && (token > c.held.token || (token === c.held.token && holder === null))) {
      // The arbiter ended this lease, or a later one: ours is over. A later one while ours
      // still runs by our clock means the clocks drift more than allowed.
      if (token > c.held.token) {
        this.#deps.logger?.warn("service leader lease superseded while held: clocks drift?", {
          service,
        });
      }
      c.held = null;
    }
    this.#check(service, now);
  }

  /** Holds (or extends) a lease from an answer to ask `n`, counted from when `n` was sent. */
  #hold(c: Campaign, token: number, ttl: number, n: number, now: number): void {
    const ask = c.asks.find((a) => a.n === n);
    if (!ask) return;
    const { maxDrift, marginMs } = this.#timing;
    const until = ask.at + ttl * (1 - maxDrift) - marginMs;
    if (until <= now) return;
    if (c.held?.token === token) c.held.until = Math.max(c.held.until, until);
    else if (c.held === null || token > c.held.token) c.held = { token, until };
  }

  #observe(service: string, holder: string | null, token: number, ttl: number, now: number): void {
    const e = this.#table.get(service);
    if (!e) {
      if (this.#table.size >= this.#maxServices && !this.#campaigns.has(service)) {
        this.stats.tableFull++;
        return;
      }
      this.#table.set(service, { holder, token, until: holder === null ? now : now + ttl });
      return;
    }
    if (token < e.token) return;
    if (token === e.token) {
      // An ended lease stays ended; a live one ends or is renewed.
      if (e.holder === null) return;
      if (holder === null) e.holder = null;
      else e.until = now + ttl;
      return;
    }
    e.holder = holder;
    e.token = token;
    e.until = holder === null ? now : now + ttl;
  }

  #effective(service: string, now: number): ObservedLeader | null {
    const held = this.#campaigns.get(service)?.held;
    if (held && held.until > now) {
      return { service, holder: this.#deps.self, token: held.token, until: held.until };
    }
    const e = this.#table.get(service);
    // The arbiter may name this node while it holds nothing it can count on (an answer lost,
    // a lease lapsed): then no leader is known until the next answer.
    if (!e || e.holder === null || e.until <= now || e.holder === this.#deps.self) return null;
    return { service, holder: e.holder, token: e.token, until: e.until };
  }

  /** Tells the subscribers when the service's leader is not the one they last heard of. */
  #check(service: string, now: number): void {
    const l = this.#effective(service, now);
    const key = l ? `${l.holder}|${l.token}` : "";
    if ((this.#emitted.get(service) ?? "") === key) return;
    if (key === "") this.#emitted.delete(service);
    else this.#emitted.set(service, key);
    for (const fn of this.#listeners) {
      try {
        fn({ service, leader: l });
      } catch (e) {
        this.#deps.logger?.error("service leader listener failed", { error: String(e) });
      }
    }
  }
}
