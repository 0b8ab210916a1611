/**
 * The agent's HTTP server: a Hono app composed of the guards in `middleware/` and the routes in
 * `routes/` (status for people and scripts, the userspace API the CLI uses, mesh
 * administration, the service layer), served through our own accept loop and bounded HTTP/1.1 layer.
 * @module
 */

import { Hono } from "npm:hono@^4.13.19";
import type { Agent } from "../agent/agent.ts";
import { MeshAgent } from "../mesh/mesh_agent.ts";
import { LeaderError, LeaderNotFoundError } from "../mesh/leader/core.ts";
import { StoreError } from "../store/kv.ts";
import { guardListener, type ListenerStats, newListenerStats } from "../net/conn_guard.ts";
import type { Logger } from "../log/logger.ts";
import { BodyTooLargeError, serveHttp1 } from "./http1.ts";
import { errorHandler, type ErrorStatus, notFound } from "./middleware/errors.ts";
import { isLoopback, loopbackNames } from "./middleware/host.ts";
import { isLocal, LOCAL_ENV, type TokenSource } from "./middleware/auth.ts";
import { useGuards } from "./middleware/guards.ts";
import { listenSocket, listenTcp } from "./socket.ts";
import { jsonOnly } from "./middleware/content_type.ts";
import { HttpError } from "./middleware/errors.ts";
import { limitBodies, MAX_CALL_BODY_BYTES } from "./middleware/body.ts";
import { statusRoutes } from "./routes/status.ts";
import { StatusCache } from "./routes/status_cache.ts";
import { startApiWorker } from "./api_front.ts";
import { userspaceRoutes } from "./routes/userspace.ts";
import { leaderRoutes, nodesGzip } from "./routes/leader.ts";
import { subnetRoutes } from "./routes/subnet_routes.ts";
import { segmentRoutes } from "./routes/segments.ts";
import { servicesRoutes } from "./routes/services.ts";
import { prefsRoutes } from "./routes/prefs.ts";

/**
 * The status of each error the routes throw: a node or token that does not exist is 404, the
 * leader's other refusals 409, a body over the limit 413, a write the store refused 503
 * (anything else is 500).
 */
export const CONTROL_ERROR_STATUS: readonly ErrorStatus[] = [
  [LeaderNotFoundError, 404],
  [LeaderError, 409],
  [BodyTooLargeError, 413],
  // A write the leader's store refused (no quorum, unreachable): nothing was changed.
  [StoreError, 503],
];

export { MAX_BODY_BYTES, MAX_CALL_BODY_BYTES, MAX_JSON_DEPTH } from "./middleware/body.ts";

/** Options of the control server. */
export interface ControlServerOptions {
  /** `host:port` to listen on. Default `127.0.0.1:51880`; port 0 picks a free one. */
  listen?: string;
  /** Allow a non-loopback listen address (every route then needs the token). */
  allowRemote?: boolean;
  /** A bearer token that the control routes (`/v1/*`) require: letters, digits, `-._~+/`, then
   * `=` padding (what an `Authorization: Bearer` header carries; base64 fits). Without one,
   * `/v1/*` is served over `socket` only. */
  token?: string;
  /** A read-only token for `GET /status` and `GET /metrics` (monitoring), refused elsewhere. */
  monitorToken?: string;
  /**
   * A unix socket path (`<state-dir>/weft.sock`) to serve the same routes on, mode 0600: the
   * operating system lets only its owner connect, so requests over it need no token. The caller
   * owns its directory (holds the state directory's lock): a socket already there is stale and
   * removed, anything else there is an error.
   */
  socket?: string;
  /**
   * Makes and saves a new control token and gives it (`POST /v1/control/rotate-token`, over the
   * socket only): the old one is refused from then on.
   */
  rotateToken?: () => Promise<string>;
  /**
   * The mesh agent, for the token and node routes.
   * @ignore internal: a program passes its `MeshAgent` to {@linkcode serveControl} instead
   */
  mesh?: MeshAgent;
  /** Most connections open at once (default 256); at the cap the oldest idle one is closed. */
  maxConnections?: number;
  /** Ms allowed for a request head, and for an idle keep-alive connection (default 10000). */
  headerTimeoutMs?: number;
  /**
   * Where accept errors are logged.
   * @ignore internal: the agent's logger by default
   */
  logger?: Logger;
  /**
   * A listener bound earlier by {@linkcode bindControl} (then `listen` is not read again).
   * @ignore internal: the CLI binds before its agent starts
   */
  bound?: BoundControl;
  /**
   * Serve from a Worker thread (api_worker.ts): it owns the listeners, answers `GET /v1/nodes`
   * and a large `GET /status` from bodies this thread prepares, and forwards every other request
   * here. For a busy leader, whose loop takes a request's readiness late; await
   * {@link ControlServer.ready} before relying on it.
   */
  apiWorker?: boolean;
}

