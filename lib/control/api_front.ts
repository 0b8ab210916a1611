/**
 * The main thread's side of the API worker (api_worker.ts says why there is one): starts it on
 * the control server's addresses, answers the requests it forwards with the control app, and
 * keeps the hot reads' bodies posted to it while they are asked for — the node list of a newer
 * view (gzipped) at most every {@link NODES_EVERY_MS} and only when asked since the last, and each
 * large `/status` document the status cache keeps. A list of an older view is taken back within
 * {@link PUBLISH_EVERY_MS}, but one of more than {@link LAGGING_NODES_OVER} members: that one the
 * worker serves while the leader's view in force was its view at most {@link NODES_MAX_AGE_MS} ago
 * (each check that finds it still the view in force tells the worker so), saying how long ago in
 * its answer's `weft-view-age-ms`; older, the request goes to the control app, which answers with
 * the view in force. During churn, when the view changes at every batch, the requests are thus
 * answered by the worker at once, not each by a list made on a leader's loop busy with the joins.
 * A write forwarded (any method but GET and HEAD) has the node list posted again before its
 * answer: messages keep their order, so a read after the answer sees the write.
 * @module
 */

import type { ListenerStats } from "../net/conn_guard.ts";
import type { Logger } from "../log/logger.ts";
import {
  LARGE_STATUS_REUSE_MS,
  largeStatusReuseMs,
  type StatusCache,
} from "./routes/status_cache.ts";
import { LOCAL_ENV } from "./middleware/auth.ts";
import { BodyTooLargeError } from "./http1.ts";
import { takeGiven } from "../metrics/given_bytes.ts";
import {
  type FromWorker,
  type HotRoute,
  sharedNow,
  type ToWorker,
  type WorkerListen,
} from "./api_messages.ts";

/** How often a hot body asked for is checked for a newer one, ms. */
export const PUBLISH_EVERY_MS = 100;
/**
 * The node list is made again at most this often, ms: at 10,000 members a list and its gzip are
 * 30 to 100 ms of the leader's loop, and during churn the view changes at every batch. Half of
 * {@link NODES_MAX_AGE_MS}, so that a large list is made again before it is too old to serve.
 */
export const NODES_EVERY_MS = 500;
/**
 * Members past which the node list is served behind the view in force (up to
 * {@link NODES_MAX_AGE_MS}); a smaller list is cheap enough to make for the request.
 */
export const LAGGING_NODES_OVER = 1000;
/** How far behind the view in force a large node list is served at most, ms. */
export const NODES_MAX_AGE_MS = 1000;
/**
 * A hot body is made again no sooner than this many times what the last one took (the node list:
 * its build; `/status`: from the ask to the document), so that on a starved leader the clients,
 * answered at once, do not have it spend every turn it gets on their bodies: answered slowly, as
 * before, they asked less often.
 */
export const BUILD_SPACING = 4;
/** The longest wait {@link BUILD_SPACING} makes, ms (a client is then told of changes this late). */
export const MAX_BUILD_GAP_MS = 10_000;
/** A hot body is kept posted this long after it was last asked for, ms. */
export const WANTED_FOR_MS = 30_000;

/** The node list of the view in force, and the view it was made from. */
export interface NodesSource {
  /** The view in force (a new object each version). */
  view(): object;
  /** Its members. */
  members(view: object): number;
  /** Its node list's JSON gzipped (the same bytes the control app answers with, made once). */
  gzip(view: object): Uint8Array;
}

/** Options of {@link startApiWorker}. */
export interface ApiWorkerOptions {
  /** The control app's fetch (`env`: LOCAL_ENV for the unix socket's requests). */
  fetch(req: Request, env?: unknown): Response | Promise<Response>;
  /** Where and how the worker listens. */
  listen: WorkerListen;
  /** The node list (a mesh agent's). */
  nodes?: NodesSource;
  /** The status cache of the control app's `/status`. */
  status?: StatusCache;
  /** The listeners' counters, updated from the worker's. */
  stats: ListenerStats;
  /** Where the worker's log lines go. */
  logger: Logger;
  /** {@link NODES_MAX_AGE_MS} (tests). */
  nodesMaxAgeMs?: number;
}

/** The running API worker. */
export interface ApiWorker {
  /** Settles once the worker listens (rejects if it could not). */
  readonly ready: Promise<void>;
  /** Posts the token in force (after a rotation). */
  setToken(token: string | undefined): void;
  /** Posts the hot bodies now, then resolves once the worker has taken them (for tests). */
  flush(): Promise<void>;
  /** Stops listening and ends the worker. */
  close(): Promise<void>;
}

