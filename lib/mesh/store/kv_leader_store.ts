/**
 * The leader's document in a key-value store (etcd), shared by the leaders that use one prefix
 * (docs/design/leader-store.md): one key per member, address, token and record under
 * `prefix + "state/"`; a commit is one transaction on `meta`'s mod revision (its revision), new
 * `alloc/` keys required absent; a watch applies each revision's events to the newest document
 * this store knows. A watch that fails (the store went away, lost quorum, compacted) loads again
 * and watches again by itself, so a leader resumes once the store is back. {@link
 * KvLeaderStore.health} says how the last calls and a light periodic probe went. When any call
 * fails (the probe first, when the store is cut off and its watch stream merely goes quiet) the
 * watches are dropped and retried from a load; when a call succeeds again the retries waiting
 * go at once: a leader cut off from its store catches up as soon as the store answers, not when
 * a silent stream's connection happens to resume.
 * @module
 */

import type { LeaderFile } from "../state/state.ts";
import type { LeaderStore, StoreHealth, StoreSnapshot } from "./store.ts";
import { type KvStore, StoreError, type TxnOp, type WatchEvent } from "../../store/kv.ts";
import {
  applyKeyChanges,
  diffKeys,
  fromKeys,
  type KeyChanges,
  keyChanges,
  type KeyValues,
  META_KEY,
  metaValue,
  toKeys,
} from "./keys.ts";
import { docAfterChanges, type KeyChange } from "./key_updates.ts";
import { DEFAULT_STORE_PREFIX } from "./prefix.ts";

export { DEFAULT_STORE_PREFIX } from "./prefix.ts";

/** Options of {@link KvLeaderStore}. */
export interface KvLeaderStoreOptions {
  /** The prefix of weft's keys (default `/weft/`); the document is under `prefix + "state/"`. */
  prefix?: string;
  /** The store's name in messages and health (`etcd://127.0.0.1:2379`; default `kv`). */
  name?: string;
  /** How often the store is probed for health, ms (default 2000; 0: never). */
  probeMs?: number;
  /** The first pause before a failed watch is tried again, ms (default 200; doubles to 2 s). */
  retryMs?: number;
  /** The most operations the store takes in one transaction (default 128, etcd's default). */
  maxTxnOps?: number;
  /** Called when the store starts failing and when it answers again (for one log line each). */
  onHealth?: (h: StoreHealth) => void;
}

/** The newest document this store knows, as keys, and its revision. */
interface Cached {
  keys: KeyValues;
  revision: number;
  /**
   * The document at `revision` as the leader holds it (the one it committed, or this store
   * reported), when known: a batch's copy of it is compared with it record by record (a commit
   * costs what it changed), never the whole document turned into keys again.
   */
  doc: LeaderFile | null;
}

/** A commit under way: the keys it writes (null: deletes), to know it when the watch brings it. */
interface Pending {
  base: number;
  writes: Map<string, string | null>;
  changes: KeyChanges;
  doc: LeaderFile;
}

const MAX_RETRY_MS = 2000;

// The keys one change may put or delete (a join: its member, its address, its join record, the
// token's uses) and the transaction's own (meta; the slack is for edits that touch a few more).
const OPS_PER_CHANGE = 4;
const OPS_SLACK = 8;

/** The leader's document in a {@link KvStore} (see the module docs). */
export class KvLeaderStore implements LeaderStore {
  /** The key-value store and weft's prefix in it (service leases live beside the document). */
  readonly kv: { store: KvStore; prefix: string };
  /** `the state in <name> under <prefix>`. */
  readonly where: string;
  readonly #store: KvStore;
  readonly #root: string;
  readonly #name: string;
  readonly #retryMs: number;
  readonly #maxOps: number;
  /** How many changes one commit carries, so that its transaction stays within the store's bound. */
  readonly maxChangesPerCommit: number;
  readonly #onHealth: ((h: StoreHealth) => void) | undefined;
  #cache: Cached | null = null;
  #pending: Pending | null = null;
  #health: StoreHealth;
  #probe: ReturnType<typeof setInterval> | undefined;
  #probing = false;
  #closed = false;
  readonly #stops = new Set<() => void>();
  // Each watch's hooks for the store's health changing: drop its stream, or end its pause.
  readonly #kicks = new Set<{ failed(): void; back(): void }>();

