/**
 * Service-leader leases on a running mesh node: the node's {@link LeaseClient} and, on the mesh
 * leader, the {@link LeaseArbiter}, joined to the control channel and to timers. Requests go to
 * the mesh leader's overlay address; the arbiter's answers and announcements go to members'
 * addresses (every few seconds the table of live leases to every member, so each node knows
 * every service's leader). On the leader itself the client and the arbiter talk directly.
 * Leaders come out as members of the current view (name, addresses), with their fencing token.
 *
 * With views scoped by policy ({@link LeaseScope}), a member is told only of the leases whose
 * holder it may see (its own always): a holder outside its view would resolve to nothing on it
 * (no name, no address to call), and its key is not the member's to learn. Members see the same
 * others by class, so the table is encoded once per set of rows told, not once per member.
 * @module
 */

import type { Logger } from "../../log/logger.ts";
import type { Member } from "../../members/member.ts";
import { type ArbiterStats, LeaseArbiter, type LeaseRecord } from "./arbiter.ts";
import { LeaseClient, type LeaseClientStats } from "./client.ts";
import { DocumentBook } from "./book.ts";
import { KvLeaseBook } from "./kv_book.ts";
import type { KvStore } from "../../store/kv.ts";
import {
  encodeLease,
  isLeaseMessageType,
  type LeaseAnnouncement,
  type LeaseMessage,
  type LeaseRequest,
  type LeaseRow,
  type LeaseTiming,
  leaseTiming,
  tableParts,
} from "./protocol.ts";

/** The lease section of a mesh agent's options. */
export interface LeaseOptions {
  /**
   * Service-leader lease timing (default 6 s leases renewed every 2 s; see
   * `DEFAULT_LEASE_TIMING`). The lease length is the mesh leader's (holders count the length its
   * answers state); a node's renewal interval must stay well below it.
   */
  leaseTiming?: Partial<LeaseTiming>;
}

/** A service's leader as this node knows it. */
export interface ServiceLeader {
  /** The service. */
  name: string;
  /** The leader's host name. */
  member: string;
  /** The leader's public key. */
  publicKey: string;
  /** The leader's overlay IPv4 address. */
  address: string;
  /** The leader's overlay IPv6 address, when the mesh has one. */
  address6?: string;
  /** The lease's fencing token: higher for every new lease of the service. */
  token: number;
  /**
   * Until when (Unix ms, this node's clock) it is leader as far as this node knows: for its own
   * lease the moment it steps down unless renewed; for another's, the arbiter's last word.
   */
  expiresAt: number;
}

/** A change of a service's leader: the new one, or null when none is known now. */
export interface ServiceLeaderChange {
  /** The service. */
  name: string;
  /** Its leader now. */
  leader: ServiceLeader | null;
}

/** This node's own lease of a service. */
export interface ServiceLease {
  /** The service. */
  name: string;
  /** The fencing token: give it to the resources the leader writes to. */
  token: number;
  /** When (Unix ms) this node stops being leader unless the lease is renewed before. */
  validUntil: number;
}

/** The lease counters of a node: the client's, and the arbiter's on the mesh leader. */
export interface LeaseStats {
  /** The node's client. */
  client: LeaseClientStats;
  /** The arbiter (mesh leader only). */
  arbiter?: ArbiterStats;
  /**
   * Changes of a service's leader as this node heard of them (to another holder, a new lease,
   * or none), by service; past {@link MAX_CHANGE_SERIES} services, under `other`.
   */
  leaderChanges: Record<string, number>;
  /**
   * Holders named in the announcements this node took, by whether the holder is in its view
   * (`out`: its view lags, or a leader told it of a member the policy keeps out of its view).
   */
  holdersHeard: { inView: number; outOfView: number };
}

/** Most services whose leader changes are counted apart. */
export const MAX_CHANGE_SERIES = 256;

/** The control channel as the leases use it (the mesh's control channel fits it). */
export interface LeasePort {
  /** Sends a message to an overlay address. */
  send(address: string, msg: LeaseMessage): void;
  /** Sends a message encoded already (`encodeLease`): one encoding for many members. */
  sendEncoded?(address: string, bytes: Uint8Array): void;
  /** Hands every control message received to `handler`; returns the function that stops it. */
  listen(handler: (msg: { t: string }, from: string) => void): () => void;
}

/**
 * Who may learn of whom, on a mesh leader whose views are scoped by policy: members are in
 * classes, and the members of one class see the same others (lib/mesh/leader/scope.ts's groups).
 */
export interface LeaseScope {
  /** The class of the member with `key`; undefined when it has none (not placed yet, gone). */
  classOf(key: string): number | undefined;
  /** Whether members of class `viewer` see members of class `seen` (each other, when equal). */
  sees(viewer: number, seen: number): boolean;
}

