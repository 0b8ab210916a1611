/**
 * A {@link KvStore} in memory with etcd's semantics, for tests and for one process: a global
 * revision raised by every write, keys with create and mod revisions, transactions, prefix
 * watches (delivered on a later microtask, as a network store's would be; from a past revision
 * within the last 1000) and leases that delete their keys when they run out on the store's clock:
 * at the next call, or at {@link MemoryKv.expire} (it sets no timer of its own: call it on an
 * interval for a store that must expire leases while idle). `failWith` makes every call fail as
 * an unreachable or quorum-less store would; `breakWatches` ends the watches with an error.
 * @module
 */

import type {
  Answer,
  Compare,
  KeySpec,
  KeyValue,
  KvStore,
  Lease,
  RangeAnswer,
  Txn,
  TxnAnswer,
  TxnOp,
  TxnResult,
  Watch,
  WatchEvent,
} from "./kv.ts";
import { StoreError } from "./kv.ts";

interface Watcher {
  spec: KeySpec;
  onEvents: (events: WatchEvent[], revision: number) => void;
  end: (e?: StoreError) => void;
}

interface MemoryLease {
  ttl: number;
  expiresAt: number;
  keys: Set<string>;
}

/** How many revisions' events are kept for watches that start in the past. */
const HISTORY = 1000;

const matches = (spec: KeySpec, key: string) =>
  spec.prefix ? key.startsWith(spec.key) : key === spec.key;

/** A key-value store in memory (see the module docs). */
export class MemoryKv implements KvStore {
  readonly #now: () => number;
  readonly #keys = new Map<string, KeyValue>();
  readonly #leases = new Map<string, MemoryLease>();
  readonly #watchers = new Set<Watcher>();
  readonly #history: { revision: number; events: WatchEvent[] }[] = [];
  #revision = 1;
  #nextLease = 1;
  /** When set, every call rejects with it (a partition, a lost quorum); null to heal. */
  failWith: StoreError | null = null;

  /** A store on the clock `now` (monotonic ms; default `performance.now`), at revision 1. */
  constructor(opts: { now?: () => number } = {}) {
    this.#now = opts.now ?? (() => performance.now());
  }

  /** The store's revision. */
  get revision(): number {
    return this.#revision;
  }

