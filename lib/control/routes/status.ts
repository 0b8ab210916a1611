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

/** Peers past which `/status` is served again (for up to LARGE_STATUS_REUSE_MS) once built. */
export const LARGE_STATUS_PEERS = 1000;
/** How long a large `/status` document is served again, ms. */
export const LARGE_STATUS_REUSE_MS = 1000;
/**
 * How long a large `/status` document is served at most, ms: past LARGE_STATUS_REUSE_MS it is
 * still served while the next is built in a later turn, so a client polling is not kept waiting
 * for the build.
 */
export const LARGE_STATUS_STALE_MS = 3000;

/** What the status routes read of the agent. */
export type StatusSource = Pick<Agent, "status" | "metrics" | "health">;

/** Options of {@link statusRoutes}. */
export interface StatusRoutesOptions {
  /** Serve the dashboard (`/` and `/events`); default true. */
  dashboard?: boolean;
  /** Ends the dashboard's event streams (abort before shutting the server down). */
  dashboardSignal?: AbortSignal;
  /** The mesh view (a mesh leader's; null elsewhere): `/status` and the dashboard get `mesh`. */
  mesh?: () => MeshStatus | null;
}

/** The status routes of an agent, as a Hono app to mount at `/`. */
export function statusRoutes(agent: StatusSource, opts: StatusRoutesOptions = {}): Hono {
  const app = new Hono();
  app.get("/healthz", (c) => c.text("ok\n"));
  app.get(
    "/metrics",
    (c) => c.body(agent.metrics.render(), 200, { "content-type": METRICS_CONTENT_TYPE }),
  );
  // The status document, with the mesh view where there is one (the mesh leader).
  const status = () => {
    const doc = agent.status();
    const mesh = opts.mesh?.() ?? null;
    return mesh ? { ...doc, mesh } : doc;
  };
  // A large document (a leader of thousands of members: megabytes) is built at most once a
  // second: a dashboard or script polling it would otherwise keep the leader busy writing it.
  // And not while a request waits, if it can: at 10,000 members the build is 50 to 150 ms of the
  // leader's loop on a quiet machine (the peers' status, then the mesh view, then the text), some
  // 7 MB, and three times that under load (a `/status` p50 of 580 ms and p99 of 1.8 s during the
  // fleet bench's churn against the node list's 231 and 500): a request that finds the document
  // older than a second (younger than LARGE_STATUS_STALE_MS) is served it, and the next one is
  // built in a later turn.
  let reuse: { at: number; body: string } | null = null;
  let rebuild: ReturnType<typeof setTimeout> | undefined;
  const build = (): string => {
    const doc = status();
    const body = JSON.stringify(doc);
    reuse = doc.peers.length > LARGE_STATUS_PEERS ? { at: performance.now(), body } : null;
    return body;
  };
  const json = { "content-type": "application/json" };
  app.get("/status", (c) => {
    const age = reuse === null ? Infinity : performance.now() - reuse.at;
    if (reuse === null || age >= LARGE_STATUS_STALE_MS) return c.body(build(), 200, json);
    if (age >= LARGE_STATUS_REUSE_MS) {
      rebuild ??= setTimeout(() => {
        rebuild = undefined;
        try {
          build();
        } catch {
          // The agent is going (or failed to say its status): the next request builds it.
          reuse = null;
        }
      }, 0);
    }
    return c.body(reuse.body, 200, json);
  });
  app.get("/peers", (c) => c.json(agent.status().peers));
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
    const peer = agent.status().peers.find((p) => p.publicKey === key);
    if (!peer) throw new HttpError(404, "no such peer");
    return c.json(peer);
  });
  if (opts.dashboard ?? true) {
    app.route(
      "/",
      dashboardRoutes(status, (fn) => agent.health.subscribe(fn), {
        signal: opts.dashboardSignal,
      }),
    );
  }
  return answerWrongMethods(app);
}