/** What the runtime works with. */
export interface LeaseRuntimeDeps {
  /** The control channel. */
  port: LeasePort;
  /** This node's key and overlay address. */
  self: { publicKey: string; address: string };
  /** The members of the current view. */
  members: () => readonly Member[];
  /** The overlay address of the mesh leader in use now: requests go there. */
  leaderAddress: () => string;
  /**
   * Whether an overlay address is one of the mesh's leaders, whose answers and announcements
   * count (several leaders share the leases). Absent: the leader in use only.
   */
  isLeader?: (address: string) => boolean;
  /** The logger. */
  logger: Logger;
  /**
   * On a mesh leader: the arbiter's persistence in the leader's document and its record from
   * before, its health view; and, when the leader's store is a key-value store shared with other
   * leaders (etcd), that store: the holders are kept there instead (kv_book.ts).
   */
  arbiter?: {
    persist: (record: LeaseRecord) => Promise<void>;
    restored: LeaseRecord | null;
    healthy: (key: string) => boolean;
    kv?: { store: KvStore; prefix: string };
    /**
     * Views scoped by policy: members are told only of the holders they may see. Absent: every
     * member is told of every lease.
     */
    scope?: LeaseScope;
  };
  /** Lease timing. */
  timing?: Partial<LeaseTiming>;
  /** Monotonic ms (default `performance.now`). */
  now?: () => number;
  /** Wall clock, Unix ms (default `Date.now`): only for the times shown. */
  wall?: () => number;
  /** How often the client and the arbiter look at their clocks, ms (default 250). */
  tickMs?: number;
}

/** The members of one view, indexed once. */
interface Index {
  members: readonly Member[];
  byKey: Map<string, Member>;
  byAddress: Map<string, Member>;
}

/** Leases on a running node. See the module docs. */
export class LeaseRuntime {
  readonly #deps: LeaseRuntimeDeps;
  readonly #now: () => number;
  readonly #wall: () => number;
  readonly #client: LeaseClient;
  readonly #arbiter: LeaseArbiter | null;
  readonly #timing: LeaseTiming;
  readonly #listeners = new Set<(c: ServiceLeaderChange) => void>();
  readonly #emitted = new Map<string, string>();
  readonly #changes = new Map<string, number>();
  readonly #stops: (() => void)[] = [];
  readonly #heard = { inView: 0, outOfView: 0 };
  #index: Index | null = null;
  #closed = false;

