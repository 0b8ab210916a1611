/**
 * The agent's HTTP server (Hono): status for people and scripts, and the control routes the CLI
 * uses (ping, datagrams). Handlers stay thin: they validate input and call the agent.
 * @module
 */

import { Hono } from "hono";
import type { Context } from "hono";
import type { Agent } from "../agent/agent.ts";
import { decodeBase64, encodeBase64 } from "./base64.ts";

/** Options of the control server. */
export interface ControlServerOptions {
  /** `host:port` to listen on. Default `127.0.0.1:51880`; port 0 picks a free one. */
  listen?: string;
  /** Allow a non-loopback listen address (every route then needs the token). */
  allowRemote?: boolean;
  /** A bearer token that the control routes require; none: loopback-only, no token. */
  token?: string;
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

/** Builds the Hono app for an agent (exported for tests that call `app.request`). */
export function controlApp(agent: Agent, token?: string): Hono {
  const app = new Hono();

  app.onError((err, c) => {
    if (err instanceof HttpError) return c.json({ error: err.message }, err.status);
    return c.json({ error: err instanceof Error ? err.message : String(err) }, 500);
  });
  app.notFound((c) => c.json({ error: `no route ${c.req.method} ${c.req.path}` }, 404));

  if (token) {
    app.use("/v1/*", async (c, next) => {
      if (c.req.header("authorization") !== `Bearer ${token}`) {
        throw new HttpError(401, "missing or wrong bearer token");
      }
      await next();
    });
  }

  app.get("/healthz", (c) => c.text("ok\n"));
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

  return app;
}

/** Starts the control server of an agent. */
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
  const app = controlApp(agent, opts.token);
  const server = Deno.serve({ hostname, port, onListen: () => {} }, app.fetch);
  const addr = server.addr as Deno.NetAddr;
  const host = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
  return {
    address: `${host}:${addr.port}`,
    close: () => server.shutdown(),
  };
}
