/**
 * Mesh administration, mounted at `/v1`: members (`/v1/nodes`), removed members' held names
 * (`/v1/names`), join tokens (`/v1/tokens`) and
 * the network policy (`/v1/policy`, `/v1/policy/test`). Reads work on any mesh node; changes
 * only on the leader (409 elsewhere), and an agent outside a mesh answers 404.
 * @module
 */

import { Hono } from "npm:hono@^4.13.19";
import type { MeshAgent } from "../../mesh/mesh_agent.ts";
import { recordJson } from "../../mesh/state/leader_json.ts";
import { gzipSync } from "node:zlib";
import { acceptsGzip } from "./status_body.ts";
import { VIEW_AGE_HEADER } from "./view_age.ts";
import {
  type GrantChange,
  grantChangeProblem,
  TOKEN_TTL_RANGE_MS,
} from "../../mesh/leader/core.ts";
import { grantedLabelsProblem } from "../../members/labels.ts";
import { grantedServicesProblem } from "../../members/services.ts";
import { formatProblem, MAX_PROBLEMS_SHOWN, PolicyError } from "../../policy/schema.ts";
import { explainCall } from "../../policy/calls.ts";
import { quote } from "../../text/quote.ts";
import { clip, HttpError } from "../middleware/errors.ts";
import { intField, jsonBody, stringField } from "../middleware/body.ts";
import { answerWrongMethods } from "../middleware/methods.ts";
import { parseDuration } from "../../text/duration.ts";
import { parseApprovals } from "../../routes/prefixes.ts";

/** A node list longer than this (bytes of JSON) goes gzipped to clients that accept it. */
export const GZIP_NODES_OVER = 256 * 1024;

/**
 * The node list's JSON (`GET /v1/nodes`) of a view. Each record's JSON is made once (records are
 * replaced, never edited) and shared with the leader's store writes: at 10,000 members the list
 * is a join of cached texts, not the 10 to 55 ms of serialising every record at each request
 * while the leader is busiest.
 */
export function nodesJson(view: ReturnType<MeshAgent["view"]>): string {
  const head = JSON.stringify({ version: view.version, network: view.network }).slice(0, -1);
  return `${head},"nodes":[${view.members.map(recordJson).join(",")}]}`;
}

// The gzipped node list of each view, made once for the route and the API worker's body.
const zippedNodes = new WeakMap<object, Uint8Array<ArrayBuffer>>();
const encoder = new TextEncoder();
// The list's UTF-8 for the gzip, in one buffer kept from list to list and written record by
// record from their cached texts: the list as one string and then as new bytes was 5.6 MB of
// garbage a list at 10,000 members (the string, alive across the gzip's scavenges, promoted to
// the old generation), made twice a second during churn.
let scratch = new Uint8Array(0);

/** The node list's JSON (as {@link nodesJson}) as UTF-8 in the kept buffer, valid until the next. */
function nodesUtf8(view: ReturnType<MeshAgent["view"]>): Uint8Array {
  let at = 0;
  const put = (text: string) => {
    for (;;) {
      const { read, written } = encoder.encodeInto(text, scratch.subarray(at));
      if (read === text.length) return void (at += written);
      // Full: a buffer twice as large, what is written so far kept, the text again.
      const more = new Uint8Array(Math.max(64 * 1024, scratch.length * 2, at + text.length * 3));
      more.set(scratch.subarray(0, at));
      scratch = more;
    }
  };
  put(JSON.stringify({ version: view.version, network: view.network }).slice(0, -1));
  put(`,"nodes":[`);
  view.members.forEach((m, i) => {
    if (i > 0) put(",");
    put(recordJson(m));
  });
  put("]}");
  return scratch.subarray(0, at);
}

/**
 * The node list of a view gzipped (level 1), made once a view (held while the view is): at
 * 10,000 members some 0.9 MB, 30 to 100 ms of the leader's loop.
 */
export function nodesGzip(view: ReturnType<MeshAgent["view"]>): Uint8Array<ArrayBuffer> {
  return zippedNodes.get(view) ?? gzipNodes(view, nodesUtf8(view));
}

