/**
 * The read-only routes, for people and scripts: the dashboard (`/`, `/events`), `/status` (with
 * the mesh view on a mesh leader), `/peers`, `/peers/:key`, `/metrics` and `/healthz`.
 * @module
 */

import { Hono } from "npm:hono@^4.13.19";
import type { Agent } from "../../agent/agent.ts";
import { METRICS_CONTENT_TYPE } from "../../metrics/registry.ts";
import { dashboardRoutes } from "../../status/dashboard.ts";
import type { MeshStatus } from "../../status/mesh_status.ts";
import { HttpError } from "../middleware/errors.ts";
import { answerWrongMethods } from "../middleware/methods.ts";
import { acceptsGzip } from "./status_body.ts";
import { type BuiltStatus, StatusCache } from "./status_cache.ts";

export {
  LARGE_STATUS_PEERS,
  LARGE_STATUS_REUSE_MS,
  LARGE_STATUS_STALE_MS,
} from "./status_cache.ts";

/**
 * What the status routes read of the agent; `statusInSlices`, where there, builds a large
 * document without holding the event loop.
 */
export type StatusSource =
  & Pick<Agent, "status" | "peerStatus" | "metrics" | "health">
  & Partial<Pick<Agent, "statusInSlices">>;

/** Options of {@link statusRoutes}. */
export interface StatusRoutesOptions {
  /** Serve the dashboard (`/` and `/events`); default true. */
  dashboard?: boolean;
  /** Ends the dashboard's event streams (abort before shutting the server down). */
  dashboardSignal?: AbortSignal;
  /** The mesh view (a mesh leader's; null elsewhere): `/status` and the dashboard get `mesh`. */
  mesh?: () => MeshStatus | null;
  /** The document's cache, when the caller shares it (the API worker's bodies); else one of its own. */
  cache?: StatusCache;
}

/** The status routes of an agent, as a Hono app to mount at `/`. */
export function statusRoutes(agent: StatusSource, opts: StatusRoutesOptions = {}): Hono {
  const app = new Hono();
  app.get("/healthz", (c) => c.text("ok\n"));
  app.get(
    "/metrics",
    // A stream of chunks: the page (tens of MiB at 10,000 peers) is never one string or one buffer.
    (c) => c.body(agent.metrics.renderStream(), 200, { "content-type": METRICS_CONTENT_TYPE }),
  );
  // The document, kept while large (status_cache.ts says when it is built).
  const cache = opts.cache ?? new StatusCache(agent, opts.mesh);
  const json = { "content-type": "application/json" };
  app.get("/status", async (c) => {
    const gzip = acceptsGzip(c.req.header("accept-encoding") ?? null);
    const built = await cache.current(gzip);
    if (!cache.isKept(built)) return c.body(cache.body(built), 200, json);
    const vary = { ...json, vary: "accept-encoding" };
    if (built.gzip !== null && gzip) {
      return c.body(built.gzip, 200, { ...vary, "content-encoding": "gzip" });
    }
    return c.body(cache.body(built), 200, vary);
  });
  app.get("/peers", async (c) => {
    const built = await cache.current();
    if (!cache.isKept(built)) return c.body(cache.peers(built), 200, json);
    const vary = { ...json, vary: "accept-encoding" };
    if (acceptsGzip(c.req.header("accept-encoding") ?? null)) {
      const gzip = await cache.peersGzip(built);
      if (gzip !== null) return c.body(gzip, 200, { ...vary, "content-encoding": "gzip" });
    }
    return c.body(cache.peers(built), 200, vary);
  });
  app.get("/peers/:key", (c) => {
    let key: string;
    try {
      // The key comes in base64url (path-safe) or in percent-encoded base64.
      key = decodeURIComponent(c.req.param("key")).replaceAll("-", "+").replaceAll("_", "/");
      // base64url usually drops the padding (a 32-byte key: 43 characters, then one "=").
      if (!key.endsWith("=")) key += "=".repeat((4 - key.length % 4) % 4);
    } catch {
      throw new HttpError(400, "the peer key is not valid percent-encoding");
    }
    // One peer's record, not every peer's (the whole document is tens of ms at 10,000).
    const peer = agent.peerStatus(key);
    if (!peer) throw new HttpError(404, "no such peer");
    return c.json(peer);
  });
  // The dashboard's streams share the document and its text (a status event is `data: <body>`).
  const builtOf = new WeakMap<object, BuiltStatus>();
  const dashboardStatus = async () => {
    const built = await cache.current();
    builtOf.set(built.doc, built);
    return built.doc;
  };
  const statusJson = (doc: object) => {
    const built = builtOf.get(doc);
    return built === undefined ? undefined : cache.body(built);
  };
  if (opts.dashboard ?? true) {
    app.route(
      "/",
      dashboardRoutes(dashboardStatus, (fn) => agent.health.subscribe(fn), {
        signal: opts.dashboardSignal,
        statusJson,
      }),
    );
  }
  return answerWrongMethods(app);
}
