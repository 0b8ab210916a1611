/**
 * The agent's HTTP server (Hono): status for people and scripts, and the control routes the CLI
 * uses (ping, datagrams). Handlers stay thin: they validate input and call the agent.
 * @module
 */

import { Hono } from "hono";
import type { Context } from "hono";
import type { Agent } from "../agent/agent.ts";
import type { MeshAgent } from "../mesh/mesh_agent.ts";
import { LeaderError, TOKEN_TTL_RANGE_MS } from "../mesh/leader.ts";
import { grantedLabelsProblem } from "../mesh/labels.ts";
import { quote } from "../config/validate.ts";
import { compilePolicyText } from "../mesh/policy_source.ts";
import { PolicyError } from "../policy/schema.ts";
import { decodeBase64, encodeBase64 } from "./base64.ts";
import { METRICS_CONTENT_TYPE, renderMetrics } from "../status/metrics.ts";
import { dashboardRoutes } from "../status/dashboard.ts";

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
}

/** A running control server. */
export interface ControlServer {
  /** The bound `host:port`. */
  readonly address: string;
  /** Stops listening. */
  close(): Promise<void>;
}

class HttpError extends Error {
  constructor(readonly status: 400 | 401 | 404 | 409 | 422, message: string) {
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

async function jsonBody(c: Context): Promise<Record<string, unknown>> {
  let body: unknown;
  try {
    body = await c.req.json();
  } catch {
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
}

/** Parses `90s`, `15m`, `24h`, `7d` (or plain seconds) into ms. */
export function parseDuration(text: string): number {
  const m = /^(\d{1,15}(?:\.\d{1,15})?)(ms|s|m|h|d)?$/.exec(text.trim());
  if (!m) throw new Error(`bad duration ${quote(text)}: use e.g. 90s, 15m, 24h, 7d`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] ?? "s"]!;
  const ms = Number(m[1]) * unit;
  if (!(ms > 0)) throw new Error(`duration "${text}" must be positive`);
  return ms;
}

/** Builds the Hono app for an agent (exported for tests that call `app.request`). */
export function controlApp(agent: Agent, opts: ControlAppOptions = {}): Hono {
  const app = new Hono();
  const token = opts.token;
  const mesh = opts.mesh;

  app.onError((err, c) => {
    if (err instanceof HttpError) return c.json({ error: err.message }, err.status);
    if (err instanceof LeaderError) return c.json({ error: err.message }, 409);
    return c.json({ error: err instanceof Error ? err.message : String(err) }, 500);
  });

  if (token) {
    app.use(opts.tokenEverywhere ? "*" : "/v1/*", async (c, next) => {
      // Browsers' EventSource cannot send headers: the dashboard may pass ?token= instead.
      if (c.req.header("authorization") !== `Bearer ${token}` && c.req.query("token") !== token) {
        throw new HttpError(401, "missing or wrong bearer token");
      }
      await next();
    });
  }

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
    const key = decodeURIComponent(c.req.param("key")).replaceAll("-", "+").replaceAll("_", "/");
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
              controller.close();
            }
          });
        } catch (e) {
          controller.error(e);
        }
        // An empty line tells the client the listener is in place.
        controller.enqueue(enc.encode("\n"));
      },
      cancel() {
        sub?.close();
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
      return c.json({ error: `${c.req.method} is not allowed on ${c.req.path}` }, 405, {
        allow: [...new Set(known)].join(", "),
      });
    }
    return c.json({ error: `no route ${c.req.method} ${c.req.path}` }, 404);
  });

  return app;
}

/** Starts the control server of an agent; throws, naming the address, when it cannot listen. */
export function serveControl(agent: Agent, opts: ControlServerOptions = {}): ControlServer {
  const { hostname, port } = parseHostPort(opts.listen ?? "127.0.0.1:51880");
  if (!isLoopback(hostname)) {
    if (!opts.allowRemote) {
      throw new Error(
        `status listen address ${hostname} is not loopback: pass --status-allow-remote to allow it`,
      );
    }
    if (!opts.token) throw new Error("a non-loopback status listener needs a token");
  }
  const streams = new AbortController();
  const app = controlApp(agent, {
    token: opts.token,
    tokenEverywhere: !isLoopback(hostname),
    mesh: opts.mesh,
    dashboardSignal: streams.signal,
  });
  let server: Deno.HttpServer;
  try {
    server = Deno.serve({ hostname, port, onListen: () => {} }, app.fetch);
  } catch (e) {
    throw new Error(
      `the status server cannot listen on ${opts.listen ?? "127.0.0.1:51880"}: ${
        e instanceof Error ? e.message : String(e)
      }`,
      { cause: e },
    );
  }
  const addr = server.addr as Deno.NetAddr;
  const host = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
  return {
    address: `${host}:${addr.port}`,
    close: () => {
      // Open event streams would keep shutdown waiting.
      streams.abort();
      return server.shutdown();
    },
  };
}
