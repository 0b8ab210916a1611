/**
 * The agent's HTTP server (Hono): status for people and scripts, and the control routes the CLI
 * uses (ping, datagrams). Handlers stay thin: they validate input and call the agent.
 * @module
 */

import { Hono } from "hono";
import type { Context } from "hono";
import { bodyLimit } from "hono/body-limit";
import { createHash, timingSafeEqual } from "node:crypto";
import type { Agent } from "../agent/agent.ts";
import type { MeshAgent } from "../mesh/mesh_agent.ts";
import { LeaderError, TOKEN_TTL_RANGE_MS } from "../mesh/leader.ts";
import { grantedLabelsProblem } from "../members/labels.ts";
import { quote } from "../text/quote.ts";
import { parseDuration } from "../text/duration.ts";
import { compilePolicyText } from "../mesh/policy_source.ts";
import { PolicyError } from "../policy/schema.ts";
import { decodeBase64, encodeBase64 } from "../crypto/base64.ts";
import { METRICS_CONTENT_TYPE, renderMetrics } from "../status/metrics.ts";
import { dashboardRoutes } from "../status/dashboard.ts";
import { guardListener, type ListenerStats, newListenerStats } from "../net/conn_guard.ts";
import { BodyTooLargeError, serveHttp1 } from "./http1.ts";
import type { Logger } from "../log/logger.ts";

/** Options of the control server. */
export interface ControlServerOptions {
  /** `host:port` to listen on. Default `127.0.0.1:51880`; port 0 picks a free one. */
  listen?: string;
  /** Allow a non-loopback listen address (every route then needs the token). */
  allowRemote?: boolean;
  /** A bearer token that the control routes (`/v1/*`) require. */
  token?: string;
  /** The mesh agent, for the token and node routes. */
  mesh?: MeshAgent;
  /** Most connections open at once (default 256); at the cap the oldest idle one is closed. */
  maxConnections?: number;
  /** Ms allowed for a request head, and for an idle keep-alive connection (default 10000). */
  headerTimeoutMs?: number;
  /** Where accept errors are logged. */
  logger?: Logger;
}

/** A running control server. */
export interface ControlServer {
  /** The bound `host:port`. */
  readonly address: string;
  /** Its listener's counters (also in the agent's /metrics as `listener="http"`). */
  readonly stats: ListenerStats;
  /** Stops listening. */
  close(): Promise<void>;
}

class HttpError extends Error {
  constructor(readonly status: 400 | 401 | 404 | 409 | 422 | 503, message: string) {
    super(message);
  }
}

function parseHostPort(text: string): { hostname: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(text) ?? /^([^:]+):(\d+)$/.exec(text);
  const port = m ? Number(m[2]) : NaN;
  if (!m || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`bad listen address "${text}": want host:port`);
  }
  return { hostname: m[1], port };
}

function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\./.test(host);
}

/** The host name of a `Host` header (brackets and port taken off, lower case), or null. */
function hostOfHeader(value: string): string | null {
  const m = /^\[([0-9a-fA-F:.]+)\](?::\d{1,5})?$/.exec(value) ??
    /^([^:\[\]]+)(?::\d{1,5})?$/.exec(value);
  return m ? m[1].toLowerCase().replace(/\.$/, "") : null;
}

/** The largest request body (the policy text is the largest thing posted). */
export const MAX_BODY_BYTES = 1 << 20;
/** JSON nested deeper than this is refused before it is parsed. */
export const MAX_JSON_DEPTH = 32;
/** Error messages (which may echo input) are cut to this many characters. */
const MAX_ERROR_CHARS = 200;

function clip(text: string): string {
  return text.length > MAX_ERROR_CHARS ? text.slice(0, MAX_ERROR_CHARS) + "…" : text;
}