  /** Deletes the keys of every lease whose time is up (each call also does it first). */
  expire(): void {
    const now = this.#now();
    for (const [id, l] of this.#leases) {
      if (now < l.expiresAt) continue;
      this.#leases.delete(id);
      if (l.keys.size === 0) continue;
      const rev = ++this.#revision;
      const events = [...l.keys].flatMap((k) => this.#remove(k, rev));
      this.#notify(events, rev);
    }
  }

  /** Ends every watch with `error` (the stream broke), as a store going away does. */
  breakWatches(error = new StoreError("unreachable", "memory", "the watch stream broke")): void {
    for (const w of [...this.#watchers]) w.end(error);
  }

  get(key: string): Promise<Answer & { kv: KeyValue | null }> {
    return this.#run(() => {
      const kv = this.#keys.get(key);
      return { revision: this.#revision, kv: kv ? { ...kv } : null };
    });
  }

  range(prefix: string, limit = 0): Promise<RangeAnswer> {
    return this.#run(() => {
      const all = this.#select({ key: prefix, prefix: true });
      const kvs = limit > 0 ? all.slice(0, limit) : all;
      return { revision: this.#revision, kvs, more: kvs.length < all.length };
    });
  }

  put(key: string, value: string, lease?: string): Promise<Answer> {
    return this.#run(() => {
      this.#checkLease(lease);
      const rev = ++this.#revision;
      this.#notify([this.#put(key, value, lease, rev)], rev);
      return { revision: rev };
    });
  }

  delete(spec: KeySpec): Promise<Answer & { deleted: number }> {
    return this.#run(() => {
      const keys = this.#select(spec).map((kv) => kv.key);
      if (keys.length === 0) return { revision: this.#revision, deleted: 0 };
      const rev = ++this.#revision;
      this.#notify(keys.flatMap((k) => this.#remove(k, rev)), rev);
      return { revision: rev, deleted: keys.length };
    });
  }

  txn(txn: Txn): Promise<TxnAnswer> {
    return this.#run(() => {
      const succeeded = txn.compare.every((c) => this.#holds(c));
      const ops = succeeded ? txn.then : txn.otherwise ?? [];
      for (const op of ops) if (op.type === "put") this.#checkLease(op.lease);
      const writes = ops.some((op) =>
        op.type === "put" || (op.type === "delete" && this.#select(op).length > 0)
      );
      const rev = writes ? ++this.#revision : this.#revision;
      const events: WatchEvent[] = [];
      const results = ops.map((op) => this.#apply(op, rev, events));
      this.#notify(events, rev);
      return { revision: this.#revision, succeeded, results };
    });
  }

  watch(
    spec: KeySpec,
    fromRevision: number,
    onEvents: (events: WatchEvent[], revision: number) => void,
  ): Promise<Watch> {
    return this.#run(() => {
      const oldest = this.#history[0]?.revision ?? this.#revision + 1;
      if (fromRevision > 0 && fromRevision < oldest && fromRevision <= this.#revision) {
        // Only the last HISTORY revisions are kept: older ones are compacted, as in etcd.
        throw new StoreError("request", "memory", `compacted: watch again from ${oldest}`);
      }
      const past = fromRevision > 0 ? this.#history.filter((h) => h.revision >= fromRevision) : [];
      let end!: (e?: StoreError) => void;
      const closed = new Promise<void>((resolve, reject) => {
        end = (e) => {
          if (!this.#watchers.delete(w)) return;
          if (e) reject(e);
          else resolve();
        };
      });
      closed.catch(() => {});
      const w: Watcher = { spec: { ...spec }, onEvents, end: (e) => end(e) };
      this.#watchers.add(w);
      for (const h of past) this.#deliver(w, h.events, h.revision);
      return { cancel: () => w.end(), closed };
    });
  }

  grant(ttlSeconds: number): Promise<Lease> {
    return this.#run(() => {
      const id = String(this.#nextLease++);
      this.#leases.set(id, {
        ttl: ttlSeconds,
        expiresAt: this.#now() + ttlSeconds * 1000,
        keys: new Set(),
      });
      return { id, ttl: ttlSeconds };
    });
  }

  keepAlive(id: string): Promise<number> {
    return this.#run(() => {
      const l = this.#leases.get(id);
      if (!l) return 0;
      l.expiresAt = this.#now() + l.ttl * 1000;
      return l.ttl;
    });
  }

  revoke(id: string): Promise<void> {
    return this.#run(() => {
      const l = this.#leases.get(id);
      if (!l) throw new StoreError("request", "memory", "requested lease not found");
      this.#leases.delete(id);
      if (l.keys.size === 0) return;
      const rev = ++this.#revision;
      this.#notify([...l.keys].flatMap((k) => this.#remove(k, rev)), rev);
    });
  }

  close(): Promise<void> {
    for (const w of [...this.#watchers]) w.end();
    return Promise.resolve();
  }

  /** Runs `fn` after the expiries due, as one call: rejected while `failWith` is set. */
  #run<T>(fn: () => T): Promise<T> {
    if (this.failWith) return Promise.reject(this.failWith);
    try {
      this.expire();
      return Promise.resolve(fn());
    } catch (e) {
      return Promise.reject(e);
    }
  }

  #select(spec: KeySpec): KeyValue[] {
    return [...this.#keys.values()]
      .filter((kv) => matches(spec, kv.key))
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
      .map((kv) => ({ ...kv }));
  }

  #checkLease(lease: string | undefined): void {
    if (lease && !this.#leases.has(lease)) {
      throw new StoreError("request", "memory", "requested lease not found");
    }
  }

  #holds(c: Compare): boolean {
    const kv = this.#keys.get(c.key);
    const have: number | string = c.target === "value"
      ? kv?.value ?? ""
      : c.target === "lease"
      ? kv?.lease || "0"
      : c.target === "version"
      ? kv?.version ?? 0
      : c.target === "create"
      ? kv?.createRevision ?? 0
      : kv?.modRevision ?? 0;
    const want = typeof have === "number"
      ? Number(c.value)
      : c.target === "lease"
      ? String(c.value) || "0"
      : String(c.value);
    switch (c.op) {
      case "=":
        return have === want;
      case "!=":
        return have !== want;
      case "<":
        return have < want;
      case ">":
        return have > want;
    }
  }

  #apply(op: TxnOp, rev: number, events: WatchEvent[]): TxnResult {
    switch (op.type) {
      case "put":
        events.push(this.#put(op.key, op.value, op.lease, rev));
        return { type: "put" };
      case "delete": {
        const keys = this.#select(op).map((kv) => kv.key);
        for (const k of keys) events.push(...this.#remove(k, rev));
        return { type: "delete", deleted: keys.length };
      }
      case "get":
        return { type: "get", kvs: this.#select(op) };
    }
  }

  #put(key: string, value: string, lease: string | undefined, rev: number): WatchEvent {
    const was = this.#keys.get(key);
    if (was?.lease) this.#leases.get(was.lease)?.keys.delete(key);
    const kv: KeyValue = {
      key,
      value,
      createRevision: was?.createRevision ?? rev,
      modRevision: rev,
      version: (was?.version ?? 0) + 1,
      lease: lease ?? "",
    };
    this.#keys.set(key, kv);
    if (lease) this.#leases.get(lease)!.keys.add(key);
    return { type: "put", kv: { ...kv } };
  }

  #remove(key: string, rev: number): WatchEvent[] {
    const was = this.#keys.get(key);
    if (!was) return [];
    this.#keys.delete(key);
    if (was.lease) this.#leases.get(was.lease)?.keys.delete(key);
    const kv = { key, value: "", createRevision: 0, modRevision: rev, version: 0, lease: "" };
    return [{ type: "delete", kv }];
  }

  #notify(events: WatchEvent[], revision: number): void {
    if (events.length === 0) return;
    this.#history.push({ revision, events });
    if (this.#history.length > HISTORY) this.#history.shift();
    for (const w of this.#watchers) this.#deliver(w, events, revision);
  }

  /** Gives a watcher its share of one revision's events, on a later microtask. */
  #deliver(w: Watcher, events: WatchEvent[], revision: number): void {
    const mine = events.filter((e) => matches(w.spec, e.kv.key)).map((e) => ({
      type: e.type,
      kv: { ...e.kv },
    }));
    if (mine.length === 0) return;
    queueMicrotask(() => {
      if (this.#watchers.has(w)) w.onEvents(mine, revision);
    });
  }
}
