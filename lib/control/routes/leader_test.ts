import assert from "node:assert/strict";
import { Hono } from "npm:hono@^4.13.19";
import { GZIP_NODES_OVER, leaderRoutes } from "./leader.ts";
import { VIEW_AGE_HEADER } from "./view_age.ts";
import { gunzipSync } from "node:zlib";
import { errorHandler, notFound } from "../middleware/errors.ts";
import { CONTROL_ERROR_STATUS, controlApp } from "../server.ts";
import { fakeAgent, fakeMesh } from "../../../tests/fixtures/control.ts";

const TOKEN = "s3cret-token-for-tests";

/** The routes mounted at /v1 as the server mounts them, with the app's error answers. */
function routes(mesh: ReturnType<typeof fakeMesh> | undefined): Hono {
  const app = new Hono();
  app.onError(errorHandler(CONTROL_ERROR_STATUS));
  app.notFound(notFound);
  return app.route("/v1", leaderRoutes(mesh?.mesh));
}

const send = (app: Hono, method: string, path: string, body?: unknown) =>
  app.request(path, {
    method,
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });

async function answer(r: Response): Promise<[number, unknown]> {
  return [r.status, await r.json()];
}

Deno.test("leader routes: members, tokens and policy on the leader", async () => {
  const m = fakeMesh("leader");
  const app = routes(m);
  assert.deepEqual(await answer(await send(app, "GET", "/v1/nodes")), [200, {
    version: 4,
    network: "10.9.0.0/24",
    nodes: [{ name: "me" }],
  }]);
  assert.deepEqual(await answer(await send(app, "DELETE", "/v1/nodes/gone")), [200, {
    removed: { name: "gone" },
  }]);
  assert.deepEqual(await answer(await send(app, "GET", "/v1/tokens")), [200, {
    tokens: [{ id: "t1", uses: null }],
  }]);
  assert.deepEqual(
    await answer(await send(app, "POST", "/v1/tokens", { ttl: "2h", uses: 3, labels: { a: "b" } })),
    [201, { id: "t2", token: "weft-token", expiresAt: "1970-01-02T00:00:00.000Z" }],
  );
  assert.deepEqual(await answer(await send(app, "POST", "/v1/tokens", {})), [201, {
    id: "t2",
    token: "weft-token",
    expiresAt: "1970-01-02T00:00:00.000Z",
  }]);
  assert.deepEqual(m.created, [
    { ttlMs: 7_200_000, uses: 3, labels: { a: "b" }, services: [], relay: false },
    { ttlMs: 86_400_000, uses: null, labels: {}, services: [], relay: false },
  ]);
  assert.deepEqual(await answer(await send(app, "DELETE", "/v1/tokens/t1")), [200, {
    revoked: "t1",
  }]);
  assert.deepEqual(m.revoked, ["t1"]);
  assert.deepEqual(await answer(await send(app, "GET", "/v1/policy")), [200, {
    version: 2,
    text: "allow all",
    stats: { rules: 0 },
  }]);
  const applied = await send(app, "POST", "/v1/policy", { text: "defaults: { inbound: allow }\n" });
  assert.deepEqual(await answer(applied), [200, { version: 3, warnings: ["line 1: a warning"] }]);
  assert.equal(m.applied.length, 1);
  const q = { from: "a", to: "b", proto: "udp", port: 53 };
  assert.deepEqual(await answer(await send(app, "POST", "/v1/policy/test", q)), [200, {
    allowed: true,
    query: q,
  }]);
});