/** The deepest nesting of arrays and objects in JSON text (strings skipped), stopping past max. */
function jsonDepth(text: string, max: number): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (inString) {
      if (ch === 0x5c) i++; // backslash: skip the escaped character
      else if (ch === 0x22) inString = false;
    } else if (ch === 0x22) inString = true;
    else if (ch === 0x5b || ch === 0x7b) {
      if (++depth > deepest && (deepest = depth) > max) return deepest;
    } else if (ch === 0x5d || ch === 0x7d) depth--;
  }
  return deepest;
}

function digest(text: string): Buffer {
  return createHash("sha256").update(text).digest();
}

/** Compares a presented token with ours in time independent of where they differ. */
function tokenMatches(given: string | undefined, expected: Buffer): boolean {
  return given !== undefined && timingSafeEqual(digest(given), expected);
}

async function jsonBody(c: Context): Promise<Record<string, unknown>> {
  let body: unknown;
  try {
    const text = await c.req.text();
    // Parsing deeply nested input costs far more than its size suggests: refuse it unparsed.
    if (jsonDepth(text, MAX_JSON_DEPTH) > MAX_JSON_DEPTH) {
      throw new HttpError(400, `JSON nested deeper than ${MAX_JSON_DEPTH} levels`);
    }
    body = JSON.parse(text);
  } catch (e) {
    if (e instanceof HttpError) throw e;
    throw new HttpError(400, "body must be a JSON object");
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new HttpError(400, "body must be a JSON object");
  }
  return body as Record<string, unknown>;
}

function intField(
  body: Record<string, unknown>,
  name: string,
  min: number,
  max: number,
  dflt?: number,
): number {
  const v = body[name] ?? dflt;
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    throw new HttpError(400, `${name} must be an integer from ${min} to ${max}`);
  }
  return v;
}

function stringField(body: Record<string, unknown>, name: string): string {
  const v = body[name];
  if (typeof v !== "string" || v.length === 0) {
    throw new HttpError(400, `${name} must be a non-empty string`);
  }
  return v;
}

/** What the control app serves and how it guards it. */
export interface ControlAppOptions {
  /** Bearer token for `/v1/*` (and for every route when `tokenEverywhere`). */
  token?: string;
  /** Require the token on every route (a non-loopback listener). */
  tokenEverywhere?: boolean;
  /** The mesh agent, for the token and node routes. */
  mesh?: MeshAgent;
  /** Ends the dashboard's event streams (abort before shutting the server down). */
  dashboardSignal?: AbortSignal;
  /** Leave the dashboard out. */
  noDashboard?: boolean;
  /**
   * Host names (of the `Host` header) served; others get 421 (a DNS-rebound name must not read
   * status). Absent: any host (a remote listener, where every route needs the token).
   */
  allowHost?: (host: string) => boolean;
}

/** Most `/v1/recv` streams open at once. */
const MAX_RECV_STREAMS = 64;

/** The routes whose GET may carry the token as `?token=` (the dashboard and what it loads). */
const QUERY_TOKEN_PATHS = new Set(["/", "/status", "/events"]);

