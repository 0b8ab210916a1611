/**
 * A {@link KvStore} on etcd (3.4 and later) through its JSON gateway (`/v3/kv/range`, `put`,
 * `txn`, `deleterange`, `/v3/watch`, `/v3/lease/*`) over `fetch`, HTTPS with a CA and a client
 * certificate when given.
 *
 * Why the gateway and not the `etcd3` npm package (gRPC through `@grpc/grpc-js`), measured on
 * the same machine against one local etcd 3.4.23 (see drivers/etcd/bench.ts): both work under
 * Deno without TLS, with close round trips (figures in the report of issue 27 and in
 * docs/stores.md when written); but `etcd3` with TLS to an IP address fails under Deno's
 * `node:tls` ("options.servername must not be an IP address"), it brings 37 npm packages
 * (grpc-js, protobufjs with an install script Deno skips, yargs), while the gateway is plain
 * HTTP/JSON in about 400 lines with no dependency, and TLS is `Deno.createHttpClient`.
 *
 * Failure, bounded: every call has a deadline (`timeoutMs`, 5 s by default). Requests carry
 * `Grpc-Metadata-hasleader: true`, so a member without a leader answers `etcdserver: no leader`
 * at once instead of holding the request, and drops watches when it loses its leader. A
 * connection error or a `no leader` moves to the next endpoint; when every endpoint refused
 * the connection the call fails with `the store is unreachable (etcd: ...)`, when one answered
 * without a leader, or none answered in time, with `the store has no quorum (etcd: ...)`. A
 * request that may have been applied (`request timed out`, `leader changed`) is not sent again.
 * @module
 */

import { formatHostPort } from "../../lib/net/hostport.ts";
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
} from "../../lib/store/kv.ts";
import { StoreError } from "../../lib/store/kv.ts";
import { arr, b64, headerRevision, id, keyValue, malformed, num, obj, prefixEnd } from "./codec.ts";
import { jsonLines } from "./lines.ts";
import type { EtcdUrl } from "./url.ts";

/** PEM texts for TLS to etcd (`--store-ca`, `--store-cert`, `--store-key`). */
export interface EtcdTls {
  /** The CA that signed the members' certificates. */
  ca: string;
  /** A client certificate, for members that require one (with `key`). */
  cert?: string;
  /** The client certificate's private key. */
  key?: string;
}

/** How to reach the cluster. */
export interface EtcdOptions {
  /** The endpoints, from {@link parseEtcdUrl}. */
  url: EtcdUrl;
  /** HTTPS with these; plain HTTP without. */
  tls?: EtcdTls;
  /** The deadline of each call in milliseconds (5000). */
  timeoutMs?: number;
  /** The largest answer, or streamed line, read in bytes (4 MiB; etcd's default request is 1.5). */
  maxAnswerBytes?: number;
}

const COMPARE_TARGET = {
  version: ["VERSION", "version"],
  create: ["CREATE", "create_revision"],
  mod: ["MOD", "mod_revision"],
  value: ["VALUE", "value"],
  lease: ["LEASE", "lease"],
} as const;

const COMPARE_RESULT = { "=": "EQUAL", "!=": "NOT_EQUAL", "<": "LESS", ">": "GREATER" } as const;

// gRPC codes that mean the cluster could not commit: UNAVAILABLE, DEADLINE_EXCEEDED, CANCELED.
const NO_QUORUM_CODES = new Set([14, 4, 1]);

/** A failure to connect to one endpoint (as opposed to an answer). */
class ConnectError extends Error {}

/** An endpoint's answer that it has no leader: the failover tries the next one. */
class NoLeader {
  /** Which endpoint, and what it said. */
  constructor(readonly detail: string) {}
}

/** etcd through its JSON gateway (see the module docs). */
export class EtcdStore implements KvStore {
  readonly #bases: string[];
  readonly #names: string[];
  readonly #client: Deno.HttpClient | undefined;
  readonly #timeoutMs: number;
  readonly #maxBytes: number;
  readonly #closing = new AbortController();
  readonly #watches = new Set<Promise<void>>();
  #current = 0;

