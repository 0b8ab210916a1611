/**
 * A key-value store with revisions, compare-and-swap transactions, watches and leases: the
 * seam between the leader's state and a distributed store (etcd, `drivers/etcd/`). Keys and
 * values are text (the leader keeps JSON under a prefix). Every call is bounded in time; a
 * store that cannot answer fails with a {@link StoreError} whose message says why, never by
 * hanging.
 * @module
 */

/** One key as the store holds it. */
export interface KeyValue {
  /** The key. */
  key: string;
  /** The value. */
  value: string;
  /** The revision that created the key (since its last delete). */
  createRevision: number;
  /** The revision of its last change. */
  modRevision: number;
  /** How many times it was written since it was created (1 for a new key). */
  version: number;
  /** The lease it is bound to, or "" for none. */
  lease: string;
}

/** The store's revision when it answered: every change before it is in the answer. */
export interface Answer {
  /** The store's revision. */
  revision: number;
}

/** What a range read found. */
export interface RangeAnswer extends Answer {
  /** The keys, in key order. */
  kvs: KeyValue[];
  /** More keys matched than the limit let through. */
  more: boolean;
}

/** Which keys a read or a delete touches: one key, or every key starting with `key`. */
export interface KeySpec {
  /** The key, or the prefix when `prefix` is set. */
  key: string;
  /** Every key starting with `key`. */
  prefix?: boolean;
}

/** A test of a transaction on one key; a missing key has version, create and mod revision 0. */
export interface Compare {
  /** The key. */
  key: string;
  /** What is compared. */
  target: "version" | "create" | "mod" | "value" | "lease";
  /** How it compares with `value`. */
  op: "=" | "!=" | "<" | ">";
  /** A number for version and revisions, text for the value, the lease id for lease. */
  value: number | string;
}

/** An operation of a transaction. */
export type TxnOp =
  | { type: "put"; key: string; value: string; lease?: string }
  | ({ type: "delete" } & KeySpec)
  | ({ type: "get" } & KeySpec);

/** The result of one {@link TxnOp}, in order. */
export type TxnResult =
  | { type: "put" }
  | { type: "delete"; deleted: number }
  | { type: "get"; kvs: KeyValue[] };

/** A transaction: if every compare holds, `then`, else `otherwise`, atomically. */
export interface Txn {
  /** The tests; all must hold. */
  compare: Compare[];
  /** Done when they hold. */
  then: TxnOp[];
  /** Done when one does not. */
  otherwise?: TxnOp[];
}

/** What a transaction did. */
export interface TxnAnswer extends Answer {
  /** Every compare held (`then` ran). */
  succeeded: boolean;
  /** The results of the branch that ran. */
  results: TxnResult[];
}

/** A change a watch saw. */
export interface WatchEvent {
  /** A put (the key's new state) or a delete (`kv.value` is empty). */
  type: "put" | "delete";
  /** The key after the change; for a delete, its key and the delete's mod revision. */
  kv: KeyValue;
}

/** A watch: its events go to the callback given to {@link KvStore.watch}. */
export interface Watch {
  /** Stops the watch (idempotent); `closed` then resolves. */
  cancel(): void;
  /**
   * Resolves when cancelled; rejects with a {@link StoreError} when the stream fails (the store
   * went away, lost quorum, or compacted past the start revision): the caller watches again from
   * the revision after the last one it saw.
   */
  readonly closed: Promise<void>;
}

/** A lease: keys put with it are deleted when it expires. */
export interface Lease {
  /** Its id (decimal text: etcd's are 64-bit). */
  id: string;
  /** Its time to live in seconds as granted. */
  ttl: number;
}

/** A key-value store with revisions (see the module docs). */
export interface KvStore {
  /** One key, or null when it is missing. */
  get(key: string): Promise<Answer & { kv: KeyValue | null }>;
  /** The keys under `prefix`, in key order, at most `limit` (0: no limit). */
  range(prefix: string, limit?: number): Promise<RangeAnswer>;
  /** Writes `value` at `key`, bound to `lease` when given. */
  put(key: string, value: string, lease?: string): Promise<Answer>;
  /** Deletes one key or a prefix; how many keys went. */
  delete(spec: KeySpec): Promise<Answer & { deleted: number }>;
  /** Runs a transaction. */
  txn(txn: Txn): Promise<TxnAnswer>;
  /**
   * Watches one key or a prefix from `fromRevision` (0: from now); `onEvents` gets each batch
   * with the revision it brings the watcher to. Resolves once the store has started the watch.
   */
  watch(
    spec: KeySpec,
    fromRevision: number,
    onEvents: (events: WatchEvent[], revision: number) => void,
  ): Promise<Watch>;
  /** Grants a lease of `ttlSeconds`. */
  grant(ttlSeconds: number): Promise<Lease>;
  /** Renews a lease once; its remaining time to live in seconds (0 or less: it has expired). */
  keepAlive(id: string): Promise<number>;
  /** Revokes a lease: its keys go at once. */
  revoke(id: string): Promise<void>;
  /** Ends every watch and connection. */
  close(): Promise<void>;
}

/**
 * Why a store call failed: `unreachable` (no endpoint answered), `no-quorum` (an endpoint
 * answered but the cluster cannot commit: no leader, or no answer in time), `request` (the store
 * refused the request as malformed or too large), `protocol` (an answer that does not parse, or
 * is larger than allowed).
 */
export type StoreErrorKind = "unreachable" | "no-quorum" | "request" | "protocol";

const PHRASES: Record<StoreErrorKind, string> = {
  "unreachable": "the store is unreachable",
  "no-quorum": "the store has no quorum",
  "request": "the store refused the request",
  "protocol": "the store's answer is malformed",
};

/** A failed store call; the message reads `the store has no quorum (etcd: ...)` and the like. */
export class StoreError extends Error {
  /** Why it failed. */
  readonly kind: StoreErrorKind;
  /** The store's own words (`etcdserver: no leader`). */
  readonly detail: string;

  /** Builds the error; `store` names the store in the message (`etcd`). */
  constructor(kind: StoreErrorKind, store: string, detail: string) {
    super(`${PHRASES[kind]} (${store}: ${detail})`);
    this.name = "StoreError";
    this.kind = kind;
    this.detail = detail;
  }

  /** Whether a write may succeed later without a change of request (the store may come back). */
  get transient(): boolean {
    return this.kind === "unreachable" || this.kind === "no-quorum";
  }
}
