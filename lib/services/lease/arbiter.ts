/**
 * The arbiter of service leaders, run by every mesh leader: per service, at most one member
 * holds the lease at a time. A lease is granted to a candidate (a member that announces the
 * service, not as unhealthy, and that the arbiter finds healthy) when nobody holds it, renewed
 * by its holder's asks, given up by a release (a holder whose own health check of the service
 * fails), and ends when it is not renewed within its time. A lease that ended is granted to the
 * longest-standing candidate still asking, at once.
 *
 * The holders are kept in a {@link LeaseBook} (book.ts), written before a grant is answered:
 * - one leader: the leader's document ({@link DocumentBook}). Fencing tokens come from one
 *   counter for every service, persisted with the holders, so a restarted arbiter never issues a
 *   token again; and it takes every holder it finds there to hold its lease for one more full
 *   time (it may have been renewed just before the restart). The arbiter's clock ends leases.
 * - several leaders on a shared store (`KvLeaseBook`, kv_book.ts): the store holds each
 *   holder as a key bound to a store lease, tokens are the store's revisions, the store ends
 *   leases, and every arbiter follows the keys: grants made elsewhere and ends reach it as book
 *   changes. Renewals and releases are answered only once the store took them; a call the store
 *   refuses answers nothing (counted), as a grant not written grants nothing.
 *
 * Pure: the clock, the members, their health, the book and the sending are collaborators; the
 * owner calls {@link LeaseArbiter.start} once (a shared book starts following) and
 * {@link LeaseArbiter.tick} every few hundred ms (expiries, waiting candidates).
 * @module
 */

import type { Logger } from "../../log/logger.ts";
import { RateLimiter } from "../../protocol/ratelimiter.ts";
import {
  type LeaseAnnouncement,
  type LeaseNotice,
  type LeaseRequest,
  type LeaseRow,
  type LeaseTiming,
  leaseTiming,
} from "./protocol.ts";
import {
  type BookEntry,
  DocumentBook,
  type LeaseBook,
  type LeaseRecord,
  MAX_RECORD_SERVICES,
} from "./book.ts";

export { type LeaseRecord, leaseRecordProblem } from "./book.ts";

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
  /** Leases that ended without a renewal (shared book: ended in the store, not released here). */
  expired: number;
  /** Asks refused, by reason. */
  refused: Record<LeaseRefusal, number>;
  /** Releases of a lease the sender did not hold (late, or repeated). */
  staleReleases: number;
  /** Grants not made because the book could not be written (disk, store). */
  persistFailed: number;
  /** Renewals and releases not made because the store refused the call (shared book). */
  storeFailed: number;
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
   * Sends an announcement to one member (by key) or, for null, to every member; `holder`: the
   * member the announcement is about (its `h`, or for an end the one that held the lease), so
   * that views scoped by policy tell it only to the members that may know of that holder.
   */
  send: (to: string | null, msg: LeaseAnnouncement, holder?: string) => void;
  /**
   * The book of holders. Default: a {@link DocumentBook} over `persist` and `restored` (one
   * of the two is required).
   */
  book?: LeaseBook;
  /**
   * Without `book`: writes the record atomically; resolves once it is on disk. Calls must
   * complete in the order they were made (each record holds everything the ones before it did).
   */
  persist?: (record: LeaseRecord) => Promise<void>;
  /** Without `book`: the record persisted before this start, if any. */
  restored?: LeaseRecord | null;
  /** Lease timing (defaults: {@link DEFAULT_LEASE_TIMING}). */
  timing?: Partial<LeaseTiming>;
  /** Most services with a lease or candidates at once. Default 256. */
  maxServices?: number;
  /** Most candidates waiting for one service's lease. Default 64. */
  maxCandidates?: number;
  /**
   * Grants one member may get: a second in the long run, and a burst (a node starting with
   * many services). Each grant is a write of the book, so a member that asks and releases in
   * a loop must not keep its disk or store busy. Default `{ perSecond: 2, burst: 64 }`.
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
  /** The holder's store lease (shared book). */
  storeLease?: string;
  /** Until when this arbiter knows the lease runs (its grant, a renewal it made). */
  expiresAt: number;
  /** The book's revision of the state held (shared book: changes apply only forward). */
  rev: number;
  /** The holder a grant is being written for: nothing else is granted meanwhile. */
  pending: string | null;
  /** A renewal is with the store: asks meanwhile are answered by it. */
  renewing: boolean;
  /** No grant is tried before (a store that refused one). */
  retryAt: number;
  /**
   * Candidates that asked while the lease was taken: their latest ask, when it came, and since
   * when they have been asking without a gap (the longest-standing one is granted next).
   */
  waiting: Map<string, { n: number; at: number; since: number }>;
}

