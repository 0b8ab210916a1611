/**
 * The book of service-lease holders in a key-value store shared by several leaders (etcd; see
 * docs/design/service-leases.md). Each service's holder is one key, `<prefix>service-leases/<service>`
 * = `{"holder": <public key>}`, bound to a store lease of the lease time:
 *
 * - grant: a fresh store lease, then one transaction that puts the key only if it is absent
 *   (create revision 0). The fencing token is the revision that transaction committed (the key's
 *   create revision): the store's revisions only increase, so tokens do, across every leader.
 * - renew: a keep-alive of the key's store lease, then a read that the key still names the
 *   holder under that token and lease. Any leader can renew: the member may have moved.
 * - release: a transaction deleting the key if it still has that token and holder.
 * - expiry: the store deletes the key when its lease runs out; every leader's watch on the
 *   prefix sees it.
 *
 * The book follows the prefix (a range, then a watch from the revision after it; again after a
 * failure, with a pause) and reports every change to the arbiter. A call the store refuses
 * rejects with its StoreError: nothing is answered from memory.
 * @module
 */

import type { Logger } from "../../log/logger.ts";
import type { KeyValue, KvStore, Watch, WatchEvent } from "../../store/kv.ts";
import { serviceNameProblem } from "../../members/services.ts";
import {
  type BookEntry,
  type BookListener,
  type GrantOutcome,
  type LeaseBook,
  MAX_RECORD_SERVICES,
} from "./book.ts";
import { isKeyText } from "./protocol.ts";

/** The folder of the lease keys under weft's prefix. */
export const LEASE_KEYS = "service-leases/";

/** What the book works with. */
export interface KvLeaseBookDeps {
  /** The store. */
  store: KvStore;
  /** weft's prefix in it (`/weft/`). */
  prefix: string;
  /** The lease time, ms: store leases last at least this (rounded up to whole seconds). */
  ttlMs: number;
  /** The pause before following again after the watch failed, ms (default 1000). */
  retryMs?: number;
  /** Watch failures and keys that do not parse, one line each (rate-limited by streak). */
  logger?: Logger;
}

/** The holders of service leases in a shared key-value store. See the module docs. */
export class KvLeaseBook implements LeaseBook {
  readonly shared = true;
  readonly #store: KvStore;
  readonly #dir: string;
  readonly #ttlSeconds: number;
  readonly #retryMs: number;
  readonly #logger: Logger | undefined;
  /** The holders as last followed, by service (to report what a reload finds gone). */
  readonly #known = new Map<string, BookEntry>();
  #onChange: BookListener = () => {};
  #watch: Watch | null = null;
  #current = false;
  #revision = 0;
  #closed = false;
  #wake: (() => void) | null = null;
  /** Keys under the prefix that are no lease record (written by something else), ignored. */
  malformed = 0;

  /** A book over `deps.store`; `start` follows it. */
  constructor(deps: KvLeaseBookDeps) {
    this.#store = deps.store;
    this.#dir = deps.prefix + LEASE_KEYS;
    // etcd's leases are whole seconds; longer than the holder counts is the safe side.
    this.#ttlSeconds = Math.max(1, Math.ceil(deps.ttlMs / 1000));
    this.#retryMs = deps.retryMs ?? 1000;
    this.#logger = deps.logger;
  }

  restored(): ReadonlyMap<string, BookEntry> {
    return new Map();
  }

  start(onChange: BookListener): void {
    this.#onChange = onChange;
    void this.#follow();
  }

  current(): boolean {
    return this.#current;
  }

  revision(): number {
    return this.#revision;
  }