  /** A stopped runtime; `start` begins it. */
  constructor(deps: LeaseRuntimeDeps) {
    this.#deps = deps;
    this.#now = deps.now ?? (() => performance.now());
    this.#wall = deps.wall ?? (() => Date.now());
    this.#timing = leaseTiming(deps.timing);
    const self = deps.self.publicKey;
    this.#client = new LeaseClient({
      self,
      now: this.#now,
      timing: this.#timing,
      logger: deps.logger,
      send: (msg) => this.#toArbiter(msg),
    });
    const a = deps.arbiter;
    this.#arbiter = a
      ? new LeaseArbiter({
        now: this.#now,
        member: (key) => this.#members().byKey.get(key),
        healthy: (key) => key === self || a.healthy(key),
        book: a.kv
          ? new KvLeaseBook({
            store: a.kv.store,
            prefix: a.kv.prefix,
            ttlMs: this.#timing.ttlMs,
            logger: deps.logger,
          })
          : new DocumentBook({ persist: a.persist, restored: a.restored }),
        send: (to, msg, holder) => this.#toMembers(to, msg, holder),
        timing: this.#timing,
        logger: deps.logger,
      })
      : null;
    this.#client.subscribe((c) => this.#recheck(c.service));
  }

  /** Listens on the channel and starts the timers. */
  start(): void {
    this.#stops.push(this.#deps.port.listen((msg, from) => this.#onMessage(msg, from)));
    const tick = setInterval(() => {
      this.#arbiter?.tick();
      this.#client.tick();
    }, this.#deps.tickMs ?? 250);
    this.#stops.push(() => clearInterval(tick));
    const arbiter = this.#arbiter;
    if (arbiter) {
      arbiter.start();
      const announce = setInterval(() => this.#announce(arbiter.rows()), this.#timing.renewMs);
      this.#stops.push(() => clearInterval(announce));
    }
  }

  /** Sets the services this node offers (by name): it runs for the leadership of each. */
  offer(services: Iterable<string>): void {
    this.#client.offer(services);
  }

  /** Records the result of this node's own health check of a local service (see the client). */
  setHealth(service: string, healthy: boolean): void {
    this.#client.setHealth(service, healthy);
  }

  /** A service's leader as this node knows it, or null. */
  leader(service: string): ServiceLeader | null {
    const l = this.#client.leader(service);
    return l ? this.#resolve(l.service, l.holder, l.token, l.until) : null;
  }

  /** Every service leader this node knows of. */
  leaders(): ServiceLeader[] {
    return this.#client.leaders().flatMap((l) => {
      const r = this.#resolve(l.service, l.holder, l.token, l.until);
      return r ? [r] : [];
    });
  }

  /** The member leading a service, for DNS; null when none is known. */
  leaderMember(service: string): Member | null {
    const l = this.#client.leader(service);
    return l ? this.#members().byKey.get(l.holder) ?? null : null;
  }

  /** This node's own lease of a service, or null when it is not its leader. */
  lease(service: string): ServiceLease | null {
    const h = this.#client.held(service);
    return h ? { name: service, token: h.token, validUntil: this.#toWall(h.until) } : null;
  }

  /** Subscribes to leader changes; returns the unsubscribe function. */
  subscribe(fn: (c: ServiceLeaderChange) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /** On the mesh leader: a member left on purpose, the leases it held end now (arbiter.ts). */
  memberLeft(publicKey: string): void {
    this.#arbiter?.withdraw(publicKey);
  }

  /** The view changed: a leader not in the previous one may now be known by name. */
  viewChanged(): void {
    for (
      const s of new Set([
        ...this.#emitted.keys(),
        ...this.#client.leaders().map((l) => l.service),
      ])
    ) {
      this.#recheck(s);
    }
  }

  /** The counters. */
  stats(): LeaseStats {
    return {
      client: { ...this.#client.stats },
      ...(this.#arbiter ? { arbiter: structuredClone(this.#arbiter.stats) } : {}),
      leaderChanges: Object.fromEntries(this.#changes),
      holdersHeard: { ...this.#heard },
    };
  }

  /** Gives up the leases held (telling the arbiter), stops the timers and the arbiter. */
  close(): void {
    if (this.#closed) return;
    this.#client.close();
    this.#closed = true;
    this.#arbiter?.close();
    for (const stop of this.#stops.splice(0)) stop();
    this.#listeners.clear();
  }

  #members(): Index {
    const members = this.#deps.members();
    if (this.#index?.members === members) return this.#index;
    const index: Index = { members, byKey: new Map(), byAddress: new Map() };
    for (const m of members) {
      index.byKey.set(m.publicKey, m);
      index.byAddress.set(m.address, m);
    }
    this.#index = index;
    return index;
  }

  #toWall(until: number): number {
    return Math.round(this.#wall() + (until - this.#now()));
  }

  #resolve(service: string, key: string, token: number, until: number): ServiceLeader | null {
    const m = this.#members().byKey.get(key);
    if (!m) return null;
    return {
      name: service,
      member: m.name,
      publicKey: m.publicKey,
      address: m.address,
      ...(m.address6 ? { address6: m.address6 } : {}),
      token,
      expiresAt: this.#toWall(until),
    };
  }

  /** Tells the subscribers when a service's leader is not the one they last heard of. */
  #recheck(service: string): void {
    if (this.#closed) return;
    const l = this.leader(service);
    const key = l ? `${l.publicKey}|${l.token}` : "";
    if ((this.#emitted.get(service) ?? "") === key) return;
    if (key === "") this.#emitted.delete(service);
    else this.#emitted.set(service, key);
    const series = this.#changes.has(service) || this.#changes.size < MAX_CHANGE_SERIES
      ? service
      : "other";
    this.#changes.set(series, (this.#changes.get(series) ?? 0) + 1);
    for (const fn of this.#listeners) {
      try {
        fn({ name: service, leader: l });
      } catch (e) {
        this.#deps.logger.error("service leader listener failed", { error: String(e) });
      }
    }
  }

  #toArbiter(msg: LeaseRequest): void {
    if (this.#closed && msg.t !== "lease-release") return;
    const arbiter = this.#arbiter;
    if (arbiter) {
      // The arbiter answers in this call: after the client's own call returns, not inside it.
      queueMicrotask(() => arbiter.handle(this.#deps.self.publicKey, msg));
    } else this.#deps.port.send(this.#deps.leaderAddress(), msg);
  }

  /**
   * Sends an announcement about `holder` (its `h`, or the one an end is about) to member `to`, or
   * to every member for null: only to those that may know of that holder (scoped views), the
   * bytes encoded once.
   */
  #toMembers(to: string | null, msg: LeaseAnnouncement, about?: string): void {
    if (this.#closed) return;
    const self = this.#deps.self.publicKey;
    const { byKey, members } = this.#members();
    const holder = msg.t === "lease" ? msg.h ?? about : undefined;
    const may = this.#mayKnow(holder);
    const targets = to === null ? members : [byKey.get(to)].filter((m) => m !== undefined);
    let bytes: Uint8Array | null = null;
    for (const m of targets) {
      if (m.publicKey === self) queueMicrotask(() => this.#client.handle(msg));
      else if (may(m.publicKey)) this.#send(m.address, msg, bytes ??= encodeLease(msg));
    }
  }

  /**
   * Whether a member (by key) may be told of `holder`: itself, and with scoped views the members
   * whose class sees the holder's (judged once per class). An announcement about no one (none
   * named) goes to every member; one about a member no longer placed, to none but itself.
   */
  #mayKnow(holder: string | undefined): (key: string) => boolean {
    const scope = this.#deps.arbiter?.scope;
    if (scope === undefined || holder === undefined) return () => true;
    const hc = scope.classOf(holder);
    const byClass = new Map<number, boolean>();
    return (key) => {
      if (key === holder) return true;
      const c = scope.classOf(key);
      if (c === undefined || hc === undefined) return false;
      let ok = byClass.get(c);
      if (ok === undefined) byClass.set(c, ok = scope.sees(c, hc));
      return ok;
    };
  }

  /**
   * The table of live leases to every member: with scoped views, each member the rows whose
   * holder it may see and its own. The rows a class sees are worked out once per class, and
   * each distinct set of rows is encoded once.
   */
  #announce(rows: LeaseRow[]): void {
    if (this.#closed || rows.length === 0) return;
    const self = this.#deps.self.publicKey;
    const scope = this.#deps.arbiter?.scope;
    const { members } = this.#members();
    const all = rows.map((_, i) => i);
    const held = new Map<string, number[]>();
    for (let i = 0; i < rows.length; i++) {
      const list = held.get(rows[i][1]);
      if (list) list.push(i);
      else held.set(rows[i][1], [i]);
    }
    const holderClass = scope ? rows.map((r) => scope.classOf(r[1])) : [];
    const byClass = new Map<number | undefined, number[]>();
    const rowsOf = (c: number | undefined): number[] => {
      let out = byClass.get(c);
      if (out === undefined) {
        out = c === undefined
          ? []
          : all.filter((i) => holderClass[i] !== undefined && scope!.sees(c, holderClass[i]!));
        byClass.set(c, out);
      }
      return out;
    };
    const encoded = new Map<string, { msg: LeaseMessage; bytes: Uint8Array }[]>();
    for (const m of members) {
      if (m.publicKey === self) {
        for (const part of tableParts(rows)) queueMicrotask(() => this.#client.handle(part));
        continue;
      }
      let told = all;
      if (scope) {
        told = rowsOf(scope.classOf(m.publicKey));
        // Its own leases, where its class does not see its own members.
        const own = held.get(m.publicKey)?.filter((i) => !told.includes(i));
        if (own?.length) told = [...told, ...own].sort((a, b) => a - b);
      }
      if (told.length === 0) continue;
      const id = told.join(",");
      let parts = encoded.get(id);
      if (parts === undefined) {
        parts = tableParts(told.map((i) => rows[i])).map((msg) => ({
          msg,
          bytes: encodeLease(msg),
        }));
        encoded.set(id, parts);
      }
      for (const p of parts) this.#send(m.address, p.msg, p.bytes);
    }
  }

  /** Sends `msg` as `bytes`, encoded once, where the port takes them (the control channel does). */
  #send(address: string, msg: LeaseMessage, bytes: Uint8Array): void {
    const port = this.#deps.port;
    if (port.sendEncoded) port.sendEncoded(address, bytes);
    else port.send(address, msg);
  }

  #onMessage(raw: { t: string }, from: string): void {
    if (this.#closed || !isLeaseMessageType(raw.t)) return;
    // The channel parsed lease messages with parseLeaseMessage: checked, typed values.
    const msg = raw as LeaseMessage;
    if (msg.t === "lease-ask" || msg.t === "lease-release") {
      const sender = this.#members().byAddress.get(from);
      // Only a member may ask; the arbiter counts the rest.
      this.#arbiter?.handle(sender?.publicKey ?? `address ${from}`, msg);
      return;
    }
    const d = this.#deps;
    if (from !== d.leaderAddress() && !d.isLeader?.(from)) return;
    const { byKey } = this.#members();
    const count = (h: string) => byKey.has(h) ? this.#heard.inView++ : this.#heard.outOfView++;
    if (msg.t === "leases") { for (const r of msg.l) count(r[1]); }
    else if (msg.h !== null) count(msg.h);
    this.#client.handle(msg);
  }
}