/** A running control server. */
export interface ControlServer {
  /** The bound `host:port`. */
  readonly address: string;
  /** The unix socket's path, when it serves one. */
  readonly socket?: string;
  /**
   * Its listener's counters (also in the agent's /metrics as `listener="http"`).
   * @ignore internal: for tests
   */
  readonly stats: ListenerStats;
  /** Settles once it listens (at once but with `apiWorker`); rejects if it cannot. */
  readonly ready: Promise<void>;
  /**
   * Posts the API worker its hot bodies now and waits until it has them.
   * @ignore internal: for tests
   */
  flush?(): Promise<void>;
  /** Stops listening. */
  close(): Promise<void>;
}

function parseHostPort(text: string): { hostname: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(text) ?? /^([^:]+):(\d+)$/.exec(text);
  const port = m ? Number(m[2]) : NaN;
  if (!m || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`bad listen address "${text}": want host:port`);
  }
  return { hostname: m[1], port };
}

/** What the control app serves and how it guards it. */
export interface ControlAppOptions {
  /** Bearer token for `/v1/*` (and for every route when `tokenEverywhere`); its characters as
   * {@link ControlServerOptions.token}'s. None: `/v1/*` answers requests over the socket only. */
  token?: TokenSource;
  /** The read-only monitoring token (`GET /status`, `GET /metrics`). */
  monitorToken?: TokenSource;
  /** Rotates the control token (`POST /v1/control/rotate-token`, over the socket only). */
  rotateToken?: () => Promise<void>;
  /** Require the token on every route (a non-loopback listener). */
  tokenEverywhere?: boolean;
  /** The mesh agent, for the token and node routes. */
  mesh?: MeshAgent;
  /** Ends the dashboard's event streams and the service subscribe streams (abort before
   * shutting the server down). */
  dashboardSignal?: AbortSignal;
  /** Leave the dashboard out. */
  noDashboard?: boolean;
  /**
   * Host names (of the `Host` header) served; others get 421 (a DNS-rebound name must not read
   * status). Absent: any host (a remote listener, where every route needs the token).
   */
  allowHost?: (host: string) => boolean;
  /** The `/status` document's cache, when the caller shares it (the API worker's bodies). */
  statusCache?: StatusCache;
}

/**
 * Builds the Hono app for an agent (exported for tests that call `app.request`): the guards
 * every request passes, in order (Referrer-Policy, Host, token, body size), then the status,
 * userspace, administration and service routes.
 */
export function controlApp(agent: Agent, opts: ControlAppOptions = {}): Hono {
  const app = new Hono();
  app.onError(errorHandler(CONTROL_ERROR_STATUS));
  app.notFound(notFound);

  useGuards(app, opts);
  app.use(limitBodies());
  // A web page can POST text/plain anywhere unasked; JSON from another origin needs a preflight.
  app.use("/v1/*", jsonOnly());

  const rotate = opts.rotateToken;
  app.post("/v1/control/rotate-token", async (c) => {
    // A token that leaked must not be able to rotate itself out of its owner's hands.
    if (!isLocal(c)) {
      throw new HttpError(403, "the control token rotates over the local socket only");
    }
    if (!rotate) throw new HttpError(404, "this agent has no control token to rotate");
    await rotate();
    return c.json({ rotated: true });
  });

  app.route("/v1", leaderRoutes(opts.mesh));
  app.route("/v1", subnetRoutes(opts.mesh));
  app.route("/v1", segmentRoutes(opts.mesh));
  app.route("/v1", prefsRoutes(opts.mesh));
  app.route("/v1", servicesRoutes(opts.mesh, { signal: opts.dashboardSignal }));
  app.route(
    "/",
    statusRoutes(agent, {
      dashboard: opts.dashboardSignal !== undefined || !opts.noDashboard,
      dashboardSignal: opts.dashboardSignal,
      mesh: opts.mesh ? () => opts.mesh!.meshStatus() : undefined,
      cache: opts.statusCache,
    }),
  );
  app.route("/v1", userspaceRoutes(agent, opts.mesh));
  return app;
}