  async grant(service: string, holder: string): Promise<GrantOutcome> {
    const key = this.#dir + service;
    const lease = await this.#store.grant(this.#ttlSeconds);
    try {
      const a = await this.#store.txn({
        compare: [{ key, target: "create", op: "=", value: 0 }],
        then: [{ type: "put", key, value: holderValue(holder), lease: lease.id }],
        otherwise: [{ type: "get", key }],
      });
      if (a.succeeded) {
        return { granted: { holder, token: a.revision, lease: lease.id }, revision: a.revision };
      }
      this.#revoke(lease.id);
      const got = a.results[0];
      const kv = got?.type === "get" ? got.kvs[0] : undefined;
      return { taken: kv ? this.#entry(kv) : null, revision: a.revision };
    } catch (e) {
      // The put may have been applied before the answer was lost: the lease takes it away.
      this.#revoke(lease.id);
      throw e;
    }
  }

  async renew(service: string, entry: BookEntry): Promise<boolean> {
    if (!entry.lease) return false;
    const left = await this.#store.keepAlive(entry.lease);
    if (left <= 0) return false;
    // Renewed, and the key still there afterwards: it lives at least the lease time from now,
    // unless its holder releases it.
    const { kv } = await this.#store.get(this.#dir + service);
    if (!kv) return false;
    const now = this.#entry(kv);
    return now !== null && now.holder === entry.holder && now.token === entry.token &&
      now.lease === entry.lease;
  }

  async release(service: string, entry: BookEntry): Promise<number | null> {
    const key = this.#dir + service;
    const a = await this.#store.txn({
      compare: [
        { key, target: "create", op: "=", value: entry.token },
        { key, target: "value", op: "=", value: holderValue(entry.holder) },
      ],
      then: [{ type: "delete", key }],
    });
    if (!a.succeeded) return null;
    if (entry.lease) this.#revoke(entry.lease);
    return a.revision;
  }

  close(): void {
    this.#closed = true;
    this.#current = false;
    this.#watch?.cancel();
    this.#wake?.();
  }

  /** Revokes a store lease no key needs, best effort (it runs out by itself anyway). */
  #revoke(id: string): void {
    this.#store.revoke(id).catch(() => {});
  }

  /** The entry a key holds, or null (counted) for a key that is no lease record. */
  #entry(kv: KeyValue): BookEntry | null {
    let holder: unknown;
    try {
      holder = (JSON.parse(kv.value) as { holder?: unknown })?.holder;
    } catch { /* below */ }
    if (!isKeyText(holder) || kv.createRevision < 1) {
      this.malformed++;
      return null;
    }
    return { holder, token: kv.createRevision, ...(kv.lease ? { lease: kv.lease } : {}) };
  }

  /** The service a key is the lease of, or null. */
  #service(key: string): string | null {
    const s = key.slice(this.#dir.length);
    return key.startsWith(this.#dir) && serviceNameProblem(s) === undefined ? s : null;
  }

  /** Loads the keys and watches them, again after every failure, until closed. */
  async #follow(): Promise<void> {
    let failing = false;
    while (!this.#closed) {
      try {
        const r = await this.#store.range(this.#dir);
        if (this.#closed) return;
        this.#load(r.kvs, r.revision);
        const w = await this.#store.watch(
          { key: this.#dir, prefix: true },
          r.revision + 1,
          (events, revision) => this.#events(events, revision),
        );
        if (this.#closed) {
          w.cancel();
          return;
        }
        this.#watch = w;
        this.#current = true;
        if (failing) this.#logger?.info("service leases: following the store again");
        failing = false;
        await w.closed;
      } catch (e) {
        this.#current = false;
        if (this.#closed) return;
        if (!failing) {
          this.#logger?.warn("service leases: the store's watch failed; retrying", {
            error: String(e),
          });
        }
        failing = true;
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, this.#retryMs);
          this.#wake = () => {
            clearTimeout(t);
            resolve();
          };
        });
        this.#wake = null;
      }
    }
  }

  /** Takes a whole range: every key it holds, and the ones known before that went. */
  #load(kvs: KeyValue[], revision: number): void {
    const seen = new Set<string>();
    for (const kv of kvs) {
      const s = this.#service(kv.key);
      const e = s === null ? null : this.#entry(kv);
      if (s === null || e === null) continue;
      seen.add(s);
      this.#set(s, e, revision);
    }
    for (const s of [...this.#known.keys()]) if (!seen.has(s)) this.#set(s, null, revision);
    this.#revision = Math.max(this.#revision, revision);
  }

  #events(events: WatchEvent[], revision: number): void {
    for (const ev of events) {
      const s = this.#service(ev.kv.key);
      if (s === null) continue;
      const e = ev.type === "put" ? this.#entry(ev.kv) : null;
      this.#set(s, e, ev.kv.modRevision);
    }
    this.#revision = Math.max(this.#revision, revision);
  }

  #set(service: string, entry: BookEntry | null, revision: number): void {
    if (entry === null) {
      if (!this.#known.delete(service)) return;
    } else {
      if (!this.#known.has(service) && this.#known.size >= MAX_RECORD_SERVICES) {
        this.malformed++;
        return;
      }
      this.#known.set(service, entry);
    }
    this.#onChange(service, entry, revision);
  }
}

function holderValue(holder: string): string {
  return JSON.stringify({ holder });
}