Deno.test("leader routes: policy/test explains a service call by the call rules", async () => {
  const app = routes(fakeMesh("leader"));
  const [status, body] = await answer(
    await send(app, "POST", "/v1/policy/test", { from: "web1", call: "billing/charge" }),
  );
  assert.equal(status, 200);
  assert.deepEqual(body, {
    allowed: true,
    decidedBy: "rule",
    rule: { name: "web-bills", action: "allow", priority: 1000 },
    from: { member: "web1" },
    service: "billing",
    action: "charge",
    summary: "web1 calling billing/charge: allowed by call rule web-bills (priority 1000)",
  });
  const denied = await answer(
    await send(app, "POST", "/v1/policy/test", { from: "db1", call: "billing/charge" }),
  );
  assert.equal((denied[1] as { allowed: boolean }).allowed, false);
  for (
    const [q, error] of [
      [{ from: "db1", call: "billing" }, /bad call "billing": expected service\/action/],
      [{ from: "nobody", call: "billing/charge" }, /neither an IP address nor a member/],
      [{ from: "db1", call: 5 }, /call must be a non-empty string/],
    ] as const
  ) {
    const r = await send(app, "POST", "/v1/policy/test", q);
    assert.equal(r.status, 400, JSON.stringify(q));
    assert.match((await r.json()).error, error);
  }
});

Deno.test("leader routes: bad input is 400 with the reason", async () => {
  const app = routes(fakeMesh("leader"));
  for (
    const [path, body, error] of [
      ["/v1/tokens", "{not json", /body must be a JSON object/],
      ["/v1/tokens", { ttl: 5 }, /ttl must be a string like 24h/],
      ["/v1/tokens", { ttl: "soon" }, /bad duration "soon"/],
      ["/v1/tokens", { ttl: "400d" }, /ttl "400d" is out of range: from 1s to 365d/],
      ["/v1/tokens", { uses: 0 }, /uses must be an integer from 1 to 1000000/],
      ["/v1/tokens", { labels: { "": "x" } }, /label/],
      ["/v1/policy", { text: "" }, /text must be a non-empty string/],
      ["/v1/policy", { text: "rules: [[[" }, /^policy rejected: /],
      ["/v1/policy/test", { from: "a", to: "b", proto: "sctp" }, /proto must be tcp, udp/],
      ["/v1/policy/test", { from: "a", to: "b" }, /port is required for tcp and udp/],
      ["/v1/policy/test", { from: "nobody", to: "b", proto: "icmp" }, /no node nobody/],
      ["/v1/policy/test", { to: "b", proto: "icmp" }, /from must be a non-empty string/],
    ] as const
  ) {
    const r = await send(app, "POST", path, body);
    assert.equal(r.status, 400, `${path} ${JSON.stringify(body)}`);
    assert.match((await r.json()).error, error);
  }
  // Input echoed in an error is cut short.
  const long = await send(app, "POST", "/v1/tokens", { ttl: "9".repeat(5000) + "x" });
  assert.ok((await long.json()).error.length <= 201);
});

Deno.test("leader routes: a refused policy answers every problem, each a line cut short", async () => {
  const app = routes(fakeMesh("leader"));
  const one = await send(app, "POST", "/v1/policy", { text: "policies: [{ name: a }]" });
  assert.deepEqual(await answer(one), [400, {
    error: 'policy rejected: line 1: policies[0]: rule "a" needs an action (allow or deny)',
    problems: ['line 1: policies[0]: rule "a" needs an action (allow or deny)'],
  }]);
  const rules = Array.from(
    { length: 30 },
    (_, i) => `  - { name: r${i}, action: ${"x".repeat(300)} }`,
  );
  const many = await send(app, "POST", "/v1/policy", { text: `policies:\n${rules.join("\n")}` });
  const [status, body] = await answer(many) as [number, { error: string; problems: string[] }];
  assert.equal(status, 400);
  assert.equal(body.error, "policy rejected: 30 problems");
  assert.equal(body.problems.length, 21);
  assert.match(body.problems[0], /^line 2: policies\[0\]\.action: bad action: .*…$/);
  assert.ok(body.problems.every((p) => p.length <= 201));
  assert.equal(body.problems[20], "... and 10 more");
});