const copy = (b: Uint8Array): ArrayBuffer => b.slice().buffer as ArrayBuffer;

/** The worker's BodyTooLargeError again, with its message (errors do not cross threads whole). */
function tooLarge(message: string): BodyTooLargeError {
  const e = new BodyTooLargeError(0);
  e.message = message;
  return e;
}

/** The wait before the next build of a body whose last build took `took` ms. */
function spaced(least: number, took: number): number {
  return Math.min(MAX_BUILD_GAP_MS, Math.max(least, BUILD_SPACING * took));
}

/** Starts the API worker; see the module doc. */
export function startApiWorker(opts: ApiWorkerOptions): ApiWorker {
  const worker = new Worker(new URL("./api_worker.ts", import.meta.url), { type: "module" });
  const send = (m: ToWorker, transfer: Transferable[] = []) => worker.postMessage(m, transfer);
  const answers = new Map<number, ReadableStreamDefaultReader<Uint8Array>>();
  const wantedUntil = new Map<HotRoute, number>();
  const posted = new Map<HotRoute, object | null>();
  let timer: ReturnType<typeof setInterval> | undefined;
  let closing: Promise<void> | undefined;
  let syncs = 0;
  const synced = new Map<number, () => void>();
  let onReady!: (e?: string) => void;
  const ready = new Promise<void>((resolve, reject) =>
    onReady = (e) => e === undefined ? resolve() : reject(new Error(e))
  );
  let onClosed!: () => void;
  const closed = new Promise<void>((r) => onClosed = r);

  // A node-list request came since the last list was made; when that was.
  let nodesAsked = false;
  let nodesAt = -Infinity;
  let nodesGap = NODES_EVERY_MS;
  // When /status was last asked for as a request would, and the wait before the next such ask.
  let statusAskAt = -Infinity;
  let statusGap = LARGE_STATUS_REUSE_MS;
  const maxAgeMs = opts.nodesMaxAgeMs ?? NODES_MAX_AGE_MS;
  const postNodes = (force: boolean) => {
    if (!opts.nodes) return;
    const view = opts.nodes.view();
    if (!force && (posted.get("nodes") === view || !nodesAsked)) return;
    if (!force && performance.now() - nodesAt < nodesGap) return;
    nodesAsked = false;
    nodesAt = performance.now();
    // Read before the build: the list is this view's, which was in force then.
    const at = sharedNow();
    const gz = opts.nodes.gzip(view);
    nodesGap = spaced(NODES_EVERY_MS, performance.now() - nodesAt);
    posted.set("nodes", view);
    // A copy: the bytes stay the control app's too (one a view; 0.9 MB at 10,000 members).
    const buf = copy(gz);
    const lag = opts.nodes.members(view) > LAGGING_NODES_OVER ? maxAgeMs : undefined;
    send({ t: "body", route: "nodes", gzip: buf, at, maxAgeMs: lag }, [buf]);
  };
  // `ask`: as a request would (a stale document is rebuilt); else only what the cache holds.
  const postStatus = async (ask: boolean) => {
    const cache = opts.status;
    if (!cache) return;
    const asking = ask && performance.now() - statusAskAt >= statusGap;
    if (asking) statusAskAt = performance.now();
    const built = asking ? await cache.current(true) : cache.kept();
    // A small document is built per request, on the main thread as before.
    const gzip = built !== null && cache.isKept(built) ? built.gzip : null;
    if (built === null || gzip === null) {
      if (posted.get("status")) send({ t: "body", route: "status", gzip: null });
      posted.set("status", null);
      return;
    }
    if (posted.get("status") === built) return;
    // A new document: most likely the one the last ask started (a rebuild in slices).
    statusGap = spaced(largeStatusReuseMs(built.doc.peers.length), performance.now() - statusAskAt);
    posted.set("status", built);
    const buf = copy(gzip);
    send({ t: "body", route: "status", gzip: buf }, [buf]);
  };
  const drop = (route: HotRoute) => {
    if (posted.get(route)) send({ t: "body", route, gzip: null });
    posted.delete(route);
    wantedUntil.delete(route);
  };
  const publish = async (ask = false) => {
    const now = performance.now();
    for (const [route, until] of wantedUntil) if (now >= until) drop(route);
    if (wantedUntil.has("nodes")) {
      const listed = posted.get("nodes");
      if (listed && opts.nodes) {
        if (listed === opts.nodes.view()) {
          // Still the view in force: the worker may count the list's age from now.
          send({ t: "current", route: "nodes", at: sharedNow() });
        } else if (opts.nodes.members(listed) <= LAGGING_NODES_OVER) {
          // A small list of an older view is taken back at once (the next request goes to the
          // app, which reads the view in force): a member that joined or left is in the next
          // answer. A large one the worker serves until it is too old (the module doc).
          send({ t: "body", route: "nodes", gzip: null });
          posted.set("nodes", null);
        }
      }
      postNodes(false);
    }
    if (wantedUntil.has("status")) await postStatus(ask);
    if (wantedUntil.size === 0 && timer !== undefined) {
      clearInterval(timer);
      timer = undefined;
    }
  };
  const publishing = (ask = false) => {
    publish(ask).catch((e) =>
      opts.logger.warn("api worker: a hot body failed", { error: String(e) })
    );
  };

  const serve = async (m: Extract<FromWorker, { t: "request" }>) => {
    let res: Response;
    try {
      const failed = m.bodyError;
      const body = failed === undefined ? m.body : new ReadableStream<Uint8Array>({
        start: (c) =>
          c.error(failed.tooLarge ? tooLarge(failed.message) : new Error(failed.message)),
      });
      const req = new Request(m.url, { method: m.method, headers: m.headers, body });
      res = await opts.fetch(req, m.local ? LOCAL_ENV : undefined);
    } catch (e) {
      send({ t: "end", id: m.id, error: e instanceof Error ? e.message : String(e) });
      return;
    }
    // Read-your-writes: the node list after the write goes before the write's answer.
    if (m.method !== "GET" && m.method !== "HEAD" && wantedUntil.has("nodes")) {
      try {
        postNodes(true);
      } catch (e) {
        drop("nodes");
        opts.logger.warn("api worker: the node list failed", { error: String(e) });
      }
    }
    const headers = [...res.headers];
    send({ t: "head", id: m.id, status: res.status, headers, hasBody: res.body !== null });
    if (res.body === null) return;
    const reader = res.body.getReader();
    answers.set(m.id, reader);
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        // Moved when the route gave it away whole (a /metrics chunk), else copied: the route
        // may hold its bytes (a cached body).
        const buf = takeGiven(value) ?? copy(value);
        send({ t: "chunk", id: m.id, data: buf }, [buf]);
      }
      send({ t: "end", id: m.id });
    } catch (e) {
      send({ t: "end", id: m.id, error: e instanceof Error ? e.message : String(e) });
    } finally {
      answers.delete(m.id);
    }
  };

  worker.onmessage = (e: MessageEvent<FromWorker>) => {
    const m = e.data;
    switch (m.t) {
      case "ready":
        return onReady(m.error);
      case "request":
        return void serve(m);
      case "cancel":
        return void answers.get(m.id)?.cancel().catch(() => {});
      case "want":
        wantedUntil.set(m.route, performance.now() + WANTED_FOR_MS);
        if (m.route === "nodes") nodesAsked = true;
        timer ??= setInterval(publishing, PUBLISH_EVERY_MS);
        return publishing(m.route === "status");
      case "stats":
        return void Object.assign(opts.stats, m.stats);
      case "log":
        return opts.logger[m.level](m.event, m.fields);
      case "synced":
        synced.get(m.n)?.();
        synced.delete(m.n);
        return;
      case "closed":
        return onClosed();
    }
  };
  worker.onerror = (e) => {
    e.preventDefault();
    opts.logger.error("api worker failed", { error: e.message });
    onReady(e.message);
    onClosed();
  };
  send({ t: "listen", listen: opts.listen });

  return {
    ready,
    setToken: (token) => send({ t: "token", token }),
    flush: async () => {
      for (const route of ["nodes", "status"] as const) {
        wantedUntil.set(route, performance.now() + WANTED_FOR_MS);
      }
      nodesAsked = true;
      nodesAt = statusAskAt = -Infinity;
      await publish(true);
      const n = ++syncs;
      await new Promise<void>((r) => {
        synced.set(n, r);
        send({ t: "sync", n });
      });
    },
    close: () =>
      closing ??= (async () => {
        if (timer !== undefined) clearInterval(timer);
        wantedUntil.clear();
        for (const r of answers.values()) await r.cancel().catch(() => {});
        await ready.catch(() => {});
        send({ t: "close" });
        await closed;
        worker.terminate();
      })(),
  };
}
