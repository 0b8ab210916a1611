import assert from "node:assert/strict";
import { probeFor, ServiceHealthCheck } from "./health_check.ts";

Deno.test("health check: the first result decides; then fall and rise streaks", async () => {
  const results: boolean[] = [];
  let next = true;
  const check = new ServiceHealthCheck(
    "api",
    { target: { kind: "tcp", host: "x", port: 1 }, rise: 2, fall: 3 },
    (h) => results.push(h),
    () => Promise.resolve(next),
  );
  assert.equal(check.healthy, null);
  assert.equal(await check.checkNow(), true);
  assert.deepEqual(results, [true]);
  next = false;
  await check.checkNow();
  await check.checkNow();
  assert.equal(check.healthy, true, "two failures are not three");
  next = true;
  await check.checkNow();
  next = false;
  for (let i = 0; i < 3; i++) await check.checkNow();
  assert.equal(check.healthy, false, "three in a row");
  next = true;
  await check.checkNow();
  assert.equal(check.healthy, false);
  await check.checkNow();
  assert.equal(check.healthy, true);
  assert.deepEqual(results, [true, false, true]);
  assert.deepEqual(check.counts, { checks: 9, failures: 5 });
});

Deno.test("health check: a probe that throws is a failure; start runs it now and repeats", async () => {
  let calls = 0;
  const seen = Promise.withResolvers<boolean>();
  const check = new ServiceHealthCheck(
    "api",
    { target: { kind: "tcp", host: "x", port: 1 }, intervalMs: 10, fall: 1 },
    (h) => seen.resolve(h),
    () => {
      calls++;
      return Promise.reject(new Error("boom"));
    },
  );
  check.start();
  assert.equal(await seen.promise, false);
  while (calls < 3) await new Promise((r) => setTimeout(r, 5));
  check.stop();
});

Deno.test("health check: TCP connect and HTTP GET against real listeners", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepting = (async () => {
    for await (const c of listener) c.close();
  })();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (req) =>
      new URL(req.url).pathname === "/health"
        ? new Response("ok")
        : new Response("down", { status: 503 }),
  );
  const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const closedPort = closed.addr.port;
  closed.close();
  try {
    assert.equal(
      await probeFor({ kind: "tcp", host: "127.0.0.1", port: listener.addr.port })(2000),
      true,
    );
    assert.equal(await probeFor({ kind: "tcp", host: "127.0.0.1", port: closedPort })(2000), false);
    const base = `http://127.0.0.1:${server.addr.port}`;
    assert.equal(await probeFor({ kind: "http", url: `${base}/health` })(2000), true);
    assert.equal(await probeFor({ kind: "http", url: `${base}/other` })(2000), false);
    assert.equal(
      await probeFor({ kind: "http", url: `http://127.0.0.1:${closedPort}/` })(2000),
      false,
    );
  } finally {
    listener.close();
    await accepting.catch(() => {});
    await server.shutdown();
  }
});
