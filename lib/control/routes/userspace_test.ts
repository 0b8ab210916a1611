import assert from "node:assert/strict";
import { Hono } from "npm:hono@^4.13.19";
import { MAX_RECV_STREAMS, type PingNames, userspaceRoutes } from "./userspace.ts";
import type { Member } from "../../members/member.ts";
import { errorHandler, notFound } from "../middleware/errors.ts";
import { controlApp } from "../server.ts";
import { fakeAgent } from "../../../tests/fixtures/control.ts";

const TOKEN = "s3cret-token-for-tests";

/** The routes mounted at /v1 as the server mounts them, with the app's error answers. */
function routes(fake = fakeAgent()): Hono {
  const app = new Hono();
  app.onError(errorHandler());
  app.notFound(notFound);
  return app.route("/v1", userspaceRoutes(fake.agent));
}

const post = (app: Hono, path: string, body: unknown, headers: HeadersInit = {}) =>
  app.request(path, {
    method: "POST",
    body: typeof body === "string" ? body : JSON.stringify(body),
    headers,
  });

Deno.test("userspace routes: ping passes count and timeout on, with defaults", async () => {
  const app = routes();
  const r = await post(app, "/v1/ping", { address: "10.9.0.2", count: 3, timeoutMs: 50 });
  assert.deepEqual(await r.json(), {
    address: "10.9.0.2",
    rtts: [1.5, 1.5, 1.5],
    opts: { count: 3, timeoutMs: 50 },
  });
  const dflt = await post(app, "/v1/ping", { address: "10.9.0.2" });
  assert.deepEqual((await dflt.json()).opts, { count: 1, timeoutMs: 1000 });
  for (
    const [body, error] of [
      [{}, "address must be a non-empty string"],
      [{ address: "10.9.0.2", count: 101 }, "count must be an integer from 1 to 100"],
      [{ address: "10.9.0.2", timeoutMs: 0 }, "timeoutMs must be an integer from 1 to 60000"],
      [{ address: "nope" }, 'address must be an IPv4 or IPv6 address, got "nope"'],
      [{ address: "999.1.1.1" }, 'address must be an IPv4 or IPv6 address, got "999.1.1.1"'],
      ["[]", "body must be a JSON object"],
    ] as const
  ) {
    const bad = await post(app, "/v1/ping", body);
    assert.equal(bad.status, 400);
    assert.deepEqual(await bad.json(), { error });
  }
  // A well-formed address the node cannot ping from: 422 with the reason, as /v1/send.
  const from = await post(app, "/v1/ping", { address: "::1" });
  assert.equal(from.status, 422);
  assert.deepEqual(await from.json(), { error: "no IPv6 address to ping ::1 from" });
});

Deno.test("userspace routes: ping a member by name, looked up in the mesh's view and zone", async () => {
  const member = { name: "db", publicKey: "db-key=", address: "10.9.0.5" } as Member;
  let zone: { origin: string } | null = { origin: "corp.example" };
  const mesh: PingNames = {
    view: () => ({ members: [member] }),
    get dns() {
      return zone && { zone };
    },
  };
  const app = new Hono();
  app.onError(errorHandler());
  app.route("/v1", userspaceRoutes(fakeAgent().agent, mesh));
  const r = await post(app, "/v1/ping", { name: "db.corp.example", count: 2 });
  assert.equal(r.status, 200);
  assert.deepEqual(await r.json(), {
    address: "10.9.0.5",
    name: "db",
    rtts: [1.5, 1.5],
    opts: { count: 2, timeoutMs: 1000 },
  });
  // Without DNS, the default zone's names still name members.
  zone = null;
  const dflt = await post(app, "/v1/ping", { name: "DB.overlay.local." });
  assert.equal((await dflt.json()).address, "10.9.0.5");
  // An unknown name: 404 naming it (the CLI's exit 2), with the likely one.
  const typo = await post(app, "/v1/ping", { name: "dv" });
  assert.equal(typo.status, 404);
  assert.deepEqual(await typo.json(), { error: 'no member named "dv" (did you mean db?)' });
  const both = await post(app, "/v1/ping", { name: "db", address: "10.9.0.5" });
  assert.equal(both.status, 400);
  assert.deepEqual(await both.json(), { error: "give an address or a name, not both" });
  const notText = await post(app, "/v1/ping", { name: 5 });
  assert.equal(notText.status, 400);
  // An agent in no mesh has no names.
  const plain = await post(routes(), "/v1/ping", { name: "db" });
  assert.equal(plain.status, 404);
  assert.deepEqual(await plain.json(), { error: 'this agent is in no mesh: no member named "db"' });
});

Deno.test("userspace routes: send as text or base64; bad payloads 400, unroutable 422", async () => {
  const fake = fakeAgent();
  const app = routes(fake);
  const text = await post(app, "/v1/send", { address: "10.9.0.2", port: 7000, text: "hi" });
  assert.deepEqual(await text.json(), { sent: 2 });
  const b64 = await post(app, "/v1/send", {
    address: "10.9.0.2",
    port: 7000,
    base64: "AAEC",
    fromPort: 9,
  });
  assert.deepEqual(await b64.json(), { sent: 3 });
  assert.deepEqual(fake.sent.map((s) => [s.port, [...s.data], s.fromPort]), [
    [7000, [104, 105], undefined],
    [7000, [0, 1, 2], 9],
  ]);
  for (
    const [body, status, error] of [
      [{ address: "a", port: 7 }, 400, "give the payload as text or base64"],
      [{ address: "a", port: 7, base64: "!!" }, 400, "base64 is not valid base64"],
      [{ address: "a", port: 0, text: "x" }, 400, "port must be an integer from 1 to 65535"],
      [{ address: "a", port: 1, text: "x" }, 422, "nothing routes there"],
    ] as const
  ) {
    const r = await post(app, "/v1/send", body);
    assert.equal(r.status, status);
    assert.deepEqual(await r.json(), { error });
  }
});