/** {@link nodesGzip} of the list's UTF-8 just made. */
function gzipNodes(view: object, utf8: Uint8Array): Uint8Array<ArrayBuffer> {
  let gz = zippedNodes.get(view);
  if (gz === undefined) {
    const z = gzipSync(utf8, { level: 1 });
    gz = new Uint8Array(z.buffer as ArrayBuffer, z.byteOffset, z.byteLength);
    zippedNodes.set(view, gz);
  }
  return gz;
}

/** What the administration routes use of the mesh agent. */
export type MeshAdmin = Pick<
  MeshAgent,
  | "role"
  | "leader"
  | "view"
  | "removeNode"
  | "freeName"
  | "setNodeGrants"
  | "createToken"
  | "policy"
  | "policyFilter"
  | "applyPolicy"
>;

/** The administration routes, as a Hono app to mount at `/v1`; `mesh` absent outside a mesh. */
export function leaderRoutes(mesh: MeshAdmin | undefined): Hono {
  const app = new Hono();
  const needMesh = (): MeshAdmin => {
    if (!mesh) throw new HttpError(404, "this agent is not part of a managed mesh");
    return mesh;
  };
  const needLeader = (): MeshAdmin => {
    const m = needMesh();
    if (m.role !== "leader") throw new HttpError(409, "this node is not the leader");
    return m;
  };

  // The node list of each view, gzipped once for the clients that accept it (fetch, browsers,
  // `weft node list`): at 10,000 members it is 2.8 MB, which a busy leader wrote in several waits
  // for the socket to drain (300 to 560 ms); gzipped, 0.9 MB in one write, for 6 to 30 ms once.
  app.get("/nodes", (c) => {
    const view = needMesh().view();
    const json = {
      "content-type": "application/json",
      vary: "accept-encoding",
      [VIEW_AGE_HEADER]: "0",
    };
    const gzip = acceptsGzip(c.req.header("accept-encoding") ?? null);
    const zipped = { ...json, "content-encoding": "gzip" };
    if (!gzip) return c.body(nodesJson(view), 200, json);
    // Made already (for an earlier request or the API worker's body): served as it is.
    const cached = zippedNodes.get(view);
    if (cached) return c.body(cached, 200, zipped);
    const utf8 = nodesUtf8(view);
    if (utf8.length < GZIP_NODES_OVER) return c.body(utf8.slice(), 200, json);
    return c.body(gzipNodes(view, utf8), 200, zipped);
  });
  app.delete("/nodes/:id", async (c) => {
    const removed = await needLeader().removeNode(c.req.param("id"));
    return c.json({ removed });
  });
  // A removed member's name, held from other joiners for a while, freed now.
  app.delete("/names/:name", async (c) => {
    const name = c.req.param("name");
    await needLeader().freeName(name);
    return c.json({ freed: name });
  });
  // What the leader grants a node: `{"relay": true|false, "labels": {"k": "v"},
  // "removeLabels": ["k"]}`, any of them.
  app.patch("/nodes/:id", async (c) => {
    const leader = needLeader();
    const body = await jsonBody(c);
    const fields = ["relay", "labels", "removeLabels"];
    for (const k of Object.keys(body)) {
      if (!fields.includes(k)) {
        throw new HttpError(400, `unknown field ${quote(k)} (${fields.join(", ")})`);
      }
    }
    const change: GrantChange = {};
    if (body.relay !== undefined) {
      if (typeof body.relay !== "boolean") throw new HttpError(400, "relay must be true or false");
      change.relay = body.relay;
    }
    if (body.labels !== undefined) {
      const l = body.labels;
      if (
        typeof l !== "object" || l === null || Array.isArray(l) ||
        Object.values(l).some((v) => typeof v !== "string")
      ) {
        throw new HttpError(400, "labels must be an object of strings");
      }
      change.labels = l as Record<string, string>;
    }
    if (body.removeLabels !== undefined) {
      const r = body.removeLabels;
      if (!Array.isArray(r) || r.some((k) => typeof k !== "string") || r.length > 64) {
        throw new HttpError(400, "removeLabels must be a list of at most 64 label keys");
      }
      change.removeLabels = r as string[];
    }
    const problem = grantChangeProblem(change);
    if (problem !== undefined) throw new HttpError(400, problem);
    const node = await leader.setNodeGrants(c.req.param("id"), change);
    return c.json({ node });
  });

  app.get("/tokens", (c) => c.json({ tokens: needLeader().leader!.listTokens() }));
  app.post("/tokens", async (c) => {
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
    // The service names its nodes may offer, as `weft token create --service`.
    const services = body.services ?? [];
    const serviceProblem = grantedServicesProblem(services);
    if (serviceProblem !== undefined) throw new HttpError(400, serviceProblem);
    if (body.relay !== undefined && typeof body.relay !== "boolean") {
      throw new HttpError(400, "relay must be true or false");
    }
    // Routes its nodes may carry unapproved, as `weft token create --approve-routes`.
    let approveRoutes: string[] = [];
    if (body.approveRoutes !== undefined) {
      const v = body.approveRoutes;
      if (!Array.isArray(v) || !v.every((x) => typeof x === "string")) {
        throw new HttpError(400, 'approveRoutes must be a list of prefixes or "exit"');
      }
      try {
        approveRoutes = parseApprovals(v);
      } catch (e) {
        throw new HttpError(400, `approveRoutes: ${(e as Error).message}`);
      }
    }
    // The name its node gets, as `weft token create --hostname`; the leader checks it is free.
    if (body.hostname !== undefined && typeof body.hostname !== "string") {
      throw new HttpError(400, "hostname must be a string");
    }
    const t = await leader.createToken({
      ...(body.hostname !== undefined ? { hostname: body.hostname as string } : {}),
      ttlMs,
      uses,
      labels: labels as Record<string, string>,
      services: services as string[],
      relay: body.relay === true,
      ...(approveRoutes.length ? { approveRoutes } : {}),
    });
    return c.json({ ...t, expiresAt: new Date(t.expiresAt).toISOString() }, 201);
  });
  app.delete("/tokens/:id", async (c) => {
    await needLeader().leader!.revokeToken(c.req.param("id"));
    return c.json({ revoked: c.req.param("id") });
  });

  app.get("/policy", (c) => {
    const m = needMesh();
    return c.json({
      version: m.policy?.version ?? 0,
      text: m.policy?.text ?? "",
      stats: m.policyFilter.stats(),
    });
  });
  app.post("/policy", async (c) => {
    const leader = needLeader();
    const body = await jsonBody(c);
    const text = stringField(body, "text");
    try {
      // Checked whole by the leader against its members: every problem in one answer.
      const { version, warnings } = await leader.applyPolicy(text);
      return c.json({ version, warnings: warnings.map(clip) });
    } catch (e) {
      if (!(e instanceof PolicyError)) throw e;
      // Every problem, each a line cut short (they may echo the input), at most a screenful.
      const shown = e.problems.slice(0, MAX_PROBLEMS_SHOWN).map((p) => clip(formatProblem(p)));
      const more = e.problems.length - shown.length;
      const problems = more > 0 ? [...shown, `... and ${more} more`] : shown;
      const error = e.problems.length === 1 ? shown[0] : `${e.problems.length} problems`;
      return c.json({ error: `policy rejected: ${error}`, problems }, 400);
    }
  });
  app.post("/policy/test", async (c) => {
    const m = needMesh();
    const body = await jsonBody(c);
    if (body.call !== undefined) {
      // A service call (`weft policy test --call`): the call rules' verdict, as a callee gives it.
      const { engine } = m.policyFilter;
      try {
        return c.json(explainCall(engine.policy, engine.members, {
          from: stringField(body, "from"),
          call: stringField(body, "call"),
        }));
      } catch (e) {
        if (e instanceof HttpError) throw e;
        throw new HttpError(400, e instanceof Error ? e.message : String(e));
      }
    }
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

  return answerWrongMethods(app);
}
