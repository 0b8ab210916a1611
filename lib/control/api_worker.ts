/**
 * The control server's API worker: a Worker thread that owns the control listeners (TCP and the
 * unix socket) so a request is read however busy the main thread is. Deno's event loop takes its
 * sockets' readiness only when it has nothing else to run (or every 61 ticks): on a leader of
 * thousands of members, whose loop turns every 100 to 600 ms during churn, a request sat unread
 * for seconds. Here it is read at once; the hot reads (`GET /v1/nodes`, `GET /status`) are
 * answered from the latest gzipped bodies the main thread posted, after the same guards as the
 * control app (middleware/guards.ts); everything else is forwarded to the main thread's app and
 * its answer streamed back (a message from a worker is taken at the main loop's next turn, not
 * after the I/O wait). Started by api_front.ts.
 * @module
 */

import { Hono } from "npm:hono@^4.13.19";
import { type GuardedListener, guardListener, newListenerStats } from "../net/conn_guard.ts";
import type { LogFields, Logger, LogLevel } from "../log/logger.ts";
import { BodyTooLargeError, serveHttp1 } from "./http1.ts";
import { errorHandler } from "./middleware/errors.ts";
import { loopbackNames } from "./middleware/host.ts";
import { LOCAL_ENV } from "./middleware/auth.ts";
import { useGuards } from "./middleware/guards.ts";
import { acceptsGzip } from "./routes/status_body.ts";
import { listenSocket, listenTcp } from "./socket.ts";
import {
  type FromWorker,
  type HotRoute,
  sharedNow,
  type ToWorker,
  type WorkerListen,
} from "./api_messages.ts";
import { VIEW_AGE_HEADER } from "./routes/view_age.ts";

/** How often the listeners' counters go to the main thread (when they changed), ms. */
const STATS_EVERY_MS = 1000;
/**
 * A hot route's body is asked for again at most this often, ms: the node list's often enough for
 * the main thread to know a request came since its last one, `/status` as often as it is rebuilt.
 */
const WANT_EVERY_MS: Readonly<Record<HotRoute, number>> = { nodes: 250, status: 1000 };
/** Answers with no body. */
const NULL_BODY = new Set([101, 204, 205, 304]);

// Not `self.onmessage` typed as a worker's: lib.deno.window's `self` is the one every module
// type-checked with this one sees.
const scope = self as unknown as {
  onmessage: ((ev: MessageEvent<ToWorker>) => void) | null;
  postMessage(message: unknown, transfer: Transferable[]): void;
};
const post = (m: FromWorker, transfer: Transferable[] = []) => scope.postMessage(m, transfer);

/** Log lines go to the main thread's logger. */
function workerLogger(base: LogFields = {}): Logger {
  const at = (level: LogLevel) => (event: string, fields?: LogFields) =>
    post({ t: "log", level, event, fields: { ...base, ...fields } });
  return {
    debug: at("debug"),
    info: at("info"),
    warn: at("warn"),
    error: at("error"),
    child: (fields) => workerLogger({ ...base, ...fields }),
    enabled: () => true,
  };
}

interface Pending {
  resolve(r: Response): void;
  reject(e: Error): void;
  stream?: ReadableStreamDefaultController<Uint8Array>;
}

const pending = new Map<number, Pending>();
let nextId = 1;
let token: string | undefined;
/** A body posted: `at`, when it was last what the leader holds; `maxAgeMs`, see ToWorker. */
interface Body {
  readonly gzip: Uint8Array<ArrayBuffer>;
  at: number;
  readonly maxAgeMs?: number;
}
const bodies = new Map<HotRoute, Body>();
const wantedAt = new Map<HotRoute, number>();
const guards: GuardedListener[] = [];
/** The unix socket this worker bound (removed at close; Deno unlinks it too, other runtimes not). */
let socketPath: string | undefined;

/** Sends a request to the main thread's app; its answer comes back as messages. */
async function forward(req: Request, local: boolean): Promise<Response> {
  const id = nextId++;
  let body: ArrayBuffer | null = null;
  let bodyError: { tooLarge: boolean; message: string } | undefined;
  try {
    body = req.body === null ? null : await req.arrayBuffer();
  } catch (e) {
    // The app answers it as it would have on its own thread (413 for a body over the limit).
    const err = e instanceof Error ? e : new Error(String(e));
    bodyError = { tooLarge: err instanceof BodyTooLargeError, message: err.message };
  }
  return await new Promise<Response>((resolve, reject) => {
    pending.set(id, { resolve, reject });
    post({
      t: "request",
      id,
      method: req.method,
      url: req.url,
      headers: [...req.headers],
      body,
      bodyError,
      local,
    }, body ? [body] : []);
  });
}

function want(route: HotRoute): void {
  const now = performance.now();
  if (now - (wantedAt.get(route) ?? -Infinity) < WANT_EVERY_MS[route]) return;
  wantedAt.set(route, now);
  post({ t: "want", route });
}