/** A control listener bound ahead of its agent (see {@linkcode bindControl}). */
export interface BoundControl {
  /** The TCP listener. */
  readonly listener: Deno.TcpListener;
  /** The address is not loopback. */
  readonly remote: boolean;
  /** The listen host, lower case, without brackets. */
  readonly listenHost: string;
  /** The bound `host:port` (the port the system picked when asked for 0). */
  readonly address: string;
  /** Closes the listener (when the agent it was bound for never starts). */
  close(): void;
}

/**
 * Checks the control server's address and binds it, before anything else starts: a start that
 * fails on a taken status port then fails before it has written any state. Throws, naming the
 * address, when it cannot listen.
 */
export function bindControl(
  opts: Pick<ControlServerOptions, "listen" | "allowRemote"> = {},
): BoundControl {
  const { hostname, port } = parseHostPort(opts.listen ?? "127.0.0.1:51880");
  const remote = !isLoopback(hostname);
  if (remote) {
    if (!opts.allowRemote) {
      throw new Error(
        `status listen address ${hostname} is not loopback: pass --status-allow-remote to allow it`,
      );
    }
  }
  const listenHost = hostname.replace(/^\[|\]$/g, "").toLowerCase();
  const listener = listenTcp(
    hostname.replace(/^\[|\]$/g, ""),
    port,
    opts.listen ?? "127.0.0.1:51880",
  );
  const addr = listener.addr;
  return {
    listener,
    remote,
    listenHost,
    address: `${addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname}:${addr.port}`,
    close: () => {
      try {
        listener.close();
      } catch {
        // Already closed.
      }
    },
  };
}

/**
 * Starts the control server of an agent, what `weft status`, `weft ping` and the other commands
 * (and `@weft/weft/control`'s `ControlClient`) talk to: an `Agent`'s status, ping and userspace API, and
 * for a `MeshAgent` also its mesh administration and services. Throws, naming the address, when
 * it cannot listen. The example of `@weft/weft` serves a mesh agent's.
 *
 * Not `Deno.serve`: it accepts on its own, with no connection cap or request-head deadline, and
 * a failed accept (out of descriptors) rejects uncaught and ends the whole agent. Here our own
 * accept loop ({@linkcode guardListener}) counts failed accepts and caps connections, and a small
 * HTTP/1.1 layer ({@linkcode serveHttp1}) bounds heads, bodies and idle time.
 */
export function serveControl(
  target: Agent | MeshAgent,
  options: ControlServerOptions = {},
): ControlServer {
  const agent = target instanceof MeshAgent ? target.agent : target;
  const opts = target instanceof MeshAgent ? { ...options, mesh: target } : options;
  const bound = opts.bound ?? bindControl(opts);
  const { listener, remote } = bound;
  if (remote && !opts.token) {
    bound.close();
    throw new Error("a non-loopback status listener needs a token");
  }
  if (opts.apiWorker) return serveFromWorker(agent, opts, bound);
  let local: Deno.UnixListener | undefined;
  if (opts.socket !== undefined) {
    try {
      local = listenSocket(opts.socket);
    } catch (e) {
      bound.close();
      throw e;
    }
  }
  const { app, streams } = guardedApp(agent, opts, bound);
  const address = bound.address;
  const stats = newListenerStats();
  agent.listenerStats.http = stats;
  const guard = guardListener(listener, {
    name: "http",
    maxConnections: opts.maxConnections ?? 256,
    stats,
    logger: opts.logger ?? agent.logger,
    serve: (slot) =>
      serveHttp1(slot, app.fetch, {
        origin: address,
        headerTimeoutMs: opts.headerTimeoutMs,
        // The largest body any route takes; limitBodies holds each route to its own.
        maxBodyBytes: MAX_CALL_BODY_BYTES,
      }),
  });
  // The same app; LOCAL_ENV tells the guards the request came over the owner-only socket.
  const localGuard = local && guardListener(local, {
    name: "http",
    maxConnections: opts.maxConnections ?? 256,
    stats,
    logger: opts.logger ?? agent.logger,
    serve: (slot) =>
      serveHttp1(slot, (req) => app.fetch(req, LOCAL_ENV), {
        origin: "localhost",
        absoluteForm: true,
        headerTimeoutMs: opts.headerTimeoutMs,
        // The largest body any route takes; limitBodies holds each route to its own.
        maxBodyBytes: MAX_CALL_BODY_BYTES,
      }),
  });
  return {
    address,
    socket: local ? opts.socket : undefined,
    stats,
    ready: Promise.resolve(),
    close: async () => {
      // Open event streams would keep shutdown waiting.
      streams.abort();
      await Promise.all([guard.close(), localGuard?.close()]);
      // Deno unlinks a unix listener's path when it closes; this covers runtimes that do not.
      if (local) await Deno.remove(opts.socket!).catch(() => {});
    },
  };
}

