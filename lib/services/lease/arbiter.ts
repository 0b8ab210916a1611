/**
 * The arbiter of service leaders, run by the mesh leader: per service, at most one member holds
 * the lease at a time. A lease is granted to a candidate (a member that announces the service,
 * not as unhealthy, and that the arbiter finds healthy) when nobody holds it, renewed by its holder's asks, given
 * up by a release (a holder whose own health check of the service fails), and ends when it is
 * not renewed within its time. A lease that ended is granted to the candidate that asked most
 * recently, at once.
 *
 * Fencing tokens come from one counter for every service, so the tokens of a service only ever
 * increase. The counter and the holders are persisted (the `persist` collaborator: the leader's
 * state, written atomically) before a grant is answered, so a restarted arbiter never issues a
 * token again; and it takes every holder it finds there to hold its lease for one more full
 * time (it may have been renewed just before the restart), so nobody else is granted one while
 * an old holder may still believe in it.
 *
 * Pure: the clock, the members, their health, the persistence and the sending are collaborators;
 * the owner calls {@link LeaseArbiter.tick} every few hundred ms (expiries, waiting candidates).
 * @module
 */

import type { Logger } from "../../log/logger.ts";
import { RateLimiter } from "../../protocol/ratelimiter.ts";
import { serviceNameProblem } from "../../members/services.ts";
import {
  isKeyText,
  type LeaseAnnouncement,
  type LeaseNotice,
  type LeaseRequest,
  type LeaseRow,
  type LeaseTiming,
  leaseTiming,
} from "./protocol.ts";

/** What the arbiter persists: the highest token issued, and who holds which lease. */
export interface LeaseRecord {
  /** The highest fencing token issued (to any service). */
  last: number;
  /** The holders when this was written, by service. */
  held: Record<string, { token: number; holder: string }>;
}

/** Most services a record may name (records are written by the arbiter, bounded by it). */
const MAX_RECORD_SERVICES = 4096;

/** What is wrong with `v` as a persisted {@link LeaseRecord}, or undefined. */
export function leaseRecordProblem(v: unknown): string | undefined {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return "not an object";
  const r = v as Record<string, unknown>;
  if (!Number.isSafeInteger(r.last) || (r.last as number) < 0) return "last";
  if (typeof r.held !== "object" || r.held === null || Array.isArray(r.held)) return "held";
  const held = Object.entries(r.held);
  if (held.length > MAX_RECORD_SERVICES) return "too many services held";
  for (const [s, h] of held) {
    if (serviceNameProblem(s) !== undefined) return `held: service ${JSON.stringify(s)}`;
    const o = h as Record<string, unknown>;
    if (typeof o !== "object" || o === null) return `held: ${s}`;
    if (!Number.isSafeInteger(o.token) || (o.token as number) < 1) return `held: ${s}: token`;
    if ((o.token as number) > (r.last as number)) return `held: ${s}: token above last`;
    if (!isKeyText(o.holder)) return `held: ${s}: holder`;
  }
  return undefined;
}

/** A member as the arbiter needs it: its name (for logs) and the services it announces. */
export interface ArbiterMember {
  /** Its host name. */
  name: string;
  /**
   * The services it announces (by name; the protocol does not matter here), and whether its own
   * health check of each passes (`healthy: false` in its record: it may not hold the lease).
   */
  services: readonly { name: string; healthy?: boolean }[];
}

/** Why an ask was refused. */
export type LeaseRefusal =
  | "notMember"
  | "notOffered"
  | "unhealthy"
  | "tooManyServices"
  | "tooManyCandidates"
  | "rateLimited"
  /** The member asked for the service faster than the ask rate. */
  | "askRate";

/** The arbiter's counters. */
export interface ArbiterStats {
  /** Leases granted. */
  granted: number;
  /** Renewals. */
  renewed: number;
  /** Leases given up by their holder. */
  released: number;
  /** Leases that ended without a renewal. */
  expired: number;
  /** Asks refused, by reason. */
  refused: Record<LeaseRefusal, number>;
  /** Releases of a lease the sender did not hold (late, or repeated). */
  staleReleases: number;
  /** Grants not made because the record could not be persisted. */
  persistFailed: number;
}

