/**
 * Routes through members, mounted at `/v1`: `GET /v1/routes` lists every node's routes
 * (advertised, approved, carried) on any mesh node; `POST /v1/nodes/:id/routes` with
 * `{"approve": [...], "revoke": [...]}` (prefixes or `exit`) approves or revokes them, on the
 * leader only (409 elsewhere). An agent outside a mesh answers 404.
 * @module
 */

import { Hono } from "npm:hono@^4.13.19";
import type { MeshAgent } from "../../mesh/mesh_agent.ts";
import { routeList } from "../../mesh/leader/routes.ts";
import { parseApprovals } from "../../routes/prefixes.ts";
import { quote } from "../../text/quote.ts";
import { HttpError } from "../middleware/errors.ts";
import { jsonBody } from "../middleware/body.ts";
import { answerWrongMethods } from "../middleware/methods.ts";

/** What the route administration uses of the mesh agent. */
export type RouteAdmin = Pick<MeshAgent, "role" | "leader" | "view">;

/** The list of route texts in `body[name]`, or an empty list when absent. */
function routeTexts(body: Record<string, unknown>, name: string): string[] {
  const v = body[name];
  if (v === undefined) return [];
  if (!Array.isArray(v) || v.length > 64 || !v.every((x) => typeof x === "string")) {
    throw new HttpError(400, `${name} must be a list of at most 64 prefixes or "exit"`);
  }
  try {
    return parseApprovals(v as string[]);
  } catch (e) {
    throw new HttpError(400, `${name}: ${(e as Error).message}`);
  }
}

/** The route administration, as a Hono app to mount at `/v1`; `mesh` absent outside a mesh. */
export function subnetRoutes(mesh: RouteAdmin | undefined): Hono {
  const app = new Hono();
  const needMesh = (): RouteAdmin => {
    if (!mesh) throw new HttpError(404, "this agent is not part of a managed mesh");
    return mesh;
  };
  app.get("/routes", (c) => c.json({ routes: routeList(needMesh().view().members) }));
  app.post("/nodes/:id/routes", async (c) => {
    const m = needMesh();
    if (m.role !== "leader" || !m.leader) throw new HttpError(409, "this node is not the leader");
    const body = await jsonBody(c);
    for (const k of Object.keys(body)) {
      if (k !== "approve" && k !== "revoke" && k !== "preApprove") {
        throw new HttpError(400, `unknown field ${quote(k)} (approve, revoke, preApprove)`);
      }
    }
    const preApprove = body.preApprove ?? false;
    if (typeof preApprove !== "boolean") throw new HttpError(400, "preApprove: want true or false");
    const approve = routeTexts(body, "approve");
    const revoke = routeTexts(body, "revoke");
    if (!approve.length && !revoke.length) {
      throw new HttpError(400, "say which routes to approve or revoke");
    }
    const node = await m.leader.setRouteApprovals(c.req.param("id"), {
      approve,
      revoke,
      preApprove,
    });
    return c.json({ node });
  });
  answerWrongMethods(app);
  return app;
}