/** The hot reads behind the control app's own guards; without a body, forwarded. */
function hotApp(listen: WorkerListen): Hono {
  const app = new Hono<{ Bindings: { local?: true } }>();
  app.onError(errorHandler());
  useGuards(app as unknown as Hono, {
    allowHost: listen.remote ? undefined : loopbackNames(listen.listenHost),
    tokenEverywhere: listen.remote,
    token: () => token,
    monitorToken: listen.monitorToken,
  });
  const serve = (route: HotRoute) => (c: { req: { raw: Request }; env?: unknown }) => {
    want(route);
    const body = bodies.get(route);
    // How long ago it was what the leader holds (a node list's: the view in force then).
    const age = body === undefined ? 0 : Math.max(0, Math.round(sharedNow() - body.at));
    if (
      body === undefined || (body.maxAgeMs !== undefined && age > body.maxAgeMs) ||
      !acceptsGzip(c.req.raw.headers.get("accept-encoding"))
    ) {
      return forward(c.req.raw, (c.env as { local?: true } | undefined)?.local === true);
    }
    const headers: Record<string, string> = {
      "content-type": "application/json",
      "content-encoding": "gzip",
      vary: "accept-encoding",
      "referrer-policy": "no-referrer",
    };
    if (route === "nodes") headers[VIEW_AGE_HEADER] = String(age);
    return new Response(body.gzip, { headers });
  };
  app.get("/v1/nodes", serve("nodes"));
  app.get("/status", serve("status"));
  app.notFound((c) => forward(c.req.raw, (c.env as { local?: true } | undefined)?.local === true));
  return app as unknown as Hono;
}

function start(listen: WorkerListen): void {
  token = listen.token;
  const app = hotApp(listen);
  const handle = (local: boolean) => (req: Request) => {
    // Only the hot reads run here; the rest goes whole to the main thread's app.
    const path = new URL(req.url).pathname;
    if (req.method === "GET" && (path === "/v1/nodes" || path === "/status")) {
      return app.fetch(req, local ? LOCAL_ENV : undefined);
    }
    return forward(req, local);
  };
  const stats = newListenerStats();
  const logger = workerLogger();
  const opts = (local: boolean) => ({
    origin: local ? "localhost" : listen.origin,
    absoluteForm: local,
    headerTimeoutMs: listen.headerTimeoutMs,
    maxBodyBytes: listen.maxBodyBytes,
  });
  let tcp: Deno.TcpListener | undefined;
  try {
    // The messages the main thread's bind gives (socket.ts): a start fails the same either way.
    tcp = listenTcp(listen.hostname, listen.port, listen.origin);
    guards.push(guardListener(tcp, {
      name: "http",
      maxConnections: listen.maxConnections,
      stats,
      logger,
      serve: (slot) => serveHttp1(slot, handle(false), opts(false)),
    }));
    if (listen.socket !== undefined) {
      const unix = listenSocket(listen.socket);
      // Ours to remove at close from now on; before, whatever is there is not ours.
      socketPath = listen.socket;
      guards.push(guardListener(unix, {
        name: "http",
        maxConnections: listen.maxConnections,
        stats,
        logger,
        serve: (slot) => serveHttp1(slot, handle(true), opts(true)),
      }));
    }
  } catch (e) {
    for (const g of guards) void g.close();
    if (guards.length === 0) tcp?.close();
    post({ t: "ready", error: e instanceof Error ? e.message : String(e) });
    return;
  }
  let last = "";
  setInterval(() => {
    const now = JSON.stringify(stats);
    if (now !== last) post({ t: "stats", stats: { ...stats } });
    last = now;
  }, STATS_EVERY_MS);
  post({ t: "ready" });
}

function answer(m: ToWorker): void {
  switch (m.t) {
    case "listen":
      return start(m.listen);
    case "token":
      token = m.token;
      return;
    case "body":
      if (m.gzip === null) bodies.delete(m.route);
      else {
        const at = m.at ?? sharedNow();
        bodies.set(m.route, { gzip: new Uint8Array(m.gzip), at, maxAgeMs: m.maxAgeMs });
      }
      return;
    case "current": {
      const body = bodies.get(m.route);
      if (body !== undefined && m.at > body.at) body.at = m.at;
      return;
    }
    case "head": {
      const p = pending.get(m.id);
      if (!p) return;
      let body: ReadableStream<Uint8Array> | null = null;
      if (m.hasBody && !NULL_BODY.has(m.status)) {
        body = new ReadableStream<Uint8Array>({
          start: (c) => void (p.stream = c),
          cancel: () => {
            pending.delete(m.id);
            post({ t: "cancel", id: m.id });
          },
        });
      } else pending.delete(m.id);
      p.resolve(new Response(body, { status: m.status, headers: m.headers }));
      return;
    }
    case "chunk":
      pending.get(m.id)?.stream?.enqueue(new Uint8Array(m.data));
      return;
    case "end": {
      const p = pending.get(m.id);
      pending.delete(m.id);
      if (!p) return;
      const error = m.error === undefined ? undefined : new Error(m.error);
      if (p.stream) {
        try {
          if (error) p.stream.error(error);
          else p.stream.close();
        } catch {
          // Cancelled meanwhile.
        }
      } else p.reject(error ?? new Error("no answer"));
      return;
    }
    case "sync":
      return post({ t: "synced", n: m.n });
    case "close":
      void Promise.all(guards.map((g) => g.close())).then(() => {
        if (socketPath !== undefined) return Deno.remove(socketPath).catch(() => {});
      }).then(() => post({ t: "closed" }));
      return;
  }
}

scope.onmessage = (e: MessageEvent<ToWorker>) => answer(e.data);
