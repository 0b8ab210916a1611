import assert from "node:assert/strict";
import { Hono } from "npm:hono@^4.13.19";
import { AUTH_ERROR, LOCAL_ENV, tokenAuth } from "./auth.ts";
import { errorHandler } from "./errors.ts";

const TOKEN = "s3cret-token+/for_tests==";

function app(): Hono {
  const a = new Hono();
  a.onError(errorHandler());
  a.use(tokenAuth({ token: TOKEN }));
  for (const path of ["/", "/status", "/events", "/metrics", "/v1/ping", "/v1/tokens/:id"]) {
    a.on(["GET", "POST", "DELETE"], path, (c) => c.text("in"));
  }
  return a;
}

async function refused(r: Response, what: string): Promise<void> {
  assert.equal(r.status, 401, what);
  assert.deepEqual(await r.json(), { error: AUTH_ERROR }, what);
  // The answer is the same for every refusal, with no challenge header (as this server always was).
  assert.equal(r.headers.get("www-authenticate"), null, what);
}

Deno.test("auth: a missing, wrong or malformed token is 401 with the JSON error", async () => {
  await refused(await app().request("/v1/ping", { method: "POST" }), "none");
  for (
    const authorization of [
      `Bearer ${TOKEN}x`,
      "Bearer wrong",
      `Basic ${TOKEN}`,
      "Bearer",
      "Bearer ",
      `Bearer ${TOKEN} extra`,
      TOKEN,
    ]
  ) {
    await refused(
      await app().request("/v1/ping", { method: "POST", headers: { authorization } }),
      authorization,
    );
  }
});

Deno.test("auth: the right bearer token passes", async () => {
  const r = await app().request("/v1/ping", {
    method: "POST",
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  assert.equal(r.status, 200);
  assert.equal(await r.text(), "in");
});

Deno.test("auth: the scheme is case-insensitive and may be followed by more spaces (RFC 6750)", async () => {
  for (const authorization of [`bearer ${TOKEN}`, `BEARER ${TOKEN}`, `Bearer   ${TOKEN}`]) {
    const r = await app().request("/v1/ping", { method: "POST", headers: { authorization } });
    assert.equal(r.status, 200, authorization);
  }
});

Deno.test("auth: ?token= opens the dashboard's GETs only", async () => {
  const q = `?token=${encodeURIComponent(TOKEN)}`;
  for (const path of ["/", "/status", "/events"]) {
    assert.equal((await app().request(path + q)).status, 200, path);
    // A wrong one in the query is no token.
    await refused(await app().request(path + "?token=nope"), `${path}?token=nope`);
  }
  // Other GETs, and a HEAD, need the header.
  await refused(await app().request("/metrics" + q), "GET /metrics?token=");
  const head = await app().request("/status" + q, { method: "HEAD" });
  assert.equal(head.status, 401, "HEAD /status?token=");
});

Deno.test("auth: ?token= is refused on POST and DELETE, even on the dashboard's paths", async () => {
  const q = `?token=${encodeURIComponent(TOKEN)}`;
  for (
    const [method, path] of [
      ["POST", "/v1/ping"],
      ["DELETE", "/v1/tokens/abc"],
      ["GET", "/v1/tokens/abc"],
      ["POST", "/status"],
      ["DELETE", "/"],
    ]
  ) {
    await refused(await app().request(path + q, { method }), `${method} ${path}?token=`);
  }
});

Deno.test("auth: a wrong ?token= does not spoil a right header", async () => {
  const r = await app().request("/status?token=nope", {
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  assert.equal(r.status, 200);
});

Deno.test("auth: the query-token paths can be chosen", async () => {
  const a = new Hono();
  a.onError(errorHandler());
  a.use(tokenAuth({ token: TOKEN, queryTokenPaths: ["/only"] }));
  a.get("/*", (c) => c.text("in"));
  const q = `?token=${encodeURIComponent(TOKEN)}`;
  assert.equal((await a.request("/only" + q)).status, 200);
  await refused(await a.request("/status" + q), "/status");
});

Deno.test("auth: a token no Authorization header could carry is refused at once", () => {
  for (const token of ["", "has space", 'quote"', "é"]) {
    assert.throws(() => tokenAuth({ token }), /control token/, token);
  }
});

Deno.test("auth: the monitoring token reads /status and /metrics, nothing else", async () => {
  const MON = "monitor-token-for-tests";
  const a = new Hono();
  a.onError(errorHandler());
  a.use(tokenAuth({ token: TOKEN, monitorToken: () => MON }));
  a.on(["GET", "POST"], "/*", (c) => c.text("in"));
  const authorization = `Bearer ${MON}`;
  for (const path of ["/status", "/metrics"]) {
    assert.equal((await a.request(path, { headers: { authorization } })).status, 200, path);
    await refused(await a.request(path, { method: "POST", headers: { authorization } }), path);
  }
  for (const path of ["/", "/events", "/peers", "/v1/tokens", "/v1/nodes"]) {
    await refused(await a.request(path, { headers: { authorization } }), path);
  }
  await refused(await a.request("/status?token=" + MON), "monitor token in the query");
});

Deno.test("auth: a rotated token is the only one that passes; no token refuses all", async () => {
  let token: string | undefined = TOKEN;
  const a = new Hono();
  a.onError(errorHandler());
  a.use(tokenAuth({ token: () => token }));
  a.get("/*", (c) => c.text("in"));
  const get = (t: string) => a.request("/v1/nodes", { headers: { authorization: `Bearer ${t}` } });
  assert.equal((await get(TOKEN)).status, 200);
  token = "the-new-one";
  await refused(await get(TOKEN), "the old token");
  assert.equal((await get("the-new-one")).status, 200);
  token = undefined;
  await refused(await get("the-new-one"), "no token at all");
});

Deno.test("auth: a request over the unix socket needs no token", async () => {
  const a = new Hono();
  a.onError(errorHandler());
  a.use(tokenAuth({ token: undefined }));
  a.get("/*", (c) => c.text("in"));
  assert.equal((await a.request("/v1/nodes", {}, LOCAL_ENV)).status, 200);
  await refused(await a.request("/v1/nodes"), "over TCP");
});