Deno.test("leader routes: changes only on the leader (409), nothing outside a mesh (404)", async () => {
  const node = routes(fakeMesh("node"));
  assert.equal((await send(node, "GET", "/v1/nodes")).status, 200);
  assert.equal((await send(node, "GET", "/v1/policy")).status, 200);
  for (
    const [method, path, body] of [
      ["GET", "/v1/tokens"],
      ["POST", "/v1/tokens", {}],
      ["DELETE", "/v1/tokens/t1"],
      ["DELETE", "/v1/nodes/gone"],
      ["POST", "/v1/policy", { text: "x" }],
    ] as const
  ) {
    assert.deepEqual(await answer(await send(node, method, path, body)), [409, {
      error: "this node is not the leader",
    }]);
  }
  // The role is checked before the body is read: a bad body to a node is still 409.
  assert.equal((await send(node, "POST", "/v1/tokens", "[".repeat(100))).status, 409);
  const outside = routes(undefined);
  for (const path of ["/v1/nodes", "/v1/tokens", "/v1/policy"]) {
    assert.deepEqual(await answer(await send(outside, "GET", path)), [404, {
      error: "this agent is not part of a managed mesh",
    }]);
  }
  // What does not exist is 404, the leader's other refusals 409 (the app's error answers).
  const leader = routes(fakeMesh("leader"));
  assert.deepEqual(await answer(await send(leader, "DELETE", "/v1/nodes/missing")), [404, {
    error: "no node missing",
  }]);
  assert.equal((await send(leader, "DELETE", "/v1/tokens/bad")).status, 404);
  assert.deepEqual(await answer(await send(leader, "DELETE", "/v1/nodes/lead")), [409, {
    error: "the leader cannot remove itself",
  }]);
});

Deno.test("leader routes: tokens grant services and relaying; PATCH /v1/nodes/:id sets relaying", async () => {
  const m = fakeMesh("leader");
  const app = routes(m);
  const post = (body: unknown) => send(app, "POST", "/v1/tokens", body);
  assert.equal((await post({ services: ["auth", "db"], relay: true })).status, 201);
  assert.deepEqual(m.created, [
    { ttlMs: 86_400_000, uses: null, labels: {}, services: ["auth", "db"], relay: true },
  ]);
  for (
    const bad of [{ services: "auth" }, { services: ["Bad Name"] }, { services: ["a", "a"] }, {
      relay: "yes",
    }]
  ) {
    assert.equal((await post(bad)).status, 400, JSON.stringify(bad));
  }
  assert.equal(m.created.length, 1, "nothing made from a bad request");
  assert.deepEqual(await answer(await send(app, "PATCH", "/v1/nodes/n1", { relay: true })), [200, {
    node: { name: "n1", grants: { relay: true } },
  }]);
  assert.equal((await send(app, "PATCH", "/v1/nodes/n1", { relay: 1 })).status, 400);
  assert.equal((await send(app, "PATCH", "/v1/nodes/n1", { relay: true, x: 1 })).status, 400);
  assert.equal((await send(app, "PATCH", "/v1/nodes/missing", { relay: true })).status, 404);
});

Deno.test("leader routes: a token pins its node's name; DELETE /v1/names/:name frees a held one", async () => {
  const m = fakeMesh("leader");
  const app = routes(m);
  const post = (body: unknown) => send(app, "POST", "/v1/tokens", body);
  assert.equal((await post({ hostname: "bastion", uses: 1 })).status, 201);
  assert.deepEqual(m.created, [
    { hostname: "bastion", ttlMs: 86_400_000, uses: 1, labels: {}, services: [], relay: false },
  ]);
  assert.equal((await post({ hostname: 7 })).status, 400);
  assert.equal(m.created.length, 1, "nothing made from a bad request");
  assert.deepEqual(await answer(await send(app, "DELETE", "/v1/names/held")), [200, {
    freed: "held",
  }]);
  assert.equal((await send(app, "DELETE", "/v1/names/other")).status, 404);
  assert.equal((await send(routes(fakeMesh("node")), "DELETE", "/v1/names/held")).status, 409);
});

Deno.test("leader routes: a wrong method gets 405 with Allow", async () => {
  const app = routes(fakeMesh("leader"));
  for (
    const [method, path, allow] of [
      ["DELETE", "/v1/tokens", "GET, POST"],
      ["PUT", "/v1/policy", "GET, POST"],
      ["GET", "/v1/policy/test", "POST"],
      ["POST", "/v1/nodes", "GET"],
      ["GET", "/v1/nodes/x", "DELETE, PATCH"],
      ["POST", "/v1/tokens/x", "DELETE"],
    ]
  ) {
    const r = await send(app, method, path);
    assert.equal(r.status, 405, `${method} ${path}`);
    assert.equal(r.headers.get("allow"), allow, `${method} ${path}`);
    assert.deepEqual(await r.json(), { error: `${method} is not allowed on ${path}` });
  }
  assert.equal((await send(app, "GET", "/v1/nothing")).status, 404);
});

