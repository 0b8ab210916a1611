import assert from "node:assert/strict";
import { Hono } from "npm:hono@^4.13.19";
import { HTTPException } from "npm:hono@^4.13.19/http-exception";
import { clip, errorHandler, HttpError, MAX_ERROR_CHARS, notFound } from "./errors.ts";

class Conflict extends Error {}

function app(): Hono {
  const a = new Hono();
  a.onError(errorHandler([[Conflict, 409]]));
  a.notFound(notFound);
  a.get("/http", () => {
    throw new HttpError(422, "x".repeat(500));
  });
  a.get("/known", () => {
    throw new Conflict("taken");
  });
  a.get("/own", () => {
    throw new HTTPException(418, { res: new Response("teapot", { status: 418 }) });
  });
  a.get("/other", () => {
    throw new TypeError("broken");
  });
  return a;
}

Deno.test("errors: an HttpError answers its status and its message, clipped", async () => {
  const r = await app().request("/http");
  assert.equal(r.status, 422);
  assert.match(r.headers.get("content-type") ?? "", /application\/json/);
  const { error } = await r.json();
  assert.equal(error, "x".repeat(MAX_ERROR_CHARS) + "…");
});

Deno.test("errors: a known class gets its status; an exception with a response, that", async () => {
  const known = await app().request("/known");
  assert.equal(known.status, 409);
  assert.deepEqual(await known.json(), { error: "taken" });
  const own = await app().request("/own");
  assert.equal(own.status, 418);
  assert.equal(await own.text(), "teapot");
});

Deno.test("errors: anything else is 500 with its message", async () => {
  const r = await app().request("/other");
  assert.equal(r.status, 500);
  assert.deepEqual(await r.json(), { error: "broken" });
});

Deno.test("errors: an unknown path is 404 naming it, clipped", async () => {
  const r = await app().request("/nothing/" + "A".repeat(10_000), { method: "PUT" });
  assert.equal(r.status, 404);
  const { error } = await r.json();
  assert.ok(error.startsWith("no route PUT /nothing/AAA"));
  assert.equal(error.length, MAX_ERROR_CHARS + 1);
});

Deno.test("errors: clip leaves short text alone", () => {
  assert.equal(clip("short"), "short");
  assert.equal(clip("y".repeat(MAX_ERROR_CHARS)), "y".repeat(MAX_ERROR_CHARS));
});
