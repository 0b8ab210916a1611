import assert from "node:assert/strict";
import { Hono } from "npm:hono@^4.13.19";
import { type RouteAdmin, subnetRoutes } from "./subnet_routes.ts";
import { errorHandler, notFound } from "../middleware/errors.ts";
import { CONTROL_ERROR_STATUS } from "../server.ts";
import { LeaderError, LeaderNotFoundError } from "../../mesh/leader/core.ts";
import type { Member, MembershipView } from "../../members/member.ts";
import { member } from "../../../tests/fixtures/members.ts";

const NET = "198.51.100.0/24";

/** A mesh agent with a fixed view; on the leader, what setRouteApprovals was asked. */
function fakeMesh(role: "leader" | "node", fail?: Error) {
  const calls: { id: string; change: { approve?: string[]; revoke?: string[] } }[] = [];
  const view: MembershipView = {
    network: "10.9.0.0/24",
    version: 3,
    members: [
      member("me", "10.9.0.1", { role: "leader" }),
      member("r", "10.9.0.2", {
        advertisedRoutes: [NET, "203.0.113.0/24"],
        grants: { routes: [NET] },
        routes: [NET],
      }),
      member("plain", "10.9.0.3"),
    ],
  };
  const leader = {
    setRouteApprovals(id: string, change: { approve?: string[]; revoke?: string[] }) {
      calls.push({ id, change });
      if (fail) return Promise.reject(fail);
      return Promise.resolve({ ...view.members[1], name: id } as Member);
    },
  };
  const mesh = {
    role,
    leader: role === "leader" ? leader : null,
    view: () => view,
  } as unknown as RouteAdmin;
  return { mesh, calls };
}

/** The routes mounted at /v1 as the server mounts them, with the app's error answers. */
function routes(mesh: RouteAdmin | undefined): Hono {
  const app = new Hono();
  app.onError(errorHandler(CONTROL_ERROR_STATUS));
  app.notFound(notFound);
  return app.route("/v1", subnetRoutes(mesh));
}

const send = (app: Hono, method: string, path: string, body?: unknown) =>
  app.request(path, {
    method,
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });

Deno.test("subnet routes: GET /routes lists the view's routers, on any node", async () => {
  for (const role of ["leader", "node"] as const) {
    const r = await send(routes(fakeMesh(role).mesh), "GET", "/v1/routes");
    assert.equal(r.status, 200);
    assert.deepEqual(await r.json(), {
      routes: [{
        name: "r",
        address: "10.9.0.2",
        advertised: [NET, "203.0.113.0/24"],
        approved: [NET],
        primary: [NET],
        standby: [],
        pending: ["203.0.113.0/24"],
        exitNode: false,
        offline: false,
      }],
    });
  }
});

Deno.test("subnet routes: POST approves and revokes at the leader with parsed approvals", async () => {
  const m = fakeMesh("leader");
  const app = routes(m.mesh);
  const r = await send(app, "POST", "/v1/nodes/r/routes", {
    approve: ["EXIT", "198.51.100.0/24", "2001:DB8::/32", NET],
    revoke: ["203.0.113.0/24"],
  });
  assert.equal(r.status, 200);
  assert.equal((await r.json()).node.name, "r");
  assert.deepEqual(m.calls, [{
    id: "r",
    change: {
      approve: [NET, "2001:db8::/32", "exit"],
      revoke: ["203.0.113.0/24"],
      preApprove: false,
    },
  }]);
  // Only one of the two: the other is an empty list.
  await send(app, "POST", "/v1/nodes/10.9.0.2/routes", { revoke: ["exit"] });
  assert.deepEqual(m.calls[1], {
    id: "10.9.0.2",
    change: { approve: [], revoke: ["exit"], preApprove: false },
  });
  // Asked for: approvals ahead of the node's advertisement.
  await send(app, "POST", "/v1/nodes/r/routes", { approve: [NET], preApprove: true });
  assert.deepEqual(m.calls[2].change, { approve: [NET], revoke: [], preApprove: true });
  const bad = await send(app, "POST", "/v1/nodes/r/routes", { approve: [NET], preApprove: "yes" });
  assert.equal(bad.status, 400);
});

Deno.test("subnet routes: bad bodies are 400 with the reason", async () => {
  const m = fakeMesh("leader");
  const app = routes(m.mesh);
  for (
    const [body, error] of [
      ["{not json", /body must be a JSON object/],
      [{ approve: [NET], extra: 1 }, /unknown field "extra"/],
      [{ approve: ["198.51.100.1/24"] }, /approve: invalid route "198\.51\.100\.1\/24"/],
      [{ revoke: ["nowhere"] }, /revoke: invalid route "nowhere"/],
      [{ approve: ["0.0.0.0/0"] }, /0\.0\.0\.0\/0/],
      [{ approve: NET }, /approve must be a list/],
      [{ approve: [1] }, /approve must be a list/],
      [{ approve: Array(65).fill(NET) }, /approve must be a list of at most 64/],
      [{}, /say which routes to approve or revoke/],
      [{ approve: [], revoke: [] }, /say which routes/],
    ] as const
  ) {
    const r = await send(app, "POST", "/v1/nodes/r/routes", body);
    assert.equal(r.status, 400, JSON.stringify(body));
    assert.match((await r.json()).error, error);
  }
  assert.deepEqual(m.calls, [], "the leader was not asked");
});

Deno.test("subnet routes: the leader's refusals are 409, an unknown node 404", async () => {
  const refused = routes(
    fakeMesh("leader", new LeaderError("a leader's own routes need no approval")).mesh,
  );
  const r = await send(refused, "POST", "/v1/nodes/me/routes", { approve: [NET] });
  assert.equal(r.status, 409);
  assert.match((await r.json()).error, /need no approval/);
  const unknown = routes(fakeMesh("leader", new LeaderNotFoundError('no node "x"')).mesh);
  assert.equal((await send(unknown, "POST", "/v1/nodes/x/routes", { approve: [NET] })).status, 404);
});

Deno.test("subnet routes: changes only on the leader (409), nothing outside a mesh (404)", async () => {
  const node = fakeMesh("node");
  const r = await send(routes(node.mesh), "POST", "/v1/nodes/r/routes", { approve: [NET] });
  assert.equal(r.status, 409);
  assert.match((await r.json()).error, /not the leader/);
  assert.deepEqual(node.calls, []);
  const none = routes(undefined);
  for (const [method, path] of [["GET", "/v1/routes"], ["POST", "/v1/nodes/r/routes"]]) {
    const a = await send(none, method, path, method === "GET" ? undefined : { approve: [NET] });
    assert.equal(a.status, 404, `${method} ${path}`);
    assert.match((await a.json()).error, /not part of a managed mesh/);
  }
});

Deno.test("subnet routes: a wrong method is 405", async () => {
  const app = routes(fakeMesh("leader").mesh);
  assert.equal((await send(app, "DELETE", "/v1/routes")).status, 405);
  assert.equal((await send(app, "GET", "/v1/nodes/r/routes")).status, 405);
});
