/**
 * Layer 2 segments, mounted at `/v1`: `GET /v1/segments` lists the segments of the policy in
 * force on this node, each with the members of its view it selects (any mesh node);
 * `POST /v1/segments` with `{"name", "vni", "select", "mtu"?}` adds one to the policy and
 * `DELETE /v1/segments/:name` removes one, on the leader only (409 elsewhere), each a new policy
 * version. The policy's own validator speaks for bad input (400); a name or VNI taken is 409, a
 * segment that does not exist 404. An agent outside a mesh answers 404.
 * @module
 */

import { Hono } from "npm:hono@^4.13.19";
import type { MeshAgent } from "../../mesh/mesh_agent.ts";
import { PolicyError } from "../../policy/schema.ts";
import {
  SegmentConflictError,
  SegmentNotFoundError,
  type SegmentSpec,
} from "../../policy/segment_admin.ts";
import { quote } from "../../text/quote.ts";
import { HttpError } from "../middleware/errors.ts";
import { jsonBody } from "../middleware/body.ts";
import { answerWrongMethods } from "../middleware/methods.ts";

/** What the segment routes use of the mesh agent. */
export type SegmentAdmin = Pick<
  MeshAgent,
  "role" | "policy" | "segments" | "createSegment" | "deleteSegment"
>;

const FIELDS = ["name", "vni", "select", "mtu"];

/** The segment routes, as a Hono app to mount at `/v1`; `mesh` absent outside a mesh. */
export function segmentRoutes(mesh: SegmentAdmin | undefined): Hono {
  const app = new Hono();
  const needMesh = (): SegmentAdmin => {
    if (!mesh) throw new HttpError(404, "this agent is not part of a managed mesh");
    return mesh;
  };
  const needLeader = (): SegmentAdmin => {
    const m = needMesh();
    if (m.role !== "leader") throw new HttpError(409, "this node is not the leader");
    return m;
  };
  /** The library's refusals as HTTP answers: 409 taken, 404 unknown, 400 the policy's. */
  const refusal = (e: unknown): unknown => {
    if (e instanceof SegmentConflictError) return new HttpError(409, e.message);
    if (e instanceof SegmentNotFoundError) return new HttpError(404, e.message);
    if (e instanceof PolicyError) return new HttpError(400, `segment rejected: ${e.message}`);
    return e;
  };

  app.get("/segments", (c) => {
    const m = needMesh();
    return c.json({ version: m.policy?.version ?? 0, segments: m.segments() });
  });
  app.post("/segments", async (c) => {
    const m = needLeader();
    const body = await jsonBody(c);
    for (const k of Object.keys(body)) {
      if (!FIELDS.includes(k)) {
        throw new HttpError(400, `unknown field ${quote(k)} (${FIELDS.join(", ")})`);
      }
    }
    // The types and ranges are the policy validator's to check, with its messages.
    const spec = {
      name: body.name,
      vni: body.vni,
      select: body.select,
      ...(body.mtu !== undefined ? { mtu: body.mtu } : {}),
    } as SegmentSpec;
    try {
      return c.json(await m.createSegment(spec), 201);
    } catch (e) {
      throw refusal(e);
    }
  });
  app.delete("/segments/:name", async (c) => {
    const m = needLeader();
    try {
      return c.json(await m.deleteSegment(c.req.param("name")));
    } catch (e) {
      throw refusal(e);
    }
  });
  return answerWrongMethods(app);
}
