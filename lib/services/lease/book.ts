/**
 * The book of service-lease holders the arbiter (arbiter.ts) keeps its grants in. Two backings:
 *
 * - {@link DocumentBook}: one leader. The fencing counter and the holders are a record in the
 *   leader's document (`LeaderFile.leases`), written before a grant is answered; renewals,
 *   releases and expiries are the arbiter's own (its clock ends leases), kept in memory until
 *   the next grant writes the record again.
 * - `KvLeaseBook` (kv_book.ts): several leaders sharing a key-value store (etcd). The store is
 *   the arbiter of record: a holder is a key bound to a store lease, the store ends it, and
 *   every leader follows the keys (docs/design/service-leases.md).
 * @module
 */

import { serviceNameProblem } from "../../members/services.ts";
import { isKeyText } from "./protocol.ts";

/** One lease as a book holds it. */
export interface BookEntry {
  /** The holder's public key. */
  holder: string;
  /** The fencing token. */
  token: number;
  /** The store's lease the holder's key is bound to (shared books). */
  lease?: string;
}

/** What a grant did: granted, or (shared books) the lease was taken already, by `taken`. */
export type GrantOutcome =
  | { granted: BookEntry; revision: number }
  | { taken: BookEntry | null; revision: number };

/**
 * A change of one service's lease that the book saw (another leader's grant, an expiry): the
 * entry now (null: no holder), at the book's `revision` (changes apply only forward).
 */
export type BookListener = (service: string, entry: BookEntry | null, revision: number) => void;

/** A book of lease holders (see the module docs). */
export interface LeaseBook {
  /**
   * Whether the book is shared with other arbiters: then it, not the arbiter's clock, ends
   * leases, and renewals and releases are answered only once it took them. A book that is not
   * shared updates itself within each call; the arbiter does not wait for it.
   */
  readonly shared: boolean;
  /** The holders the book held before this start (they keep their leases a full time more). */
  restored(): ReadonlyMap<string, BookEntry>;
  /** Follows the changes made elsewhere (a shared book), reporting them to `onChange`. */
  start(onChange: BookListener): void;
  /** Whether the book's view of the holders is current (a shared book's watch runs). */
  current(): boolean;
  /** The newest revision the book followed up to (0 for a book that is not shared). */
  revision(): number;
  /** Grants `service` to `holder` when free; rejects (StoreError, disk) when nothing was written. */
  grant(service: string, holder: string): Promise<GrantOutcome>;
  /** Renews the holder's lease: true when it still held it and it was renewed. */
  renew(service: string, entry: BookEntry): Promise<boolean>;
  /** Ends the lease if `entry` still holds it: the revision of the end, or null when it did not. */
  release(service: string, entry: BookEntry): Promise<number | null>;
  /** Stops following. */
  close(): void;
}

/** What is persisted in the leader's document: the highest token issued, and who holds which lease. */
export interface LeaseRecord {
  /** The highest fencing token issued (to any service). */
  last: number;
  /** The holders when this was written, by service. */
  held: Record<string, { token: number; holder: string }>;
}

/** Most services a record may name (records are written by the arbiter, bounded by it). */
export const MAX_RECORD_SERVICES = 4096;

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

/**
 * The book in the leader's document: tokens from one counter, and the record (counter and
 * holders) written by `persist` before a grant is answered, so a restarted leader never issues
 * a token again. Calls to `persist` complete in order (each record holds what the ones before
 * it did).
 */
export class DocumentBook implements LeaseBook {
  readonly shared = false;
  readonly #persist: (record: LeaseRecord) => Promise<void>;
  readonly #restored: ReadonlyMap<string, BookEntry>;
  readonly #held = new Map<string, BookEntry>();
  #last: number;

  /** A book over `persist`, holding what `restored` (the record persisted before) held. */
  constructor(deps: {
    persist: (record: LeaseRecord) => Promise<void>;
    restored?: LeaseRecord | null;
  }) {
    this.#persist = deps.persist;
    this.#last = deps.restored?.last ?? 0;
    for (const [s, h] of Object.entries(deps.restored?.held ?? {})) {
      this.#held.set(s, { holder: h.holder, token: h.token });
    }
    this.#restored = new Map(this.#held);
  }

  /** The highest token issued. */
  get last(): number {
    return this.#last;
  }

  restored(): ReadonlyMap<string, BookEntry> {
    return this.#restored;
  }

  start(): void {}

  current(): boolean {
    return true;
  }

  revision(): number {
    return 0;
  }

  /** Takes the next token and writes the record with it; the grant counts once written. */
  async grant(service: string, holder: string): Promise<GrantOutcome> {
    const token = ++this.#last;
    const entry = { holder, token };
    this.#held.set(service, entry);
    try {
      await this.#persist(this.#record());
    } catch (e) {
      // The token stays used: the next grant's is higher whatever the disk holds.
      if (this.#held.get(service) === entry) this.#held.delete(service);
      throw e;
    }
    return { granted: { ...entry }, revision: token };
  }

  /** Always: the arbiter's clock keeps the time of a lease in this book. */
  renew(): Promise<boolean> {
    return Promise.resolve(true);
  }

  /** Forgets the holder now (the next grant's record leaves it out). */
  release(service: string, entry: BookEntry): Promise<number | null> {
    if (this.#held.get(service)?.token !== entry.token) return Promise.resolve(null);
    this.#held.delete(service);
    return Promise.resolve(entry.token);
  }

  close(): void {}

  #record(): LeaseRecord {
    const held: LeaseRecord["held"] = {};
    for (const [s, e] of this.#held) held[s] = { token: e.token, holder: e.holder };
    return { last: this.#last, held };
  }
}
