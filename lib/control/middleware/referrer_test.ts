import assert from "node:assert/strict";
import { Hono } from "npm:hono@^4.13.19";
import { noReferrer } from "./referrer.ts";

Deno.test("referrer: every response says no-referrer, built or streamed, error or 404", async () => {
  const a = new Hono();
  a.use(noReferrer());
  a.get("/json", (c) => c.json({}));
  a.get("/stream", () => new Response(new ReadableStream({ start: (c) => c.close() })));
  a.get("/boom", () => {
    throw new Error("boom");
  });
  a.onError((e, c) => c.json({ error: e.message }, 500));
  for (const path of ["/json", "/stream", "/boom", "/missing"]) {
    const r = await a.request(path);
    assert.equal(r.headers.get("referrer-policy"), "no-referrer", path);
    await r.body?.cancel();
  }
});