Deno.test("userspace routes: recv streams NDJSON after an empty line, until count", async () => {
  const fake = fakeAgent();
  const app = routes(fake);
  const r = await app.request("/v1/recv?port=7000&count=2");
  assert.equal(r.headers.get("content-type"), "application/x-ndjson");
  const deliver = fake.listeners.get(7000)!;
  deliver({ address: "10.9.0.2", port: 5, data: new Uint8Array([1]) });
  deliver({ address: "10.9.0.3", port: 6, data: new Uint8Array([2]) });
  const lines = (await r.text()).split("\n");
  assert.deepEqual(lines, [
    "",
    JSON.stringify({ address: "10.9.0.2", port: 5, base64: "AQ==" }),
    JSON.stringify({ address: "10.9.0.3", port: 6, base64: "Ag==" }),
    "",
  ]);
  assert.equal(fake.listeners.size, 0, "the listener is closed after count datagrams");
  for (
    const [query, error] of [
      ["", "port must be an integer from 1 to 65535"],
      ["?port=70000", "port must be an integer from 1 to 65535"],
      ["?port=7&count=0", "count must be a positive integer"],
    ]
  ) {
    const bad = await app.request(`/v1/recv${query}`);
    assert.equal(bad.status, 400, query);
    assert.deepEqual(await bad.json(), { error });
  }
});

Deno.test("userspace routes: open recv streams are capped; a cancelled one frees its place", async () => {
  const fake = fakeAgent();
  const app = routes(fake);
  const open: Response[] = [];
  for (let i = 0; i < MAX_RECV_STREAMS; i++) {
    open.push(await app.request(`/v1/recv?port=${1000 + i}`));
  }
  const over = await app.request("/v1/recv?port=999");
  assert.equal(over.status, 503);
  assert.deepEqual(await over.json(), {
    error: `more than ${MAX_RECV_STREAMS} receive streams open`,
  });
  await open.pop()!.body!.cancel();
  assert.equal(fake.listeners.size, MAX_RECV_STREAMS - 1);
  const again = await app.request("/v1/recv?port=999");
  assert.equal(again.status, 200);
  await again.body!.cancel();
  for (const r of open) await r.body!.cancel();
  assert.equal(fake.listeners.size, 0);
});

Deno.test("userspace routes: a wrong method gets 405 with Allow", async () => {
  const app = routes();
  for (
    const [method, path, allow] of [
      ["GET", "/v1/ping", "POST"],
      ["DELETE", "/v1/send", "POST"],
      ["POST", "/v1/recv", "GET"],
    ]
  ) {
    const r = await app.request(path, { method });
    assert.equal(r.status, 405, `${method} ${path}`);
    assert.equal(r.headers.get("allow"), allow);
    assert.deepEqual(await r.json(), { error: `${method} is not allowed on ${path}` });
  }
});

Deno.test("userspace routes in the control app: the token, never as ?token=; Host", async () => {
  const { agent } = fakeAgent();
  const app = controlApp(agent, {
    token: TOKEN,
    noDashboard: true,
    allowHost: (h) => h === "127.0.0.1",
  });
  const body = { address: "10.9.0.2", port: 7, text: "x" };
  const none = await post(app, "/v1/send", body);
  assert.equal(none.status, 401);
  assert.deepEqual(await none.json(), { error: "missing or wrong bearer token" });
  const wrong = await post(app, "/v1/send", body, { authorization: `Bearer ${TOKEN}x` });
  assert.equal(wrong.status, 401);
  await wrong.body?.cancel();
  const query = await post(app, `/v1/send?token=${TOKEN}`, body);
  assert.equal(query.status, 401, "?token= is refused on POST");
  await query.body?.cancel();
  const recv = await app.request(`/v1/recv?port=7&token=${TOKEN}`);
  assert.equal(recv.status, 401, "and on a GET that is not the dashboard's");
  await recv.body?.cancel();
  // The wrong method is checked after the token: a client without it learns nothing.
  assert.equal((await app.request("/v1/send")).status, 401);
  const auth = { authorization: `Bearer ${TOKEN}` };
  const wrongMethod = await app.request("/v1/send", { headers: auth });
  assert.equal(wrongMethod.status, 405);
  assert.equal(wrongMethod.headers.get("allow"), "POST");
  await wrongMethod.body?.cancel();
  assert.equal(
    (await post(app, "/v1/send", body, { ...auth, "content-type": "application/json" })).status,
    200,
  );
  const rebound = await post(app, "/v1/send", body, { ...auth, host: "rebind.example" });
  assert.equal(rebound.status, 421);
  await rebound.body?.cancel();
});

Deno.test("userspace routes: recv on a port that cannot be had answers 422 with the reason", async () => {
  const fake = fakeAgent();
  fake.agent.listen = () => {
    throw new Error("this needs userspace mode (--userspace)");
  };
  const app = routes(fake);
  const r = await app.request("/v1/recv?port=7000");
  assert.equal(r.status, 422);
  assert.deepEqual(await r.json(), { error: "this needs userspace mode (--userspace)" });
  // It holds no stream: past the cap of open streams, failures still get their reason.
  for (let i = 0; i < MAX_RECV_STREAMS; i++) {
    const again = await app.request("/v1/recv?port=7000");
    assert.equal(again.status, 422);
    await again.body?.cancel();
  }
});