/** What the arbiter works with. */
export interface LeaseArbiterDeps {
  /** Monotonic milliseconds. */
  now: () => number;
  /** The member with this public key, if it is one. */
  member: (key: string) => ArbiterMember | undefined;
  /** Whether the arbiter finds this member healthy (reachable); its own key always is. */
  healthy: (key: string) => boolean;
  /**
   * Writes the record atomically; resolves once it is on disk. Calls must complete in the order
   * they were made (each record holds everything the ones before it did).
   */
  persist: (record: LeaseRecord) => Promise<void>;
  /** Sends an announcement to one member (by key) or, for null, to every member. */
  send: (to: string | null, msg: LeaseAnnouncement) => void;
  /** The record persisted before this start, if any. */
  restored?: LeaseRecord | null;
  /** Lease timing (defaults: {@link DEFAULT_LEASE_TIMING}). */
  timing?: Partial<LeaseTiming>;
  /** Most services with a lease or candidates at once. Default 256. */
  maxServices?: number;
  /** Most candidates waiting for one service's lease. Default 64. */
  maxCandidates?: number;
  /**
   * Grants one member may get: a second in the long run, and a burst (a node starting with
   * many services). Each grant is a write of the leader's state, so a member that asks and
   * releases in a loop must not keep its disk busy. Default `{ perSecond: 2, burst: 64 }`.
   */
  grantRate?: { perSecond: number; burst: number };
  /**
   * Asks one member may make for one service: a client asks every renew interval (2 s by
   * default), so more is an attempt to win by asking. Default `{ perSecond: 2, burst: 4 }`.
   */
  askRate?: { perSecond: number; burst: number };
  /** Grants and ends, one line each (rate-limited per service). */
  logger?: Logger;
}

/** One service's lease as the arbiter holds it. */
interface Lease {
  holder: string | null;
  token: number;
  expiresAt: number;
  /** The grant being persisted: nothing else is granted meanwhile. */
  pending: { holder: string; token: number } | null;
  /**
   * Candidates that asked while the lease was taken: their latest ask, when it came, and since
   * when they have been asking without a gap (the longest-standing one is granted next).
   */
  waiting: Map<string, { n: number; at: number; since: number }>;
}

/** Grants, renews and ends service leases. See the module docs. */
export class LeaseArbiter {
  readonly #deps: LeaseArbiterDeps;
  readonly #timing: LeaseTiming;
  readonly #maxServices: number;
  readonly #maxCandidates: number;
  readonly #leases = new Map<string, Lease>();
  readonly #logLimit = new RateLimiter({ perSecond: 1, burst: 5, maxEntries: 1024 });
  readonly #grantLimit: RateLimiter;
  // Asks per member and service: a holder renews every renewMs, a candidate asks as often.
  readonly #askLimit: RateLimiter;
  #last: number;
  #closed = false;
  /** The counters (read-only for callers). */
  readonly stats: ArbiterStats = {
    granted: 0,
    renewed: 0,
    released: 0,
    expired: 0,
    refused: {
      notMember: 0,
      notOffered: 0,
      unhealthy: 0,
      tooManyServices: 0,
      tooManyCandidates: 0,
      rateLimited: 0,
      askRate: 0,
    },
    staleReleases: 0,
    persistFailed: 0,
  };

