/**
 * The service layer over HTTP, mounted at `/v1` (what `weft call`, `weft publish`,
 * `weft subscribe` and `weft service` use): `POST /v1/services/call`, `POST /v1/services/publish`,
 * `GET /v1/services/subscribe` (events as a stream of NDJSON lines), `GET /v1/services` and
 * `GET /v1/services/:name/leader`. A failed call or publish answers
 * `{"error": message, "code": <ServiceErrorCode>, ...}` with the status of its code
 * ({@link SERVICE_ERROR_STATUS}); an agent outside a mesh answers 404 without a code.
 * @module
 */

import { Hono } from "npm:hono@^4.13.19";
import type { Context } from "npm:hono@^4.13.19";
import type { ContentfulStatusCode } from "npm:hono@^4.13.19/utils/http-status";
import type { MeshServices } from "../../services/mesh_services.ts";
import { leaderStatus, servicesStatus } from "../../services/service_status.ts";
import type { ServiceLeaderStatus, ServiceStatus } from "../../status/status.ts";
import { ServiceError, type ServiceErrorCode } from "../../services/errors.ts";
import type { PublishMode } from "../../services/pubsub.ts";
import { MAX_TTL_MS } from "../../services/wire.ts";
import { serviceNameProblem } from "../../members/services.ts";
import { clip, HttpError } from "../middleware/errors.ts";
import { intField, jsonBody, stringField } from "../middleware/body.ts";
import { answerWrongMethods } from "../middleware/methods.ts";
import { eventJson, payloadJson } from "./service_json.ts";

export { eventJson, payloadJson } from "./service_json.ts";

/** What the service routes use of the mesh agent. */
export type ServicesApi = {
  readonly services: Pick<
    MeshServices,
    "list" | "request" | "publish" | "subscribe" | "serviceLeader" | "serviceLeaders"
  >;
};

/** The HTTP status each service error code is answered with. */
export const SERVICE_ERROR_STATUS: { readonly [C in ServiceErrorCode]: ContentfulStatusCode } = {
  "no-instance": 404,
  "timeout": 504,
  "remote-error": 502,
  "too-large": 413,
  "rate-limited": 429,
  "bad-request": 400,
  "forbidden": 403,
};

/** Most `/v1/services/subscribe` streams open at once. */
export const MAX_SUBSCRIBE_STREAMS = 64;
/** Events a subscribe stream holds for a slow reader by default (`queue` changes it). */
export const DEFAULT_STREAM_QUEUE = 256;
/** The largest `queue` a subscribe stream may ask for. */
export const MAX_STREAM_QUEUE = 4096;

/** A service's leader as the routes show it (as in `/status`). */
export type ServiceLeaderView = ServiceLeaderStatus;

/** A service as `GET /v1/services` lists it (as in `/status`). */
export type ServiceView = ServiceStatus;

/** A failed call or publish as its answer: the message, the code and what is known of where. */
function serviceErrorAnswer(c: Context, e: ServiceError): Response {
  return c.json({
    error: clip(e.message),
    code: e.code,
    ...(e.service !== undefined ? { service: e.service } : {}),
    ...(e.action !== undefined ? { action: e.action } : {}),
    ...(e.instance !== undefined ? { instance: e.instance } : {}),
    ...(e.status !== undefined ? { status: e.status } : {}),
  }, SERVICE_ERROR_STATUS[e.code]);
}

/** `body[name]` as a boolean when present; 400 otherwise. */
function boolField(body: Record<string, unknown>, name: string): boolean | undefined {
  const v = body[name];
  if (v === undefined) return undefined;
  if (typeof v !== "boolean") throw new HttpError(400, `${name} must be true or false`);
  return v;
}

const MODES: readonly PublishMode[] = ["all", "one-per-service", "local-only"];

/** What the routes are built with besides the mesh. */
export interface ServicesRoutesOptions {
  /** Ends every subscribe stream when aborted (the server shutting down). */
  signal?: AbortSignal;
}

