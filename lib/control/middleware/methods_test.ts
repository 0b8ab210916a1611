import assert from "node:assert/strict";
import { Hono } from "npm:hono@^4.13.19";
import { answerWrongMethods } from "./methods.ts";

function sub(): Hono {
  const a = new Hono();
  a.get("/items", (c) => c.text("list"));
  a.post("/items", (c) => c.text("made", 201));
  a.delete("/items/:id", (c) => c.text(`gone ${c.req.param("id")}`));
  return answerWrongMethods(a);
}

Deno.test("methods: a wrong method gets 405 with Allow from the registered routes", async () => {
  const a = sub();
  const r = await a.request("/items", { method: "PUT" });
  assert.equal(r.status, 405);
  assert.equal(r.headers.get("allow"), "GET, POST");
  assert.deepEqual(await r.json(), { error: "PUT is not allowed on /items" });
  const one = await a.request("/items/7", { method: "GET" });
  assert.equal(one.status, 405);
  assert.equal(one.headers.get("allow"), "DELETE");
  await one.body?.cancel();
});

Deno.test("methods: served methods, HEAD of a GET included, reach their handlers", async () => {
  const a = sub();
  assert.equal(await (await a.request("/items")).text(), "list");
  assert.equal((await a.request("/items", { method: "POST" })).status, 201);
  assert.equal(await (await a.request("/items/7", { method: "DELETE" })).text(), "gone 7");
  assert.equal((await a.request("/items", { method: "HEAD" })).status, 200);
});

Deno.test("methods: mounted under a prefix, the path in the answer is the full one", async () => {
  const root = new Hono();
  root.route("/v1", sub());
  const r = await root.request("/v1/items/3", { method: "PATCH" });
  assert.equal(r.status, 405);
  assert.equal(r.headers.get("allow"), "DELETE");
  assert.deepEqual(await r.json(), { error: "PATCH is not allowed on /v1/items/3" });
  assert.equal((await root.request("/v1/other", { method: "PATCH" })).status, 404);
});

Deno.test("methods: middleware paths add no fallback of their own", async () => {
  const a = new Hono();
  a.use("/guarded/*", async (_c, next) => await next());
  a.get("/guarded/x", (c) => c.text("x"));
  answerWrongMethods(a);
  assert.equal((await a.request("/guarded/y", { method: "POST" })).status, 404);
  assert.equal((await a.request("/guarded/x", { method: "POST" })).status, 405);
});