  /** A store of the document in `kv` under `prefix + "state/"`; the probe starts at once. */
  constructor(kv: KvStore, opts: KvLeaderStoreOptions = {}) {
    const prefix = opts.prefix ?? DEFAULT_STORE_PREFIX;
    this.#store = kv;
    this.kv = { store: kv, prefix };
    this.#root = prefix + "state/";
    this.#name = opts.name ?? "kv";
    this.#retryMs = opts.retryMs ?? 200;
    this.#maxOps = Math.max(opts.maxTxnOps ?? 128, OPS_PER_CHANGE + OPS_SLACK);
    this.maxChangesPerCommit = Math.floor((this.#maxOps - OPS_SLACK) / OPS_PER_CHANGE);
    this.#onHealth = opts.onHealth;
    this.where = `the state in ${this.#name} under ${prefix}`;
    this.#health = {
      store: this.#name,
      where: this.where,
      ok: true,
      revision: 0,
      since: Date.now(),
    };
    const probeMs = opts.probeMs ?? 2000;
    if (probeMs > 0) {
      const probe = setInterval(() => this.#probeOnce(), probeMs);
      Deno.unrefTimer(probe);
      this.#probe = probe;
    }
  }

  /** How the store answered last: ok, or the error of the last failed call (and since when). */
  health(): StoreHealth {
    return { ...this.#health, revision: this.#cache?.revision ?? this.#health.revision };
  }

  /** One range over the document's keys: the document at `meta`'s mod revision, or null. */
  async load(): Promise<StoreSnapshot | null> {
    const a = await this.#call(() => this.#store.range(this.#root));
    // By creation, so members and tokens keep the order they were added in.
    const kvs = [...a.kvs].sort((x, y) => x.createRevision - y.createRevision);
    const keys: KeyValues = new Map();
    let revision = 0;
    for (const kv of kvs) {
      const k = kv.key.slice(this.#root.length);
      keys.set(k, kv.value);
      if (k === META_KEY) revision = kv.modRevision;
    }
    if (keys.size === 0) {
      // The prefix was emptied (or never held a document): nothing to diff a commit against.
      if (!this.#cache || a.revision >= this.#cache.revision) this.#cache = null;
      return null;
    }
    const data = fromKeys(keys, this.where);
    // The caller takes this document in (a leader after a lost commit): its next commit is a
    // copy of it.
    if (!this.#cache || revision >= this.#cache.revision) {
      this.#cache = { keys, revision, doc: data };
    }
    return { data, revision };
  }

  /**
   * One transaction: the keys that differ from the document at `base` and `meta`, if `meta` is
   * still at `base` and every new address is free. A `base` older than the newest document this
   * store knows cannot win: null at once. When `next` is a batch's copy of the document at
   * `base` ({@link keyChanges}) the keys come from what the batch changed, and the store's keys
   * are updated in place once it wins; otherwise the whole document is compared.
   */
  async commit(next: LeaderFile, base: number): Promise<number | null> {
    const cache = this.#cache;
    if ((cache?.revision ?? 0) !== base) return null;
    let after: KeyValues | null = null;
    let changes = cache?.doc ? keyChanges(cache.doc, next, cache.keys) : null;
    if (changes === null) {
      after = toKeys(next);
      changes = diffKeys(cache?.keys ?? new Map(), after);
    }
    const ops: TxnOp[] = [];
    const writes = new Map<string, string | null>();
    for (const [k, v] of changes.put) {
      ops.push({ type: "put", key: this.#root + k, value: v });
      writes.set(k, v);
    }
    // Every commit writes meta, so its mod revision is the document's revision.
    if (!writes.has(META_KEY)) {
      const meta = metaValue(next);
      changes.put.push([META_KEY, meta]);
      ops.push({ type: "put", key: this.#root + META_KEY, value: meta });
      writes.set(META_KEY, meta);
    }
    for (const k of changes.delete) {
      ops.push({ type: "delete", key: this.#root + k });
      writes.set(k, null);
    }
    if (ops.length > this.#maxOps) {
      // Only a whole document written into an empty prefix (a migration) is this large.
      if (cache !== null || base !== 0) {
        throw new StoreError(
          "request",
          this.#name,
          `one change needs ${ops.length} operations, more than the ${this.#maxOps} a ` +
            "transaction takes",
        );
      }
      return await this.#commitLarge(ops, after ?? toKeys(next), next);
    }
    const pending: Pending = { base, writes, changes, doc: next };
    this.#pending ??= pending;
    const a = await this.#call(() =>
      this.#store.txn({
        compare: [
          { key: this.#root + META_KEY, target: "mod", op: "=", value: base },
          ...changes.created.filter((k) => k.startsWith("alloc/")).map((k) => ({
            key: this.#root + k,
            target: "create" as const,
            op: "=" as const,
            value: 0,
          })),
        ],
        then: ops,
      })
    ).finally(() => {
      if (this.#pending === pending) this.#pending = null;
    });
    if (!a.succeeded) return null;
    this.#won(base, a.revision, changes, after, next);
    return a.revision;
  }

  /**
   * Makes the cache the document `next` committed at `revision` on `base`, with the keys that
   * changed (`after`: all of them, when the whole document was compared), unless the cache knows
   * a later one already (the watch brought it).
   */
  #won(
    base: number,
    revision: number,
    changes: KeyChanges,
    after: KeyValues | null,
    next: LeaderFile,
  ): void {
    const c = this.#cache;
    if (c && c.revision === base) {
      if (after) c.keys = after;
      else applyKeyChanges(c.keys, changes);
      c.revision = revision;
      c.doc = next;
    } else if (c && c.revision === revision) {
      // The watch brought this commit first: the leader holds `next`, the same document.
      c.doc = next;
    } else if (!c || revision > c.revision) {
      this.#cache = { keys: after ?? toKeys(next), revision, doc: next };
    }
  }

  /**
   * Writes a whole document into an empty prefix in several transactions, `meta` last: each
   * requires that no document exists yet, and a reader sees no document until `meta` is there.
   * The prefix must not be used by a leader meanwhile (a migration checks it is empty first).
   */
  async #commitLarge(ops: TxnOp[], after: KeyValues, next: LeaderFile): Promise<number | null> {
    const metaKey = this.#root + META_KEY;
    const noDocument = { key: metaKey, target: "create" as const, op: "=" as const, value: 0 };
    const rest = ops.filter((o) => o.type !== "put" || o.key !== metaKey);
    const meta = ops.find((o) => o.type === "put" && o.key === metaKey)!;
    const chunk = this.#maxOps - 1;
    for (let i = 0; i < rest.length; i += chunk) {
      const part = rest.slice(i, i + chunk);
      const a = await this.#call(() => this.#store.txn({ compare: [noDocument], then: part }));
      if (!a.succeeded) return null;
    }
    const a = await this.#call(() => this.#store.txn({ compare: [noDocument], then: [meta] }));
    if (!a.succeeded) return null;
    if (!this.#cache || a.revision > this.#cache.revision) {
      this.#cache = { keys: after, revision: a.revision, doc: next };
    }
    return a.revision;
  }

  /**
   * Watches the document's keys from `from + 1`, reporting the document after each batch of
   * revisions; when the watch fails it loads again (reporting a newer document) and watches on
   * from there, pausing between tries, until stopped.
   */
  watch(from: number, onChange: (s: StoreSnapshot) => void): () => void {
    let stopped = false;
    let current: { cancel(): void } | null = null;
    let reported = from;
    let wake: (() => void) | null = null;
    // The store failed elsewhere: the stream may only have gone quiet (a cut link), so it is
    // dropped and the loop loads and watches again once the store answers.
    let dropped = false;
    const kick = {
      failed: () => {
        if (!current) return;
        dropped = true;
        current.cancel();
      },
      back: () => wake?.(),
    };
    const stop = () => {
      stopped = true;
      current?.cancel();
      wake?.();
      this.#stops.delete(stop);
      this.#kicks.delete(kick);
    };
    this.#stops.add(stop);
    this.#kicks.add(kick);
    const report = (s: StoreSnapshot | null) => {
      if (stopped || !s || s.revision <= reported) return;
      reported = s.revision;
      onChange(s);
    };
    const pause = (ms: number) =>
      new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          wake = null;
          resolve();
        }, ms);
        wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    (async () => {
      let at = from;
      let retry = this.#retryMs;
      let failed = false;
      while (!stopped) {
        try {
          if (failed) {
            // What changed while the watch was down (or compacted away) comes from a load.
            const s = await this.load();
            report(s);
            at = Math.max(at, s?.revision ?? 0);
            if (stopped) break;
          }
          const w = await this.#store.watch(
            { key: this.#root, prefix: true },
            at + 1,
            (events, revision) => {
              const s = this.#apply(events);
              if (s) report(s);
              at = Math.max(at, revision);
            },
          );
          current = w;
          if (stopped) w.cancel();
          this.#ok();
          retry = this.#retryMs;
          failed = false;
          await w.closed;
          current = null;
          if (!dropped) return; // cancelled
          dropped = false;
          failed = true;
        } catch (e) {
          current = null;
          dropped = false;
          if (stopped) return;
          this.#failed(e);
          failed = true;
          await pause(retry);
          retry = Math.min(retry * 2, MAX_RETRY_MS);
        }
      }
    })();
    return stop;
  }

  /** Stops the probe and every watch (the key-value store itself is the caller's to close). */
  close(): void {
    this.#closed = true;
    if (this.#probe !== undefined) clearInterval(this.#probe);
    this.#probe = undefined;
    for (const stop of [...this.#stops]) stop();
  }

  /**
   * Applies watched events to the cached document, revision by revision, skipping revisions it
   * already has; the document after them, or null when nothing was new. The events of this
   * store's commit under way (they may come before its answer) are its document; another
   * leader's commit is applied to the cached document by what it changed (./key_updates.ts).
   * Only what that cannot follow (no document cached, events out of order, anything but a
   * leader's commit) is parsed again from every key.
   */
  #apply(events: WatchEvent[]): StoreSnapshot | null {
    const cache = this.#cache;
    if (!cache) return null;
    // Events come in revision order; those at or below the cache's revision are in it already.
    const base = cache.revision;
    const fresh = events.filter((e) => e.kv.modRevision > base);
    if (fresh.length === 0) return null;
    const revision = fresh[fresh.length - 1].kv.modRevision;
    const own = this.#pending;
    if (own && own.base === base && this.#isCommit(fresh, own.writes)) {
      applyKeyChanges(cache.keys, own.changes);
      cache.revision = revision;
      cache.doc = own.doc;
      return { data: own.doc, revision };
    }
    // The document and its keys move together, one revision (one commit) at a time.
    let doc = cache.doc;
    for (let i = 0; i < fresh.length;) {
      const at = fresh[i].kv.modRevision;
      const changes: KeyChange[] = [];
      for (; i < fresh.length && fresh[i].kv.modRevision === at; i++) {
        const e = fresh[i];
        changes.push([e.kv.key.slice(this.#root.length), e.type === "delete" ? null : e.kv.value]);
      }
      if (i < fresh.length && fresh[i].kv.modRevision < at) doc = null;
      if (doc) doc = docAfterChanges(doc, cache.keys, changes, this.where);
      for (const [k, v] of changes) {
        if (v === null) cache.keys.delete(k);
        else cache.keys.set(k, v);
      }
    }
    cache.revision = revision;
    cache.doc = doc;
    if (doc) return { data: doc, revision };
    try {
      const data = fromKeys(cache.keys, this.where);
      cache.doc = data;
      return { data, revision };
    } catch (e) {
      this.#failed(e);
      return null;
    }
  }

  /**
   * Whether `events` are one revision that writes exactly `writes` (a transaction names a key
   * once, so as many events as writes, each the same): then the document after them is the one
   * that commit wrote, whoever wrote it.
   */
  #isCommit(events: WatchEvent[], writes: Map<string, string | null>): boolean {
    if (events.length !== writes.size) return false;
    const revision = events[0].kv.modRevision;
    for (const e of events) {
      if (e.kv.modRevision !== revision) return false;
      const w = writes.get(e.kv.key.slice(this.#root.length));
      if (e.type === "delete" ? w !== null : w !== e.kv.value) return false;
    }
    return true;
  }

  /** Runs a call of the key-value store, keeping its outcome for health. */
  async #call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      const r = await fn();
      this.#ok();
      return r;
    } catch (e) {
      this.#failed(e);
      throw e;
    }
  }

  #ok(): void {
    if (this.#health.ok) return;
    this.#health = {
      store: this.#name,
      where: this.where,
      ok: true,
      revision: 0,
      since: Date.now(),
    };
    // The watches waiting to try again try now: what changed meanwhile comes with their load.
    for (const k of this.#kicks) k.back();
    this.#onHealth?.(this.health());
  }

  #failed(e: unknown): void {
    // A refused request (a conflict of input, a compaction) says nothing of the store's health.
    if (e instanceof StoreError && e.kind === "request") return;
    const error = e instanceof Error ? e.message : String(e);
    const was = this.#health.ok;
    const since = was ? Date.now() : this.#health.since;
    this.#health = { store: this.#name, where: this.where, ok: false, error, revision: 0, since };
    if (!was) return;
    for (const k of this.#kicks) k.failed();
    this.#onHealth?.(this.health());
  }

  /** One cheap read of `meta`, unless one is under way. */
  async #probeOnce(): Promise<void> {
    if (this.#probing || this.#closed) return;
    this.#probing = true;
    try {
      await this.#call(() => this.#store.get(this.#root + META_KEY));
    } catch {
      /* kept in health */
    } finally {
      this.#probing = false;
    }
  }
}
