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
import {
  acceptsGzip,
  BODY_SLICE_MS,
  gzipAtOnce,
  gzipInSlices,
  peersJsonInSlices,
  statusBodyOf,
  turn,
} from "./status_body.ts";

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
  type Doc = ReturnType<Agent["status"]> & { mesh?: MeshStatus };
  const withMesh = (doc: ReturnType<Agent["status"]>, mesh: MeshStatus | null): Doc =>
    mesh ? { ...doc, mesh } : doc;
  // A large document (a leader of thousands of members: megabytes) is built at most once a
  // second: a dashboard or script polling it would otherwise keep the leader busy writing it.
  // And not while a request waits, if it can: at 10,000 members the build is 50 to 150 ms of the
  // leader's loop on a quiet machine (the peers' status, then the mesh view, then the text), some
  // 7 MB, and three times that under load: a request that finds the document older than a second
  // (younger than LARGE_STATUS_STALE_MS) is served it, and the next one is built in later turns,
  // a slice at a time (status_body.ts), and gzipped the same way for the clients that accept it
  // (fetch, `weft status`, browsers); the two are served from then on. A request that finds the
  // document past LARGE_STATUS_STALE_MS while the next is being built waits for it rather than
  // building one more at once (on a busy leader the turns are far apart: 7 MB built at once there
  // held the loop, and went out uncompressed, waiting for the socket to drain several times).
  // `/peers` and the dashboard's event streams read the same document (one build a period,
  // however many clients), its text made once for all of them.
  type Bytes = Uint8Array<ArrayBuffer>;
  type Built = {
    at: number;
    doc: Doc;
    body: Bytes | null;
    gzip: Bytes | null;
    peers: Bytes | null;
  };
  let reuse: Built | null = null;
  let rebuilding: Promise<void> | null = null;
  const enc = new TextEncoder();
  // The texts, made when first asked for: the whole and its peers' part at once for the document
  // kept (one writing a period for `/status`, `/peers` and the dashboards), else what is asked.
  const bodyOf = (b: Built): Bytes => {
    if (b.body !== null) return b.body;
    const text = statusBodyOf(b.doc.node, JSON.stringify(b.doc.peers), b.doc.mesh ?? null);
    if (b === reuse) b.peers = text.peers;
    return b.body = text.body;
  };
  const peersOf = (b: Built): Bytes => {
    if (b.peers !== null) return b.peers;
    if (b === reuse) bodyOf(b);
    return b.peers ??= enc.encode(JSON.stringify(b.doc.peers));
  };
  // `gzip`: the request waiting for it takes gzip. A large document built while a request waits
  // is then gzipped at once too: on a busy leader of 10,000 members the sliced build below
  // outlasted LARGE_STATUS_STALE_MS, so a request often found the document stale and had it built
  // at once, and its 7 MB went out plain, several writes each waiting for the loop to take the
  // socket's readiness (0.6 to 8.9 s in a traced run at load 12); gzipped (some 1.3 MB, tens of
  // ms more of the loop) it goes in one.
  const build = (gzip = false): Built => {
    const at = performance.now();
    const doc = withMesh(agent.status(), opts.mesh?.() ?? null);
    const built: Built = { at, doc, body: null, gzip: null, peers: null };
    reuse = doc.peers.length > LARGE_STATUS_PEERS ? built : null;
    if (reuse !== null && gzip) built.gzip = gzipAtOnce(bodyOf(built));
    else if (reuse !== null) {
      gzipInSlices(bodyOf(built)).then((gzip) => built.gzip = gzip).catch(() => {/* plain */});
    }
    return built;
  };
  const rebuild = async () => {
    await turn();
    const at = performance.now();
    const doc = agent.statusInSlices
      ? await agent.statusInSlices(turn, BODY_SLICE_MS)
      : agent.status();
    await turn();
    const mesh = opts.mesh?.() ?? null;
    await turn();
    const { body, peers } = statusBodyOf(doc.node, await peersJsonInSlices(doc.peers), mesh);
    if (doc.peers.length <= LARGE_STATUS_PEERS) return void (reuse = null);
    const gzip = await gzipInSlices(body);
    reuse = { at, doc: withMesh(doc, mesh), body, gzip, peers };
  };
  // The document to answer with now: the large one kept, or one built now (`gzip`: for a
  // request that takes gzip).
  const current = async (gzip = false): Promise<Built> => {
    const age = () => reuse === null ? Infinity : performance.now() - reuse.at;
    if (rebuilding !== null && age() >= LARGE_STATUS_STALE_MS) {
      // The newest there is once it is done, however long its slices took.
      await rebuilding;
      if (reuse !== null) return reuse;
    }
    if (reuse === null || age() >= LARGE_STATUS_STALE_MS) return build(gzip);
    if (age() >= LARGE_STATUS_REUSE_MS && rebuilding === null) {
      rebuilding = rebuild().catch(() => {
        // The agent is going (or failed to say its status): the next request builds it.
        reuse = null;
      }).finally(() => rebuilding = null);
    }
    return reuse;
  };
  const json = { "content-type": "application/json" };
  app.get("/status", async (c) => {
    const gzip = acceptsGzip(c.req.header("accept-encoding") ?? null);
    const built = await current(gzip);
    if (built !== reuse) return c.body(bodyOf(built), 200, json);
    const vary = { ...json, vary: "accept-encoding" };
    if (built.gzip !== null && gzip) {
      return c.body(built.gzip, 200, { ...vary, "content-encoding": "gzip" });
    }
    return c.body(bodyOf(built), 200, vary);
  });
  app.get("/peers", async (c) => c.body(peersOf(await current()), 200, json));
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
  const builtOf = new WeakMap<object, Built>();
  const dashboardStatus = async () => {
    const built = await current();
    builtOf.set(built.doc, built);
    return built.doc;
  };
  const statusJson = (doc: object) => {
    const built = builtOf.get(doc);
    return built === undefined ? undefined : bodyOf(built);
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
