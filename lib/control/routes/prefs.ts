/**
 * A node's preferences set at runtime, mounted at `/v1`: `GET /v1/prefs` shows them and the
 * labels and services in force; `PATCH /v1/prefs` with `{"labels": {...}, "removeLabels": [...],
 * "services": ["web:8080/tcp"], "removeServices": [...], "reset": true}` changes them
 * (lib/mesh/prefs.ts). Over the agent's local socket only: what a node asserts about itself is
 * its owner's to change, never a holder of the control token's from elsewhere. An agent outside a
 * mesh answers 404.
 * @module
 */

import { Hono } from "npm:hono@^4.13.19";
import type { MeshAgent } from "../../mesh/mesh_agent.ts";
import { parsePrefsChange } from "../../mesh/prefs.ts";
import { ConfigError } from "../../config/config_error.ts";
import { HttpError } from "../middleware/errors.ts";
import { isLocal } from "../middleware/auth.ts";
import { jsonBody } from "../middleware/body.ts";
import { answerWrongMethods } from "../middleware/methods.ts";

/** What the preferences routes use of the mesh agent. */
export type PrefsAdmin = Pick<MeshAgent, "set" | "prefs">;

/** The preferences routes, as a Hono app to mount at `/v1`; `mesh` absent outside a mesh. */
export function prefsRoutes(mesh: PrefsAdmin | undefined): Hono {
  const app = new Hono();
  const needMesh = (): PrefsAdmin => {
    if (!mesh) throw new HttpError(404, "this agent is not part of a managed mesh");
    return mesh;
  };
  app.get("/prefs", (c) => c.json(needMesh().prefs()));
  app.patch("/prefs", async (c) => {
    const m = needMesh();
    if (!isLocal(c)) {
      throw new HttpError(403, "preferences change over the agent's local socket only");
    }
    const body = await jsonBody(c);
    try {
      const settings = await m.set(parsePrefsChange(body));
      return c.json({ ...m.prefs(), settings });
    } catch (e) {
      if (e instanceof ConfigError) throw new HttpError(400, e.message);
      throw e;
    }
  });
  answerWrongMethods(app);
  return app;
}