/** The service routes, as a Hono app to mount at `/v1`; `mesh` absent outside a mesh. */
export function servicesRoutes(
  mesh: ServicesApi | undefined,
  opts: ServicesRoutesOptions = {},
): Hono {
  const app = new Hono();
  let streams = 0;
  const needMesh = (): ServicesApi => {
    if (!mesh) throw new HttpError(404, "this agent is not part of a managed mesh");
    return mesh;
  };

  app.post("/services/call", async (c) => {
    const m = needMesh();
    const body = await jsonBody(c);
    const path = stringField(body, "path");
    const timeoutMs = body.timeoutMs === undefined
      ? undefined
      : intField(body, "timeoutMs", 1, MAX_TTL_MS);
    const deadlineMs = body.deadlineMs === undefined
      ? undefined
      : intField(body, "deadlineMs", 1, MAX_TTL_MS);
    const retries = body.retries === undefined ? undefined : intField(body, "retries", 0, 16);
    const idempotent = boolField(body, "idempotent");
    try {
      const result = await m.services.request(path, body.params ?? null, {
        ...(timeoutMs !== undefined ? { timeoutMs } : {}),
        ...(deadlineMs !== undefined ? { deadlineMs } : {}),
        ...(retries !== undefined ? { retries } : {}),
        ...(idempotent !== undefined ? { idempotent } : {}),
      });
      return jsonAnswer(c, { result: result ?? null });
    } catch (e) {
      if (e instanceof ServiceError) return serviceErrorAnswer(c, e);
      throw e;
    }
  });

  app.post("/services/publish", async (c) => {
    const m = needMesh();
    const body = await jsonBody(c);
    const topic = stringField(body, "topic");
    const mode = body.mode ?? "all";
    if (!MODES.includes(mode as PublishMode)) {
      throw new HttpError(400, `mode must be one of ${MODES.join(", ")}`);
    }
    try {
      return c.json(
        await m.services.publish(topic, body.data ?? null, { mode: mode as PublishMode }),
      );
    } catch (e) {
      if (e instanceof ServiceError) return serviceErrorAnswer(c, e);
      throw e;
    }
  });

  // Events as NDJSON until the client goes away (or the server shuts down). The first line is
  // empty: the subscription is in place. A line {"dropped": n} before an event says how many
  // events this slow reader lost so far (its queue was full).
  app.get("/services/subscribe", (c) => {
    const m = needMesh();
    const pattern = c.req.query("pattern");
    if (pattern === undefined || pattern === "") {
      throw new HttpError(400, "pattern must be a non-empty topic pattern");
    }
    const group = c.req.query("group") || undefined;
    const queueText = c.req.query("queue");
    const maxQueue = queueText === undefined ? DEFAULT_STREAM_QUEUE : Number(queueText);
    if (!Number.isInteger(maxQueue) || maxQueue < 1 || maxQueue > MAX_STREAM_QUEUE) {
      throw new HttpError(400, `queue must be an integer from 1 to ${MAX_STREAM_QUEUE}`);
    }
    if (opts.signal?.aborted) throw new HttpError(503, "the server is shutting down");
    // Streams last as long as their clients want: bounded, so they cannot take every connection.
    if (streams >= MAX_SUBSCRIBE_STREAMS) {
      throw new HttpError(503, `more than ${MAX_SUBSCRIBE_STREAMS} subscribe streams open`);
    }
    // Subscribed before the stream exists, so a bad pattern or group is an answer (400), not a
    // stream that fails after its headers.
    let sub;
    try {
      sub = m.services.subscribe(pattern, { ...(group ? { group } : {}), maxQueue });
    } catch (e) {
      throw new HttpError(400, e instanceof Error ? e.message : String(e));
    }
    streams++;
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      streams--;
      opts.signal?.removeEventListener("abort", end);
      sub.close();
    };
    opts.signal?.addEventListener("abort", end);
    const enc = new TextEncoder();
    let reported = 0;
    // Pulled: an event leaves the subscription's bounded queue only when the connection takes
    // it, so a reader that falls behind loses events (counted) instead of growing memory here.
    const stream = new ReadableStream<Uint8Array>({
      // The first (empty) line says the subscription is in place: sent once the other members
      // hold it (or the announcement's resends ran out), so a publish after it reaches it.
      async start(controller) {
        await sub.announced;
        if (!ended) controller.enqueue(enc.encode("\n"));
      },
      async pull(controller) {
        const r = await sub.next();
        if (ended) return;
        if (r.done) {
          end();
          controller.close();
          return;
        }
        let text = "";
        if (sub.dropped > reported) {
          reported = sub.dropped;
          text = JSON.stringify({ dropped: reported }) + "\n";
        }
        controller.enqueue(enc.encode(text + eventJson(r.value) + "\n"));
      },
      cancel() {
        end();
      },
    }, { highWaterMark: 1 });
    return new Response(stream, { headers: { "content-type": "application/x-ndjson" } });
  });

  app.get("/services", (c) => {
    const m = needMesh();
    return c.json({ services: servicesStatus(m.services.list(), m.services.serviceLeaders()) });
  });

  app.get("/services/:name/leader", (c) => {
    const m = needMesh();
    const name = c.req.param("name").toLowerCase();
    const p = serviceNameProblem(name);
    if (p !== undefined) throw new HttpError(400, `bad service name: ${p}`);
    const l = m.services.serviceLeader(name);
    return c.json({ name, leader: l ? leaderStatus(l) : null });
  });

  return answerWrongMethods(app);
}

function jsonAnswer(c: Context, v: unknown): Response {
  return c.body(payloadJson(v), 200, { "content-type": "application/json" });
}