/** Builds the Hono app for an agent (exported for tests that call `app.request`). */
export function controlApp(agent: Agent, opts: ControlAppOptions = {}): Hono {
  const app = new Hono();
  const token = opts.token;
  const mesh = opts.mesh;
  let recvStreams = 0;

  app.onError((err, c) => {
    if (err instanceof HttpError) return c.json({ error: clip(err.message) }, err.status);
    if (err instanceof LeaderError) return c.json({ error: clip(err.message) }, 409);
    if (err instanceof BodyTooLargeError) return c.json({ error: err.message }, 413);
    return c.json({ error: clip(err instanceof Error ? err.message : String(err)) }, 500);
  });

  app.use("*", async (c, next) => {
    // A page elsewhere that leaks no URL cannot leak a ?token= in it either.
    c.header("referrer-policy", "no-referrer");
    const allowHost = opts.allowHost;
    const hostHeader = c.req.header("host");
    if (allowHost && hostHeader !== undefined) {
      const host = hostOfHeader(hostHeader);
      if (host === null || !allowHost(host)) {
        return c.json({ error: "this server answers only to its loopback names" }, 421);
      }
    }
    await next();
    c.res.headers.set("referrer-policy", "no-referrer");
  });

  if (token) {
    const expected = digest(`Bearer ${token}`);
    const expectedQuery = digest(token);
    app.use(opts.tokenEverywhere ? "*" : "/v1/*", async (c, next) => {
      // Browsers' EventSource cannot send headers: the dashboard's GETs may pass ?token=.
      const queryOk = c.req.method === "GET" && QUERY_TOKEN_PATHS.has(c.req.path) &&
        tokenMatches(c.req.query("token"), expectedQuery);
      if (!queryOk && !tokenMatches(c.req.header("authorization"), expected)) {
        throw new HttpError(401, "missing or wrong bearer token");
      }
      await next();
    });
  }
  app.use(
    "*",
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: (c) => c.json({ error: `request body over ${MAX_BODY_BYTES} bytes` }, 413),
    }),
  );

  const needMesh = (): MeshAgent => {
    if (!mesh) throw new HttpError(404, "this agent is not part of a managed mesh");
    return mesh;
  };
  const needLeader = (): MeshAgent => {
    const m = needMesh();
    if (m.role !== "leader") throw new HttpError(409, "this node is not the leader");
    return m;
  };

  app.get("/v1/nodes", (c) => {
    const m = needMesh();
    return c.json({
      version: m.view().version,
      network: m.view().network,
      nodes: m.view().members,
    });
  });
  app.delete("/v1/nodes/:id", async (c) => {
    const removed = await needLeader().removeNode(c.req.param("id"));
    return c.json({ removed });
  });
  app.get("/v1/tokens", (c) => c.json({ tokens: needLeader().leader!.listTokens() }));
  app.post("/v1/tokens", async (c) => {
    const leader = needLeader();
    const body = await jsonBody(c);
    let ttlMs = 24 * 3_600_000;
    if (body.ttl !== undefined) {
      if (typeof body.ttl !== "string") throw new HttpError(400, "ttl must be a string like 24h");
      try {
        ttlMs = parseDuration(body.ttl);
      } catch (e) {
        throw new HttpError(400, (e as Error).message);
      }
      if (ttlMs < TOKEN_TTL_RANGE_MS.min || ttlMs > TOKEN_TTL_RANGE_MS.max) {
        throw new HttpError(400, `ttl ${quote(body.ttl)} is out of range: from 1s to 365d`);
      }
    }
    const uses = body.uses === undefined || body.uses === null
      ? null
      : intField(body, "uses", 1, 1_000_000);
    const labels = body.labels ?? {};
    // The same check as `weft token create --label` and the leader's own labels.
    const labelProblem = grantedLabelsProblem(labels);
    if (labelProblem !== undefined) throw new HttpError(400, labelProblem);
    const t = await leader.createToken({ ttlMs, uses, labels: labels as Record<string, string> });
    return c.json({ ...t, expiresAt: new Date(t.expiresAt).toISOString() }, 201);
  });
  app.get("/v1/policy", (c) => {
    const m = needMesh();
    return c.json({
      version: m.policy?.version ?? 0,
      text: m.policy?.text ?? "",
      stats: m.policyFilter.stats(),
    });
  });
  app.post("/v1/policy", async (c) => {
    const leader = needLeader();
    const body = await jsonBody(c);
    const text = stringField(body, "text");
    let canonical: string;
    try {
      canonical = compilePolicyText(text).canonical;
    } catch (e) {
      if (e instanceof PolicyError) throw new HttpError(400, `policy rejected: ${e.message}`);
      throw e;
    }
    const version = await leader.applyPolicy(canonical);
    return c.json({ version });
  });
  app.post("/v1/policy/test", async (c) => {
    const m = needMesh();
    const body = await jsonBody(c);
    const proto = body.proto ?? "tcp";
    if (!["tcp", "udp", "icmp", "any"].includes(proto as string)) {
      throw new HttpError(400, "proto must be tcp, udp, icmp or any");
    }
    const port = body.port === undefined ? undefined : intField(body, "port", 0, 65535);
    if ((proto === "tcp" || proto === "udp") && port === undefined) {
      throw new HttpError(400, "port is required for tcp and udp");
    }
    try {
      return c.json(m.policyFilter.explain({
        from: stringField(body, "from"),
        to: stringField(body, "to"),
        proto: proto as "tcp" | "udp" | "icmp" | "any",
        port,
      }));
    } catch (e) {
      throw new HttpError(400, e instanceof Error ? e.message : String(e));
    }
  });
  app.delete("/v1/tokens/:id", async (c) => {
    await needLeader().leader!.revokeToken(c.req.param("id"));
    return c.json({ revoked: c.req.param("id") });
  });

  app.get("/healthz", (c) => c.text("ok\n"));
  app.get(
    "/metrics",
    (c) => c.body(renderMetrics(agent.metrics()), 200, { "content-type": METRICS_CONTENT_TYPE }),
  );
  app.get("/status", (c) => c.json(agent.status()));
  app.get("/peers", (c) => c.json(agent.status().peers));
  app.get("/peers/:key", (c) => {
    let key: string;
    try {
      key = decodeURIComponent(c.req.param("key")).replaceAll("-", "+").replaceAll("_", "/");
    } catch {
      throw new HttpError(400, "the peer key is not valid percent-encoding");
    }
    const peer = agent.status().peers.find((p) => p.publicKey === key);
    if (!peer) throw new HttpError(404, "no such peer");
    return c.json(peer);
  });

  app.post("/v1/ping", async (c) => {
    const body = await jsonBody(c);
    const address = stringField(body, "address");
    const count = intField(body, "count", 1, 100, 1);
    const timeoutMs = intField(body, "timeoutMs", 1, 60_000, 1000);
    return c.json(await agent.ping(address, { count, timeoutMs }));
  });

  app.post("/v1/send", async (c) => {
    const body = await jsonBody(c);
    const address = stringField(body, "address");
    const port = intField(body, "port", 1, 65535);
    const fromPort = body.fromPort === undefined ? undefined : intField(body, "fromPort", 1, 65535);
    let data: Uint8Array;
    if (typeof body.base64 === "string") {
      const d = decodeBase64(body.base64);
      if (!d) throw new HttpError(400, "base64 is not valid base64");
      data = d;
    } else if (typeof body.text === "string") {
      data = new TextEncoder().encode(body.text);
    } else throw new HttpError(400, "give the payload as text or base64");
    try {
      agent.send(address, port, data, fromPort);
    } catch (e) {
      throw new HttpError(422, e instanceof Error ? e.message : String(e));
    }
    return c.json({ sent: data.length });
  });

  // A stream of received datagrams as NDJSON, until `count` arrived or the client goes away.
  app.get("/v1/recv", (c) => {
    const port = Number(c.req.query("port"));
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new HttpError(400, "port must be an integer from 1 to 65535");
    }
    const countText = c.req.query("count");
    const count = countText === undefined ? Infinity : Number(countText);
    if (!(count >= 1)) throw new HttpError(400, "count must be a positive integer");
    // Streams last as long as their client wants: bounded, so they cannot take every connection.
    if (recvStreams >= MAX_RECV_STREAMS) {
      throw new HttpError(503, `more than ${MAX_RECV_STREAMS} receive streams open`);
    }
    recvStreams++;
    let ended = false;
    const end = () => {
      if (!ended) recvStreams--;
      ended = true;
    };
    let sub: { close(): void } | undefined;
    const enc = new TextEncoder();
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        let got = 0;
        try {
          sub = agent.listen(port, (d) => {
            const line = JSON.stringify({
              address: d.address,
              port: d.port,
              base64: encodeBase64(d.data),
            }) + "\n";
            controller.enqueue(enc.encode(line));
            if (++got >= count) {
              sub?.close();
              end();
              controller.close();
            }
          });
        } catch (e) {
          end();
          controller.error(e);
        }
        // An empty line tells the client the listener is in place.
        controller.enqueue(enc.encode("\n"));
      },
      cancel() {
        sub?.close();
        end();
      },
    });
    return new Response(stream, { headers: { "content-type": "application/x-ndjson" } });
  });

  if (opts.dashboardSignal !== undefined || !opts.noDashboard) {
    app.route(
      "/",
      dashboardRoutes(() => agent.status(), (fn) => agent.health.subscribe(fn), {
        signal: opts.dashboardSignal,
      }),
    );
  }

  // A known path with the wrong method is 405, not 404.
  const routes: [string, RegExp][] = [
    ["GET", /^\/(healthz|metrics|status|peers(\/[^/]+)?|events|)$/],
    ["POST", /^\/v1\/(ping|send|tokens|policy|policy\/test)$/],
    ["GET", /^\/v1\/(recv|nodes|tokens|policy)$/],
    ["DELETE", /^\/v1\/(nodes|tokens)\/[^/]+$/],
  ];
  app.notFound((c) => {
    const known = routes.filter(([, re]) => re.test(c.req.path)).map(([m]) => m);
    if (known.length && !known.includes(c.req.method)) {
      return c.json({ error: clip(`${c.req.method} is not allowed on ${c.req.path}`) }, 405, {
        allow: [...new Set(known)].join(", "),
      });
    }
    return c.json({ error: clip(`no route ${c.req.method} ${c.req.path}`) }, 404);
  });

  return app;
}

