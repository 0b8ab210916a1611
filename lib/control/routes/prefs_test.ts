import assert from "node:assert/strict";
import { Hono } from "npm:hono@^4.13.19";
import { type PrefsAdmin, prefsRoutes } from "./prefs.ts";
import { errorHandler } from "../middleware/errors.ts";
import { LOCAL_ENV } from "../middleware/auth.ts";
import { noPrefs, type PrefsChange, type PrefSettings } from "../../mesh/prefs.ts";

function app(mesh: PrefsAdmin | undefined): Hono {
  const a = new Hono();
  a.onError(errorHandler([]));
  a.route("/v1", prefsRoutes(mesh));
  return a;
}

const EMPTY: PrefSettings = {
  labels: {},
  services: [],
  advertiseRoutes: [],
  advertiseExitNode: false,
  exitNode: undefined,
  exitNodeAllowLanAccess: false,
  exitNodeFallback: false,
  acceptRoutes: true,
};

function fake(): PrefsAdmin & { changes: PrefsChange[] } {
  const changes: PrefsChange[] = [];
  return {
    changes,
    set: (c) => {
      changes.push(c);
      return Promise.resolve({ ...EMPTY, labels: c.labels ?? {}, services: c.services ?? [] });
    },
    prefs: () => ({ prefs: noPrefs(), settings: EMPTY }),
  };
}

const patch = (body: unknown) => ({
  method: "PATCH",
  headers: { "content-type": "application/json" },
  body: JSON.stringify(body),
});

Deno.test("prefs routes: PATCH over the local socket only, parsed once, bad input 400", async () => {
  const mesh = fake();
  const a = app(mesh);
  const ok = await a.request("/v1/prefs", patch({ services: ["web:8080"] }), LOCAL_ENV);
  assert.equal(ok.status, 200);
  assert.deepEqual((await ok.json()).settings.services, [
    { name: "web", port: 8080, protocol: "tcp" },
  ]);
  assert.deepEqual(mesh.changes, [{ services: [{ name: "web", port: 8080, protocol: "tcp" }] }]);

  const remote = await a.request("/v1/prefs", patch({ services: ["web:8080"] }));
  assert.equal(remote.status, 403);
  assert.match((await remote.json()).error, /local socket only/);

  const bad = await a.request("/v1/prefs", patch({ labels: { role: "db" } }), LOCAL_ENV);
  assert.equal(bad.status, 400);
  assert.match((await bad.json()).error, /a node sets only its own labels/);
  assert.equal(mesh.changes.length, 1, "nothing passed on");

  const got = await a.request("/v1/prefs");
  assert.equal(got.status, 200);
  assert.deepEqual((await got.json()).prefs, noPrefs());

  const outside = await app(undefined).request("/v1/prefs", patch({ reset: true }), LOCAL_ENV);
  assert.equal(outside.status, 404);
});