/**
 * The control app over `bound`'s listener, with its token (rotated one at a time) and the host
 * check a loopback listener needs; `rotated` is told each new token before the rotation answers.
 */
function guardedApp(
  agent: Agent,
  opts: ControlServerOptions,
  bound: BoundControl,
  extra: { statusCache?: StatusCache; rotated?: (token: string | undefined) => void } = {},
): { app: Hono; streams: AbortController } {
  let token = opts.token;
  const rotateToken = opts.rotateToken;
  // One rotation at a time: the token in force is always the one the last write left on disk.
  let rotating: Promise<void> = Promise.resolve();
  const streams = new AbortController();
  const app = controlApp(agent, {
    token: () => token,
    monitorToken: opts.monitorToken,
    rotateToken: rotateToken && (() =>
      rotating = rotating.catch(() => {}).then(async () => {
        token = await rotateToken();
        extra.rotated?.(token);
      })),
    tokenEverywhere: bound.remote,
    mesh: opts.mesh,
    dashboardSignal: streams.signal,
    // A loopback listener answers to loopback names only: a DNS-rebound name is refused. It stays
    // so with --status-allow-remote, which only allows a listener that is not loopback.
    allowHost: bound.remote ? undefined : loopbackNames(bound.listenHost),
    statusCache: extra.statusCache,
  });
  return { app, streams };
}

/**
 * {@link serveControl} with `apiWorker`: the listeners move to the API worker (this thread's is
 * closed and the worker binds the same address), which serves the hot reads and forwards the rest
 * to the same app as here.
 */
function serveFromWorker(
  agent: Agent,
  opts: ControlServerOptions,
  bound: BoundControl,
): ControlServer {
  const { remote, listenHost } = bound;
  const mesh = opts.mesh;
  const statusCache = new StatusCache(agent, mesh ? () => mesh.meshStatus() : undefined);
  const { app, streams } = guardedApp(agent, opts, bound, {
    statusCache,
    // Before the rotation's answer: the worker refuses the old token from then on too.
    rotated: (token) => front.setToken(token),
  });
  const stats = newListenerStats();
  agent.listenerStats.http = stats;
  const addr = bound.listener.addr;
  // The worker binds it again: a listener cannot move between threads. Another program that
  // takes the port in between fails the worker's bind, and so the start (`ready` rejects), as a
  // port taken before the start does.
  bound.close();
  const front = startApiWorker({
    fetch: (req, env) => app.fetch(req, env as object | undefined),
    listen: {
      hostname: addr.hostname,
      port: addr.port,
      origin: bound.address,
      socket: opts.socket,
      remote,
      listenHost,
      token: opts.token,
      monitorToken: opts.monitorToken,
      maxConnections: opts.maxConnections ?? 256,
      headerTimeoutMs: opts.headerTimeoutMs,
      maxBodyBytes: MAX_CALL_BODY_BYTES,
    },
    nodes: mesh && {
      view: () => mesh.view(),
      members: (v) => (v as ReturnType<MeshAgent["view"]>).members.length,
      gzip: (v) => nodesGzip(v as ReturnType<MeshAgent["view"]>),
    },
    status: statusCache,
    stats,
    logger: opts.logger ?? agent.logger,
  });
  return {
    address: bound.address,
    socket: opts.socket,
    stats,
    ready: front.ready,
    flush: () => front.flush(),
    close: async () => {
      streams.abort();
      await front.close();
    },
  };
}
