import assert from "node:assert/strict";
import { Hono } from "npm:hono@^4.13.19";
import { type SegmentAdmin, segmentRoutes } from "./segments.ts";
import { errorHandler, notFound } from "../middleware/errors.ts";
import { CONTROL_ERROR_STATUS } from "../server.ts";
import { LeaderError } from "../../mesh/leader/core.ts";
import type { MembershipView } from "../../members/member.ts";
import type { PolicyDocument } from "../../policy/schema.ts";
import { parsePolicy, serializePolicy } from "../../policy/parse.ts";
import {
  addSegment,
  removeSegment,
  type SegmentSpec,
  segmentViews,
} from "../../policy/segment_admin.ts";
import { member } from "../../../tests/fixtures/members.ts";

/**
 * A mesh agent over an in-memory policy: the leader edits it with the library's own document
 * editing (so the answers carry the validator's words), every node lists it against a view.
 */
function fakeMesh(role: "leader" | "node", opts: { fail?: Error } = {}) {
  const view: MembershipView = {
    network: "10.9.0.0/24",
    version: 3,
    members: [
      member("hq", "10.9.0.1", { role: "leader" }),
      member("a1", "10.9.0.2", { labels: { site: "a" } }),
      member("b1", "10.9.0.3", { labels: { site: "b" }, offline: true }),
    ],
  };
  let policy: { version: number; text: string } | null = null;
  const calls: unknown[] = [];
  const edit = (fn: (d: PolicyDocument) => PolicyDocument) => {
    if (opts.fail) return Promise.reject(opts.fail);
    const doc = policy ? parsePolicy(policy.text) : { defaults: {}, policies: [] };
    policy = { version: (policy?.version ?? 0) + 1, text: serializePolicy(fn(doc)) };
    return Promise.resolve({ version: policy.version });
  };
  const mesh: SegmentAdmin = {
    role,
    get policy() {
      return policy;
    },
    segments: () => segmentViews(policy && parsePolicy(policy.text), view.members),
    createSegment(spec: SegmentSpec) {
      calls.push(spec);
      return edit((d) => addSegment(d, spec));
    },
    deleteSegment(name: string) {
      calls.push(name);
      return edit((d) => removeSegment(d, name));
    },
  };
  return { mesh, calls };
}

/** The routes mounted at /v1 as the server mounts them, with the app's error answers. */
function routes(mesh: SegmentAdmin | undefined): Hono {
  const app = new Hono();
  app.onError(errorHandler(CONTROL_ERROR_STATUS));
  app.notFound(notFound);
  return app.route("/v1", segmentRoutes(mesh));
}

const send = (app: Hono, method: string, path: string, body?: unknown) =>
  app.request(path, {
    method,
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });

const answer = async (r: Response) => [r.status, await r.json()];

Deno.test("segment routes: create, list with members, delete at the leader", async () => {
  const { mesh, calls } = fakeMesh("leader");
  const app = routes(mesh);
  assert.deepEqual(await answer(await send(app, "GET", "/v1/segments")), [200, {
    version: 0,
    segments: [],
  }]);
  assert.deepEqual(
    await answer(
      await send(app, "POST", "/v1/segments", { name: "blue", vni: 100, select: "site=a" }),
    ),
    [201, { version: 1 }],
  );
  assert.deepEqual(calls, [{ name: "blue", vni: 100, select: "site=a" }]);
  const red = { name: "red", vni: 200, select: { names: ["b1", "hq"] }, mtu: 1400 };
  assert.deepEqual(await answer(await send(app, "POST", "/v1/segments", red)), [201, {
    version: 2,
  }]);
  assert.deepEqual(await answer(await send(app, "GET", "/v1/segments")), [200, {
    version: 2,
    segments: [
      {
        name: "blue",
        vni: 100,
        driver: "vxlan",
        select: { labels: { site: "a" } },
        members: [{ name: "a1", address: "10.9.0.2", online: true }],
      },
      {
        name: "red",
        vni: 200,
        mtu: 1400,
        driver: "vxlan",
        select: { names: ["b1", "hq"] },
        members: [
          { name: "b1", address: "10.9.0.3", online: false },
          { name: "hq", address: "10.9.0.1", online: true },
        ],
      },
    ],
  }]);
  assert.deepEqual(await answer(await send(app, "DELETE", "/v1/segments/blue")), [200, {
    version: 3,
  }]);
  const left = await (await send(app, "GET", "/v1/segments")).json();
  assert.deepEqual(left.segments.map((s: { name: string }) => s.name), ["red"]);
});