  /** An arbiter; the holders of `deps.restored` hold their leases for one more full time. */
  constructor(deps: LeaseArbiterDeps) {
    this.#deps = deps;
    this.#timing = leaseTiming(deps.timing);
    this.#maxServices = deps.maxServices ?? 256;
    this.#maxCandidates = deps.maxCandidates ?? 64;
    this.#grantLimit = new RateLimiter({
      ...(deps.grantRate ?? { perSecond: 2, burst: 64 }),
      maxEntries: 4096,
      now: deps.now,
    });
    this.#askLimit = new RateLimiter({
      ...(deps.askRate ?? { perSecond: 2, burst: 4 }),
      maxEntries: 8192,
      now: deps.now,
    });
    const restored = deps.restored ?? null;
    this.#last = restored?.last ?? 0;
    const now = deps.now();
    for (const [s, h] of Object.entries(restored?.held ?? {})) {
      this.#leases.set(s, {
        holder: h.holder,
        token: h.token,
        expiresAt: now + this.#timing.ttlMs,
        pending: null,
        waiting: new Map(),
      });
    }
  }

  /** The timing in force. */
  get timing(): Readonly<LeaseTiming> {
    return this.#timing;
  }

  /** The highest token issued so far. */
  get lastToken(): number {
    return this.#last;
  }

  /** Handles a request from the member with key `from`. */
  handle(from: string, msg: LeaseRequest): void {
    if (this.#closed) return;
    if (msg.t === "lease-ask") this.#ask(from, msg.s, msg.n);
    else this.#release(from, msg.s, msg.tk);
  }

  /**
   * A member left on purpose (its bye): the leases it holds end now, and the next candidates
   * get them, rather than when they run out; it is no candidate any more.
   */
  withdraw(key: string): void {
    if (this.#closed) return;
    const now = this.#deps.now();
    for (const [s, lease] of this.#leases) {
      lease.waiting.delete(key);
      if (lease.holder !== key) continue;
      this.stats.released++;
      this.#end(s, lease, "left");
      this.#promote(s, lease, now);
    }
  }

  /** Ends the leases whose time is up and grants free ones to waiting candidates. */
  tick(): void {
    if (this.#closed) return;
    const now = this.#deps.now();
    for (const [s, lease] of this.#leases) {
      this.#expire(s, lease, now);
      this.#promote(s, lease, now);
      if (lease.holder === null && lease.pending === null && lease.waiting.size === 0) {
        this.#leases.delete(s);
      }
    }
  }

  /** The live leases as table rows (service, holder, token, ms left). */
  rows(): LeaseRow[] {
    const now = this.#deps.now();
    const rows: LeaseRow[] = [];
    for (const [s, l] of this.#leases) {
      if (l.holder !== null && l.expiresAt > now) {
        rows.push([s, l.holder, l.token, Math.floor(l.expiresAt - now)]);
      }
    }
    return rows;
  }

  /** The holder of a service's lease and its token, as the arbiter sees it now. */
  holder(service: string): { holder: string; token: number; leftMs: number } | null {
    const l = this.#leases.get(service);
    const now = this.#deps.now();
    if (!l || l.holder === null || l.expiresAt <= now) return null;
    return { holder: l.holder, token: l.token, leftMs: l.expiresAt - now };
  }

  /** Stops answering; grants being persisted are not announced. */
  close(): void {
    this.#closed = true;
  }

  #refusal(from: string, service: string): LeaseRefusal | null {
    const m = this.#deps.member(from);
    if (!m) return "notMember";
    const offered = m.services.filter((x) => x.name === service);
    if (offered.length === 0) return "notOffered";
    if (offered.some((x) => x.healthy === false)) return "unhealthy";
    return this.#deps.healthy(from) ? null : "unhealthy";
  }

  #ask(from: string, service: string, n: number): void {
    // Asking faster than a client renews wins nothing: the excess is not even looked at.
    if (!this.#askLimit.allow(`${from}\n${service}`)) {
      this.stats.refused.askRate++;
      return;
    }
    const now = this.#deps.now();
    let lease = this.#leases.get(service);
    const why = this.#refusal(from, service);
    if (why !== null) {
      this.stats.refused[why]++;
      if (lease) {
        lease.waiting.delete(from);
        this.#expire(service, lease, now);
        // Without `n`: a refused holder learns its lease is not renewed, nothing more.
        if (lease.holder !== null) this.#deps.send(from, this.#notice(service, lease, now));
      }
      return;
    }
    if (!lease) {
      if (this.#leases.size >= this.#maxServices) {
        this.stats.refused.tooManyServices++;
        return;
      }
      lease = { holder: null, token: 0, expiresAt: 0, pending: null, waiting: new Map() };
      this.#leases.set(service, lease);
    }
    this.#expire(service, lease, now);
    if (lease.holder === from) {
      // Any ask of the holder renews (it may have missed the grant's answer): its lease runs
      // from the moment it sent this ask, which is before now.
      lease.expiresAt = now + this.#timing.ttlMs;
      lease.waiting.delete(from);
      this.stats.renewed++;
      this.#deps.send(from, { ...this.#notice(service, lease, now), n });
      return;
    }
    if (lease.holder !== null || lease.pending !== null) {
      const was = lease.waiting.get(from);
      if (was === undefined && lease.waiting.size >= this.#maxCandidates) {
        this.stats.refused.tooManyCandidates++;
      } else lease.waiting.set(from, { n, at: now, since: was?.since ?? now });
      if (lease.holder !== null) this.#deps.send(from, { ...this.#notice(service, lease, now), n });
      return;
    }
    if (!this.#grantLimit.allow(from)) {
      // Asked again at its next round, it may get the lease then.
      this.stats.refused.rateLimited++;
      return;
    }
    void this.#grant(service, lease, from, n);
  }

  #release(from: string, service: string, token: number): void {
    const lease = this.#leases.get(service);
    if (!lease || lease.holder !== from || lease.token !== token) {
      this.stats.staleReleases++;
      return;
    }
    this.stats.released++;
    this.#end(service, lease, "released");
    this.#promote(service, lease, this.#deps.now());
  }

  /** Ends the lease if its time is up. */
  #expire(service: string, lease: Lease, now: number): void {
    if (lease.holder === null || now < lease.expiresAt) return;
    this.stats.expired++;
    this.#end(service, lease, "expired");
  }

  #end(service: string, lease: Lease, why: string): void {
    const holder = lease.holder!;
    lease.holder = null;
    this.#deps.send(null, { t: "lease", s: service, h: null, tk: lease.token, ttl: 0 });
    if (this.#logLimit.allow(service)) {
      this.#deps.logger?.info("service leader lease ended", {
        service,
        holder: this.#deps.member(holder)?.name ?? holder,
        // Not "token": the logger hides fields named so; a fencing token is no secret.
        fence: lease.token,
        why,
      });
    }
  }

  /**
   * Grants a free lease to the longest-standing candidate (asking, without a gap, since the
   * earliest), among those still fit: asking often or last wins nothing.
   */
  #promote(service: string, lease: Lease, now: number): void {
    const freshMs = 2 * this.#timing.renewMs + this.#timing.marginMs;
    let best: { key: string; n: number; since: number } | null = null;
    for (const [key, w] of lease.waiting) {
      if (now - w.at > freshMs || this.#refusal(key, service) !== null) {
        lease.waiting.delete(key);
      } else if (best === null || w.since < best.since) best = { key, n: w.n, since: w.since };
    }
    if (lease.holder !== null || lease.pending !== null || best === null) return;
    if (!this.#grantLimit.allow(best.key)) {
      this.stats.refused.rateLimited++;
      return;
    }
    void this.#grant(service, lease, best.key, best.n);
  }

  /** Persists a new token and the holders, then grants the lease and announces it. */
  async #grant(service: string, lease: Lease, holder: string, n: number): Promise<void> {
    const token = ++this.#last;
    lease.pending = { holder, token };
    lease.waiting.delete(holder);
    try {
      await this.#deps.persist(this.#record());
    } catch (e) {
      lease.pending = null;
      this.stats.persistFailed++;
      this.#deps.logger?.error("persisting a service lease failed: not granted", {
        service,
        error: String(e),
      });
      return;
    }
    lease.pending = null;
    if (this.#closed) return;
    // The lease runs from now: the holder counts it from when it sent its ask, before now.
    const now = this.#deps.now();
    lease.holder = holder;
    lease.token = token;
    lease.expiresAt = now + this.#timing.ttlMs;
    this.stats.granted++;
    const notice = this.#notice(service, lease, now);
    this.#deps.send(holder, { ...notice, n });
    this.#deps.send(null, notice);
    if (this.#logLimit.allow(service)) {
      this.#deps.logger?.info("service leader lease granted", {
        service,
        holder: this.#deps.member(holder)?.name ?? holder,
        fence: token,
      });
    }
  }

  /** What is persisted: the counter, and every holder and pending grant. */
  #record(): LeaseRecord {
    const held: LeaseRecord["held"] = {};
    for (const [s, l] of this.#leases) {
      if (l.pending !== null) held[s] = { ...l.pending };
      else if (l.holder !== null) held[s] = { token: l.token, holder: l.holder };
    }
    return { last: this.#last, held };
  }

  #notice(service: string, lease: Lease, now: number): LeaseNotice {
    return {
      t: "lease",
      s: service,
      h: lease.holder,
      tk: lease.token,
      // Rounded down: the receivers must never count more time than the arbiter does.
      ttl: Math.max(0, Math.floor(lease.expiresAt - now)),
    };
  }
}