/** Grants, renews and ends service leases. See the module docs. */
export class LeaseArbiter {
  readonly #deps: LeaseArbiterDeps;
  readonly #book: LeaseBook;
  readonly #timing: LeaseTiming;
  readonly #maxServices: number;
  readonly #maxCandidates: number;
  readonly #leases = new Map<string, Lease>();
  readonly #logLimit = new RateLimiter({ perSecond: 1, burst: 5, maxEntries: 1024 });
  readonly #grantLimit: RateLimiter;
  // Asks per member and service: a holder renews every renewMs, a candidate asks as often.
  readonly #askLimit: RateLimiter;
  /** Releases with the store (`service\ntoken`): their ends are no expiries. */
  readonly #releasing = new Set<string>();
  #last = 0;
  #started = false;
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
    storeFailed: 0,
  };

  /** An arbiter; the holders the book restored hold their leases for one more full time. */
  constructor(deps: LeaseArbiterDeps) {
    this.#deps = deps;
    if (!deps.book && !deps.persist) throw new TypeError("a lease arbiter needs a book");
    this.#book = deps.book ??
      new DocumentBook({ persist: deps.persist!, restored: deps.restored ?? null });
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
    const book = this.#book;
    if (book instanceof DocumentBook) this.#last = book.last;
    const now = deps.now();
    for (const [s, h] of book.restored()) {
      const lease = this.#fresh();
      Object.assign(lease, {
        holder: h.holder,
        token: h.token,
        expiresAt: now + this.#timing.ttlMs,
      });
      this.#leases.set(s, lease);
      this.#last = Math.max(this.#last, h.token);
    }
  }

  /** The timing in force. */
  get timing(): Readonly<LeaseTiming> {
    return this.#timing;
  }

  /** The highest token issued (or, with a shared book, seen) so far. */
  get lastToken(): number {
    return this.#last;
  }

  /** The book the holders are kept in. */
  get book(): LeaseBook {
    return this.#book;
  }

  /** Starts following the book (a shared book: other leaders' grants, the store's expiries). */
  start(): void {
    if (this.#started || this.#closed) return;
    this.#started = true;
    this.#book.start((s, entry, revision) => this.#fromBook(s, entry, revision));
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
    for (const [s, lease] of this.#leases) {
      lease.waiting.delete(key);
      if (lease.holder === key) this.#end(s, lease, key, lease.token, "left");
    }
  }

  /** Ends the leases whose time is up and grants free ones to waiting candidates. */
  tick(): void {
    if (this.#closed) return;
    const now = this.#deps.now();
    for (const [s, lease] of this.#leases) {
      this.#expire(s, lease, now);
      this.#promote(s, lease, now);
      if (
        lease.holder === null && lease.pending === null && lease.waiting.size === 0 &&
        // A shared book's watch may still bring older changes: keep the revision until then.
        (!this.#book.shared || lease.rev <= this.#book.revision())
      ) {
        this.#leases.delete(s);
      }
    }
  }

  /** The live leases as table rows (service, holder, token, ms left). */
  rows(): LeaseRow[] {
    const now = this.#deps.now();
    const rows: LeaseRow[] = [];
    for (const [s, l] of this.#leases) {
      const left = this.#left(l, now);
      if (l.holder !== null && left > 0) rows.push([s, l.holder, l.token, left]);
    }
    return rows;
  }

  /** The holder of a service's lease and its token, as the arbiter sees it now. */
  holder(service: string): { holder: string; token: number; leftMs: number } | null {
    const l = this.#leases.get(service);
    if (!l || l.holder === null) return null;
    const left = this.#left(l, this.#deps.now());
    return left > 0 ? { holder: l.holder, token: l.token, leftMs: left } : null;
  }

  /** Stops answering and following the book; grants being written are not announced. */
  close(): void {
    this.#closed = true;
    this.#book.close();
  }

  #fresh(): Lease {
    return {
      holder: null,
      token: 0,
      expiresAt: 0,
      rev: 0,
      pending: null,
      renewing: false,
      retryAt: 0,
      waiting: new Map(),
    };
  }

  /**
   * The time a lease has left as this arbiter may say: until the end it knows of; past that,
   * for a lease renewed at another leader, two renewal intervals while the shared book's watch
   * runs (the key is still there, and its end reaches this arbiter when the store ends it).
   */
  #left(l: Lease, now: number): number {
    if (l.holder === null) return 0;
    if (l.expiresAt > now) return Math.floor(l.expiresAt - now);
    return this.#book.shared && this.#book.current()
      ? Math.min(this.#timing.ttlMs, 2 * this.#timing.renewMs)
      : 0;
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
    const why = this.#refusal(from, service);
    // No member, nothing told: an address no member holds (a host behind a subnet router may
    // send from any of a prefix's) gets no answer and no place in the limiter below.
    if (why === "notMember") {
      this.stats.refused.notMember++;
      return;
    }
    // Asking faster than a client renews wins nothing: the excess is not even looked at. Keyed
    // by member and a service it offers, or by member alone when refused, so that asks for
    // made-up names cannot fill the limiter and have honest renewals refused.
    if (!this.#askLimit.allow(why === null ? `${from}\n${service}` : from)) {
      this.stats.refused.askRate++;
      return;
    }
    const now = this.#deps.now();
    let lease = this.#leases.get(service);
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
      lease = this.#fresh();
      this.#leases.set(service, lease);
    }
    this.#expire(service, lease, now);
    if (lease.holder === from) {
      this.#renew(service, lease, from, n, now);
      return;
    }
    if (lease.holder !== null || lease.pending !== null || now < lease.retryAt) {
      this.#wait(lease, from, n, now);
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

  /** Puts a candidate in line (or refreshes its ask), within the bound. */
  #wait(lease: Lease, from: string, n: number, now: number): void {
    const was = lease.waiting.get(from);
    if (was === undefined && lease.waiting.size >= this.#maxCandidates) {
      this.stats.refused.tooManyCandidates++;
    } else lease.waiting.set(from, { n, at: now, since: was?.since ?? now });
  }

  /**
   * Any ask of the holder renews (it may have missed the grant's answer): its lease runs from
   * the moment it sent this ask, which is before the renewal. A shared book renews in the store
   * first, and only then is the holder answered.
   */
  #renew(service: string, lease: Lease, from: string, n: number, now: number): void {
    lease.waiting.delete(from);
    if (!this.#book.shared) {
      lease.expiresAt = now + this.#timing.ttlMs;
      this.stats.renewed++;
      this.#deps.send(from, { ...this.#notice(service, lease, now), n });
      return;
    }
    // One renewal at a time: the holder asks again within its renewal interval.
    if (lease.renewing) return;
    lease.renewing = true;
    const entry: BookEntry = {
      holder: from,
      token: lease.token,
      ...(lease.storeLease ? { lease: lease.storeLease } : {}),
    };
    this.#book.renew(service, entry).then((ok) => {
      lease.renewing = false;
      if (this.#closed) return;
      if (!ok) {
        // The store ended the lease: its watch brings the end; nothing is answered.
        return;
      }
      if (lease.holder !== from || lease.token !== entry.token) return;
      const t = this.#deps.now();
      lease.expiresAt = t + this.#timing.ttlMs;
      this.stats.renewed++;
      this.#deps.send(from, { ...this.#notice(service, lease, t), n });
    }, (e) => {
      lease.renewing = false;
      this.#storeFailed(service, "renewing", e);
    });
  }

  #storeFailed(service: string, what: string, e: unknown): void {
    this.stats.storeFailed++;
    if (this.#logLimit.allow(service)) {
      this.#deps.logger?.warn(`${what} a service lease failed: the store refused`, {
        service,
        error: String(e),
      });
    }
  }

  #release(from: string, service: string, token: number): void {
    const lease = this.#leases.get(service);
    if (lease && lease.holder === from && lease.token === token) {
      this.#end(service, lease, from, token, "released");
    } else if (this.#book.shared) {
      // This leader's view may lag the store's (the lease granted elsewhere just now): the
      // store checks the token and the holder.
      this.#end(service, lease ?? null, from, token, "released");
    } else this.stats.staleReleases++;
  }

  /**
   * Ends `holder`'s lease `token` (released, or its holder left): at once in the document; in a
   * shared book once the store deleted it. Then the next candidate gets it.
   */
  #end(
    service: string,
    lease: Lease | null,
    holder: string,
    token: number,
    why: "released" | "left",
  ): void {
    const entry: BookEntry = { holder, token };
    if (!this.#book.shared) {
      void this.#book.release(service, entry);
      this.stats.released++;
      this.#ended(service, lease!, why);
      this.#promote(service, lease!, this.#deps.now());
      return;
    }
    const id = `${service}\n${token}`;
    this.#releasing.add(id);
    this.#book.release(service, entry).then((revision) => {
      this.#releasing.delete(id);
      if (revision === null) {
        // A bye reaches every leader: the first one's delete wins, the others' find no key.
        if (why === "released") this.stats.staleReleases++;
        return;
      }
      this.stats.released++;
      this.#fromBook(service, null, revision, why);
    }, (e) => {
      this.#releasing.delete(id);
      this.#storeFailed(service, "releasing", e);
    });
  }

  /** Ends the lease if its time is up by this arbiter's clock (a shared book's store does). */
  #expire(service: string, lease: Lease, now: number): void {
    if (this.#book.shared || lease.holder === null || now < lease.expiresAt) return;
    this.stats.expired++;
    void this.#book.release(service, { holder: lease.holder, token: lease.token });
    this.#ended(service, lease, "expired");
  }

  /** The lease has no holder now: every member is told. */
  #ended(service: string, lease: Lease, why: string): void {
    const holder = lease.holder;
    if (holder === null) return;
    lease.holder = null;
    delete lease.storeLease;
    this.#deps.send(null, { t: "lease", s: service, h: null, tk: lease.token, ttl: 0 }, holder);
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
   * A change of the book (a shared one: another leader's grant, the store's expiry, or this
   * arbiter's own write coming back): applied when newer than what the lease holds.
   */
  #fromBook(
    service: string,
    entry: BookEntry | null,
    revision: number,
    why = "ended in the store",
  ): void {
    if (this.#closed) return;
    let lease = this.#leases.get(service);
    if (!lease) {
      if (entry === null || this.#leases.size >= MAX_RECORD_SERVICES) return;
      lease = this.#fresh();
      this.#leases.set(service, lease);
    }
    if (revision <= lease.rev) return;
    lease.rev = revision;
    const now = this.#deps.now();
    if (entry === null) {
      const mine = this.#releasing.has(`${service}\n${lease.token}`);
      if (lease.holder !== null && why === "ended in the store" && !mine) this.stats.expired++;
      this.#ended(service, lease, why);
      this.#promote(service, lease, now);
      return;
    }
    this.#last = Math.max(this.#last, entry.token);
    if (lease.holder === entry.holder && lease.token === entry.token) {
      if (entry.lease) lease.storeLease = entry.lease;
      return;
    }
    lease.holder = entry.holder;
    lease.token = entry.token;
    if (entry.lease) lease.storeLease = entry.lease;
    else delete lease.storeLease;
    lease.expiresAt = now + this.#timing.ttlMs;
    lease.waiting.delete(entry.holder);
    this.#deps.send(null, this.#notice(service, lease, now));
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
    if (now < lease.retryAt) return;
    if (!this.#grantLimit.allow(best.key)) {
      this.stats.refused.rateLimited++;
      return;
    }
    void this.#grant(service, lease, best.key, best.n);
  }

  /** Writes the grant to the book, then announces it (or learns who holds it instead). */
  async #grant(service: string, lease: Lease, holder: string, n: number): Promise<void> {
    lease.pending = holder;
    const since = lease.waiting.get(holder)?.since;
    lease.waiting.delete(holder);
    let out;
    try {
      out = await this.#book.grant(service, holder);
    } catch (e) {
      lease.pending = null;
      this.stats.persistFailed++;
      // A store that refused is not asked again at once (each ask would be a write).
      if (this.#book.shared) lease.retryAt = this.#deps.now() + this.#timing.renewMs;
      this.#deps.logger?.error("writing a service lease failed: not granted", {
        service,
        error: String(e),
      });
      return;
    }
    lease.pending = null;
    if (this.#closed) return;
    const now = this.#deps.now();
    if ("taken" in out) {
      // Another leader granted it first: the candidate waits, as it would have here.
      if (out.taken) this.#fromBook(service, out.taken, out.revision);
      lease.waiting.set(holder, { n, at: now, since: since ?? now });
      if (lease.holder === holder) this.#renew(service, lease, holder, n, now);
      else if (lease.holder !== null) {
        this.#deps.send(holder, { ...this.#notice(service, lease, now), n });
      }
      return;
    }
    const { token } = out.granted;
    this.#fromBook(service, out.granted, out.revision);
    if (lease.holder !== holder || lease.token !== token) return;
    // The lease runs from now: the holder counts it from when it sent its ask, before now.
    lease.expiresAt = now + this.#timing.ttlMs;
    this.stats.granted++;
    this.#deps.send(holder, { ...this.#notice(service, lease, now), n });
    if (this.#logLimit.allow(service)) {
      this.#deps.logger?.info("service leader lease granted", {
        service,
        holder: this.#deps.member(holder)?.name ?? holder,
        fence: token,
      });
    }
  }

  #notice(service: string, lease: Lease, now: number): LeaseNotice {
    return {
      t: "lease",
      s: service,
      h: lease.holder,
      tk: lease.token,
      // Rounded down: the receivers must never count more time than the arbiter does.
      ttl: this.#left(lease, now),
    };
  }
}