Deno.test("segment routes: bad input is 400 with the policy's message; taken 409; unknown 404", async () => {
  const { mesh } = fakeMesh("leader");
  const app = routes(mesh);
  await send(app, "POST", "/v1/segments", { name: "blue", vni: 100, select: "*" });
  for (
    const [body, status, error] of [
      ["{not json", 400, /body must be a JSON object/],
      [[1], 400, /body must be a JSON object/],
      [{ name: "x", vni: 1, select: "*", color: "red" }, 400, /unknown field "color"/],
      [{ name: "X Y", vni: 1, select: "*" }, 400, /^segment rejected: segments\[1\]\.name: bad/],
      [{ name: "x", vni: 0, select: "*" }, 400, /segments\[1\]\.vni: bad vni: expected an integer/],
      [{ name: "x", vni: "7", select: "*" }, 400, /bad vni: .* got the string "7"/],
      [{ name: "x", vni: 7 }, 400, /segment "x" needs select/],
      [{ name: "x", vni: 7, select: "site=" }, 400, /segments\[1\]\.select: bad label/],
      [{ name: "x", vni: 7, select: { cidrs: ["10.0.0.0/8"] } }, 400, /not cidrs/],
      [
        { name: "x", vni: 7, select: "*", mtu: 99999 },
        400,
        /bad mtu: expected an integer 576-9000/,
      ],
      [{ vni: 7, select: "*" }, 400, /bad segment name: nothing/],
      [{ name: "x", vni: 7, select: JSON.parse("[".repeat(40) + "]".repeat(40)) }, 400, /nested/],
      [{ name: "blue", vni: 5, select: "*" }, 409, /^segment "blue" already exists \(vni 100\)/],
      [{ name: "green", vni: 100, select: "*" }, 409, /^vni 100 is already segment "blue"'s/],
    ] as const
  ) {
    const r = await send(app, "POST", "/v1/segments", body);
    assert.equal(r.status, status, JSON.stringify(body));
    assert.match((await r.json()).error, error, JSON.stringify(body));
  }
  assert.equal(mesh.policy?.version, 1, "nothing changed");
  const gone = await send(app, "DELETE", "/v1/segments/blu");
  assert.deepEqual(await answer(gone), [404, { error: 'no segment "blu" (did you mean blue?)' }]);
  const encoded = await send(app, "DELETE", "/v1/segments/%20x");
  assert.equal(encoded.status, 404);
  assert.match((await encoded.json()).error, /no segment " x"/);
});

Deno.test("segment routes: changes only at the leader (409); reads anywhere; outside a mesh 404", async () => {
  const node = routes(fakeMesh("node").mesh);
  assert.equal((await send(node, "GET", "/v1/segments")).status, 200);
  for (
    const [method, path] of [["POST", "/v1/segments"], ["DELETE", "/v1/segments/blue"]] as const
  ) {
    const r = await send(node, method, path, method === "POST" ? "{not json" : undefined);
    // Refused before the body is read.
    assert.deepEqual(await answer(r), [409, { error: "this node is not the leader" }]);
  }
  const none = routes(undefined);
  assert.deepEqual(await answer(await send(none, "GET", "/v1/segments")), [404, {
    error: "this agent is not part of a managed mesh",
  }]);
  // The agent's own refusals keep their status (a leader that stepped down: 409).
  const stepped = routes(fakeMesh("leader", { fail: new LeaderError("not now") }).mesh);
  const r = await send(stepped, "POST", "/v1/segments", { name: "x", vni: 1, select: "*" });
  assert.deepEqual(await answer(r), [409, { error: "not now" }]);
});

Deno.test("segment routes: other methods are 405 with Allow", async () => {
  const app = routes(fakeMesh("leader").mesh);
  for (
    const [method, path, allow] of [
      ["PUT", "/v1/segments", "GET, POST"],
      ["GET", "/v1/segments/blue", "DELETE"],
    ] as const
  ) {
    const r = await send(app, method, path);
    assert.equal(r.status, 405, `${method} ${path}`);
    assert.equal(r.headers.get("allow"), allow);
    await r.body?.cancel();
  }
});