  /** A client for the cluster in `options`; no connection is made until the first call. */
  constructor(options: EtcdOptions) {
    if (options.url.endpoints.length === 0) throw new Error("etcd: no endpoint");
    const scheme = options.tls ? "https" : "http";
    this.#names = options.url.endpoints.map(formatHostPort);
    this.#bases = this.#names.map((n) => `${scheme}://${n}`);
    this.#timeoutMs = options.timeoutMs ?? 5000;
    this.#maxBytes = options.maxAnswerBytes ?? 4 << 20;
    if (options.tls) {
      const { ca, cert, key } = options.tls;
      if ((cert === undefined) !== (key === undefined)) {
        throw new Error("etcd: a client certificate needs its key, and a key its certificate");
      }
      this.#client = Deno.createHttpClient({
        caCerts: [ca],
        ...(cert !== undefined && key !== undefined ? { cert, key } : {}),
      });
    }
  }

  /** The endpoint the last call reached (`HOST:PORT`). */
  get endpoint(): string {
    return this.#names[this.#current];
  }

  async get(key: string): Promise<Answer & { kv: KeyValue | null }> {
    const a = await this.#call("/v3/kv/range", { key: b64(key) });
    const kvs = arr(a.kvs, "kvs");
    return { revision: headerRevision(a), kv: kvs.length ? keyValue(kvs[0]) : null };
  }

  async range(prefix: string, limit = 0): Promise<RangeAnswer> {
    const a = await this.#call("/v3/kv/range", {
      key: b64(prefix),
      range_end: prefixEnd(prefix),
      ...(limit > 0 ? { limit: String(limit) } : {}),
    });
    return {
      revision: headerRevision(a),
      kvs: arr(a.kvs, "kvs").map(keyValue),
      more: a.more === true,
    };
  }

  async put(key: string, value: string, lease?: string): Promise<Answer> {
    const a = await this.#call("/v3/kv/put", putRequest(key, value, lease));
    return { revision: headerRevision(a) };
  }

  async delete(spec: KeySpec): Promise<Answer & { deleted: number }> {
    const a = await this.#call("/v3/kv/deleterange", keyRequest(spec));
    return { revision: headerRevision(a), deleted: num(a.deleted, "deleted") };
  }

  async txn(txn: Txn): Promise<TxnAnswer> {
    const a = await this.#call("/v3/kv/txn", {
      compare: txn.compare.map(compareRequest),
      success: txn.then.map(opRequest),
      failure: (txn.otherwise ?? []).map(opRequest),
    });
    const succeeded = a.succeeded === true;
    const ops = succeeded ? txn.then : txn.otherwise ?? [];
    const responses = arr(a.responses, "responses");
    if (responses.length !== ops.length) throw malformed("a transaction's results do not match");
    return {
      revision: headerRevision(a),
      succeeded,
      results: responses.map((r, i) => opResult(ops[i], obj(r, "a transaction's result"))),
    };
  }

  async watch(
    spec: KeySpec,
    fromRevision: number,
    onEvents: (events: WatchEvent[], revision: number) => void,
  ): Promise<Watch> {
    const stop = new AbortController();
    const signal = AbortSignal.any([stop.signal, this.#closing.signal]);
    const create = {
      create_request: {
        ...keyRequest(spec),
        ...(fromRevision > 0 ? { start_revision: String(fromRevision) } : {}),
      },
    };
    // The deadline covers connecting and the store's "created"; the stream then lives on.
    const starting = new AbortController();
    const timer = setTimeout(() => starting.abort(), this.#timeoutMs);
    let lines: AsyncGenerator<unknown>;
    let first: Record<string, unknown>;
    try {
      const res = await this.#open("/v3/watch", create, AbortSignal.any([signal, starting.signal]));
      lines = jsonLines(res.body!, this.#maxBytes, signal);
      first = await nextResult(lines, starting.signal);
    } catch (e) {
      stop.abort();
      throw this.#timedOut(starting.signal, e, "no watch created");
    } finally {
      clearTimeout(timer);
    }
    if (first.canceled === true || first.created !== true) {
      stop.abort();
      throw watchEnded(first);
    }
    const closed = (async () => {
      try {
        for await (const line of lines) {
          const r = resultOf(line);
          if (r.canceled === true) throw watchEnded(r);
          const events = arr(r.events, "events").map(watchEvent);
          if (events.length) onEvents(events, headerRevision(r));
        }
        if (!signal.aborted) throw new StoreError("unreachable", "etcd", "the watch stream ended");
      } catch (e) {
        if (signal.aborted) return;
        throw e instanceof StoreError
          ? e
          : new StoreError("unreachable", "etcd", `the watch stream broke: ${errText(e)}`);
      }
    })();
    this.#watches.add(closed);
    // The caller may not await `closed`; its rejection is still theirs to see.
    closed.catch(() => {}).finally(() => this.#watches.delete(closed));
    return { cancel: () => stop.abort(), closed };
  }

  async grant(ttlSeconds: number): Promise<Lease> {
    const a = await this.#call("/v3/lease/grant", { TTL: String(ttlSeconds) });
    if (typeof a.error === "string" && a.error !== "") {
      throw new StoreError("request", "etcd", a.error);
    }
    return { id: id(a.ID, "a lease id"), ttl: num(a.TTL, "a lease's TTL") };
  }

  async keepAlive(leaseId: string): Promise<number> {
    const signal = AbortSignal.any([AbortSignal.timeout(this.#timeoutMs), this.#closing.signal]);
    const res = await this.#open("/v3/lease/keepalive", { ID: leaseId }, signal);
    const lines = jsonLines(res.body!, this.#maxBytes);
    const r = await nextResult(lines, signal).catch((e) => {
      throw this.#timedOut(signal, e, "no keepalive answer");
    });
    await lines.return(undefined);
    return num(r.TTL, "a lease's TTL");
  }

  async revoke(leaseId: string): Promise<void> {
    await this.#call("/v3/lease/revoke", { ID: leaseId });
  }

  close(): Promise<void> {
    this.#closing.abort();
    const done = [...this.#watches].map((w) => w.catch(() => {}));
    return Promise.all(done).then(() => this.#client?.close());
  }

  /** One unary call with its deadline, failing over as the module docs say. */
  #call(path: string, body: unknown): Promise<Record<string, unknown>> {
    const deadline = AbortSignal.timeout(this.#timeoutMs);
    const signal = AbortSignal.any([deadline, this.#closing.signal]);
    return this.#failover(path, body, signal, deadline, async (res, at) => {
      let answer: Record<string, unknown>;
      try {
        answer = obj(JSON.parse(await this.#readBounded(res)), "the answer");
      } catch (e) {
        if (e instanceof StoreError) throw e;
        throw this.#timedOut(deadline, e, `no whole answer from ${this.#names[at]}`);
      }
      const failure = answerError(res, answer);
      if (failure === undefined) return answer;
      if (failure.kind === "no-quorum" && /no leader/.test(failure.detail)) {
        // This member is cut off; another may still have a leader.
        return new NoLeader(`${this.#names[at]}: ${failure.detail}`);
      }
      this.#current = at;
      throw failure;
    });
  }

  /** Opens a streamed call on the first endpoint that takes the connection. */
  #open(path: string, body: unknown, signal: AbortSignal): Promise<Response> {
    return this.#failover(path, body, signal, signal, async (res, at) => {
      if (res.ok && res.body !== null) return res;
      const text = await this.#readBounded(res).catch(() => "");
      let answer: Record<string, unknown> = {};
      try {
        answer = obj(JSON.parse(text), "the answer");
      } catch { /* the status says enough */ }
      throw answerError(res, answer) ??
        new StoreError("request", "etcd", `HTTP ${res.status} from ${this.#names[at]}`);
    });
  }

  /**
   * The failover both kinds of call share: the endpoints in turn from the current one, passing
   * over one that refuses the connection; `take` reads the first response, and what it gives
   * makes that endpoint the current one, or (a {@link NoLeader}) moves on to the next. Every
   * endpoint refused: unreachable; one answered without a leader: no quorum. `timer` is the
   * signal whose firing makes an error a timeout.
   */
  async #failover<T>(
    path: string,
    body: unknown,
    signal: AbortSignal,
    timer: AbortSignal,
    take: (res: Response, at: number) => Promise<T | NoLeader>,
  ): Promise<T> {
    let noLeader = "";
    let lastConnect = "";
    for (let tried = 0; tried < this.#bases.length; tried++) {
      const at = (this.#current + tried) % this.#bases.length;
      let res: Response;
      try {
        res = await this.#attempt(at, path, body, signal);
      } catch (e) {
        if (e instanceof ConnectError) {
          lastConnect = e.message;
          continue;
        }
        throw this.#timedOut(timer, e, `no answer from ${this.#names[at]}`);
      }
      const taken = await take(res, at);
      if (taken instanceof NoLeader) {
        noLeader = taken.detail;
        continue;
      }
      this.#current = at;
      return taken;
    }
    if (noLeader) throw new StoreError("no-quorum", "etcd", noLeader);
    throw new StoreError("unreachable", "etcd", lastConnect);
  }

  /** POSTs `body` to one endpoint; a ConnectError when the connection itself failed. */
  async #attempt(at: number, path: string, body: unknown, signal: AbortSignal): Promise<Response> {
    try {
      return await fetch(this.#bases[at] + path, {
        method: "POST",
        headers: { "content-type": "application/json", "grpc-metadata-hasleader": "true" },
        body: JSON.stringify(body),
        signal,
        ...(this.#client ? { client: this.#client } : {}),
      });
    } catch (e) {
      if (signal.aborted) throw e;
      throw new ConnectError(`${this.#names[at]}: ${errText(e)}`);
    }
  }

  /** The body as text, refusing more than the bound. */
  async #readBounded(res: Response): Promise<string> {
    const length = Number(res.headers.get("content-length") ?? "0");
    if (length > this.#maxBytes) {
      await res.body?.cancel();
      throw malformed(`an answer of ${length} bytes (over ${this.#maxBytes})`);
    }
    if (res.body === null) return "";
    const reader = res.body.getReader();
    const parts: Uint8Array[] = [];
    let held = 0;
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      held += value.length;
      if (held > this.#maxBytes) {
        await reader.cancel();
        throw malformed(`an answer over ${this.#maxBytes} bytes`);
      }
      parts.push(value);
    }
    const all = new Uint8Array(held);
    let at = 0;
    for (const p of parts) {
      all.set(p, at);
      at += p.length;
    }
    return new TextDecoder().decode(all);
  }

  /** The error for a call that failed while waiting: no quorum on the deadline, else as it is. */
  #timedOut(deadline: AbortSignal, e: unknown, what: string): Error {
    if (e instanceof StoreError) return e;
    if (this.#closing.signal.aborted) return new StoreError("unreachable", "etcd", "closed");
    if (deadline.aborted) {
      return new StoreError("no-quorum", "etcd", `${what} within ${this.#timeoutMs} ms`);
    }
    return new StoreError("unreachable", "etcd", `${what}: ${errText(e)}`);
  }
}

function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** The StoreError an answer carries, or undefined when it is a success. */
function answerError(res: Response, answer: Record<string, unknown>): StoreError | undefined {
  const err = answer.error ?? answer.message;
  if (res.ok && err === undefined) return undefined;
  const code = typeof answer.code === "number" ? answer.code : -1;
  const detail = typeof err === "string" && err !== "" ? err : `HTTP ${res.status}`;
  const noQuorum = NO_QUORUM_CODES.has(code) || res.status === 503 ||
    /no leader|request timed out|leader changed|timed out due to leader/.test(detail);
  return new StoreError(noQuorum ? "no-quorum" : "request", "etcd", detail);
}

function keyRequest(spec: KeySpec): Record<string, string> {
  return spec.prefix
    ? { key: b64(spec.key), range_end: prefixEnd(spec.key) }
    : { key: b64(spec.key) };
}

function putRequest(key: string, value: string, lease?: string): Record<string, string> {
  return { key: b64(key), value: b64(value), ...(lease ? { lease } : {}) };
}

function compareRequest(c: Compare): Record<string, string> {
  const [target, field] = COMPARE_TARGET[c.target];
  const value = c.target === "value" ? b64(String(c.value)) : String(c.value);
  return { key: b64(c.key), target, result: COMPARE_RESULT[c.op], [field]: value };
}

function opRequest(op: TxnOp): Record<string, unknown> {
  switch (op.type) {
    case "put":
      return { request_put: putRequest(op.key, op.value, op.lease) };
    case "delete":
      return { request_delete_range: keyRequest(op) };
    case "get":
      return { request_range: keyRequest(op) };
  }
}

function opResult(op: TxnOp, r: Record<string, unknown>): TxnResult {
  switch (op.type) {
    case "put":
      obj(r.response_put, "a put's result");
      return { type: "put" };
    case "delete": {
      const d = obj(r.response_delete_range, "a delete's result");
      return { type: "delete", deleted: num(d.deleted, "deleted") };
    }
    case "get": {
      const g = obj(r.response_range, "a get's result");
      return { type: "get", kvs: arr(g.kvs, "kvs").map(keyValue) };
    }
  }
}

/** The `result` of a streamed line, or the StoreError the line carries instead. */
function resultOf(line: unknown): Record<string, unknown> {
  const o = obj(line, "a streamed line");
  if (o.error !== undefined) {
    const e = obj(o.error, "a stream's error");
    const detail = typeof e.message === "string" ? e.message : "the stream failed";
    const code = typeof e.grpc_code === "number"
      ? e.grpc_code
      : typeof e.code === "number"
      ? e.code
      : -1;
    const noQuorum = NO_QUORUM_CODES.has(code) || /no leader|timed out/.test(detail);
    throw new StoreError(noQuorum ? "no-quorum" : "request", "etcd", detail);
  }
  return obj(o.result, "a streamed result");
}

/** The next result of a stream, or an error when it ends first or the signal fires. */
async function nextResult(
  lines: AsyncGenerator<unknown>,
  signal: AbortSignal,
): Promise<Record<string, unknown>> {
  signal.throwIfAborted();
  const next = await lines.next();
  if (next.done) throw new StoreError("unreachable", "etcd", "the stream ended at once");
  return resultOf(next.value);
}

function watchEnded(r: Record<string, unknown>): StoreError {
  const compacted = num(r.compact_revision, "compact_revision");
  if (compacted > 0) {
    return new StoreError("request", "etcd", `compacted: watch again from ${compacted}`);
  }
  const reason = typeof r.cancel_reason === "string" ? r.cancel_reason : "the watch was cancelled";
  const noQuorum = /no leader/.test(reason);
  return new StoreError(noQuorum ? "no-quorum" : "request", "etcd", reason);
}

function watchEvent(value: unknown): WatchEvent {
  const e = obj(value, "an event");
  return { type: e.type === "DELETE" ? "delete" : "put", kv: keyValue(e.kv) };
}