/**
 * Starts the control server of an agent; throws, naming the address, when it cannot listen.
 *
 * Not `Deno.serve`: it accepts on its own, with no connection cap or request-head deadline, and
 * a failed accept (out of descriptors) rejects uncaught and ends the whole agent. Here our own
 * accept loop ({@linkcode guardListener}) counts failed accepts and caps connections, and a small
 * HTTP/1.1 layer ({@linkcode serveHttp1}) bounds heads, bodies and idle time.
 */
export function serveControl(agent: Agent, opts: ControlServerOptions = {}): ControlServer {
  const { hostname, port } = parseHostPort(opts.listen ?? "127.0.0.1:51880");
  const remote = !isLoopback(hostname);
  if (remote) {
    if (!opts.allowRemote) {
      throw new Error(
        `status listen address ${hostname} is not loopback: pass --status-allow-remote to allow it`,
      );
    }
    if (!opts.token) throw new Error("a non-loopback status listener needs a token");
  }
  const listenHost = hostname.replace(/^\[|\]$/g, "").toLowerCase();
  const streams = new AbortController();
  const app = controlApp(agent, {
    token: opts.token,
    tokenEverywhere: remote,
    mesh: opts.mesh,
    dashboardSignal: streams.signal,
    // A loopback listener answers to loopback names only: a DNS-rebound name is refused.
    allowHost: opts.allowRemote
      ? undefined
      : (h) => h === listenHost || isLoopback(h) || h === "[::1]",
  });
  let listener: Deno.TcpListener;
  try {
    listener = Deno.listen({ transport: "tcp", hostname: hostname.replace(/^\[|\]$/g, ""), port });
  } catch (e) {
    throw new Error(
      `the status server cannot listen on ${opts.listen ?? "127.0.0.1:51880"}: ${
        e instanceof Error ? e.message : String(e)
      }`,
      { cause: e },
    );
  }
  const addr = listener.addr;
  const host = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
  const address = `${host}:${addr.port}`;
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
        maxBodyBytes: MAX_BODY_BYTES,
      }),
  });
  return {
    address,
    stats,
    close: () => {
      // Open event streams would keep shutdown waiting.
      streams.abort();
      return guard.close();
    },
  };
}