Deno.test("leader routes in the control app: the token, never as ?token=; Host", async () => {
  const app = controlApp(fakeAgent().agent, {
    token: TOKEN,
    mesh: fakeMesh("leader").mesh,
    noDashboard: true,
    allowHost: (h) => h === "localhost",
  });
  const auth = { authorization: `Bearer ${TOKEN}` };
  for (
    const [method, path] of [
      ["GET", "/v1/nodes"],
      ["POST", "/v1/tokens"],
      ["DELETE", "/v1/tokens/t1"],
      ["DELETE", "/v1/nodes/gone"],
      ["GET", "/v1/unknown"],
    ]
  ) {
    for (const [what, init] of [["no token", {}], ["?token=", { query: true }]] as const) {
      const url = "query" in init ? `${path}?token=${TOKEN}` : path;
      const r = await app.request(url, { method, body: method === "POST" ? "{}" : undefined });
      assert.equal(r.status, 401, `${method} ${path} with ${what}`);
      assert.deepEqual(await r.json(), { error: "missing or wrong bearer token" });
    }
    const wrong = await app.request(path, {
      method,
      headers: { authorization: `Bearer ${TOKEN}x` },
    });
    assert.equal(wrong.status, 401);
    await wrong.body?.cancel();
  }
  assert.equal((await app.request("/v1/nodes", { headers: auth })).status, 200);
  const rebound = await app.request("/v1/nodes", { headers: { ...auth, host: "evil.example" } });
  assert.equal(rebound.status, 421);
  await rebound.body?.cancel();
});

Deno.test("leader routes: a large node list goes gzipped to a client that accepts it", async () => {
  const m = fakeMesh("leader");
  const members = Array.from({ length: 3000 }, (_, i) => ({
    // Some of more than a byte a character: the gzipped bytes are the same UTF-8.
    name: i % 500 === 0 ? `n${i}-ünï✓` : `n${i}`,
    address: `10.9.${i >> 8}.${i & 255}`,
    publicKey: `key-${i}`,
    endpoints: [`192.0.2.1:${i}`],
  }));
  const view = { version: 7, network: "10.9.0.0/16", members };
  Object.assign(m.mesh, { view: () => view });
  const app = routes(m);
  const get = (encoding?: string) =>
    app.request("/v1/nodes", { headers: encoding ? { "accept-encoding": encoding } : {} });
  const plain = await (await get()).text();
  assert.ok(plain.length > GZIP_NODES_OVER);
  assert.deepEqual(JSON.parse(plain), { version: 7, network: "10.9.0.0/16", nodes: members });
  for (let i = 0; i < 2; i++) {
    const res = await get("gzip, br");
    assert.equal(res.headers.get("content-encoding"), "gzip");
    assert.equal(res.headers.get("vary"), "accept-encoding");
    // The view in force: no older than now.
    assert.equal(res.headers.get(VIEW_AGE_HEADER), "0");
    const zipped = new Uint8Array(await res.arrayBuffer());
    assert.ok(zipped.length < plain.length / 2, `${zipped.length} of ${plain.length} bytes`);
    assert.equal(new TextDecoder().decode(gunzipSync(zipped)), plain);
  }
  const refused = await get("gzip;q=0");
  assert.equal(refused.headers.get("content-encoding"), null);
  assert.equal(await refused.text(), plain);
  // A short list goes as it is.
  const small = await routes(fakeMesh("leader")).request("/v1/nodes", {
    headers: { "accept-encoding": "gzip" },
  });
  assert.equal(small.headers.get("content-encoding"), null);
  assert.deepEqual((await small.json()).nodes, [{ name: "me" }]);
});
