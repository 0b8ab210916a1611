import assert from "node:assert/strict";
import { parseServiceCheck, probeFor, ServiceHealthCheck } from "./health_check.ts";

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

Deno.test("health check: the text form, and what is wrong with bad text", () => {
  assert.deepEqual(parseServiceCheck("api=tcp://127.0.0.1:8080"), {
    service: "api",
    check: { target: { kind: "tcp", host: "127.0.0.1", port: 8080 } },
  });
  assert.deepEqual(
    parseServiceCheck("Web=http://127.0.0.1:8080/health,interval=2s,timeout=500ms,rise=1,fall=2"),
    {
      service: "web",
      check: {
        target: { kind: "http", url: "http://127.0.0.1:8080/health" },
        intervalMs: 2000,
        timeoutMs: 500,
        rise: 1,
        fall: 2,
      },
    },
  );
  assert.deepEqual(parseServiceCheck("db=tcp://[::1]:5432").check.target, {
    kind: "tcp",
    host: "::1",
    port: 5432,
  });
  const bad: [string, RegExp][] = [
    ["api", /expected NAME=TARGET/],
    ["a b=tcp://h:1", /the name/],
    ["api=tcp://h", /not tcp:\/\/HOST:PORT/],
    ["api=tcp://h:70000", /not tcp:\/\/HOST:PORT/],
    ["api=ftp://h/", /tcp:\/\/, http:\/\/ or https:\/\//],
    ["api=nothing", /neither/],
    ["api=tcp://h:1,interval=1ms", /100ms to 1h/],
    ["api=tcp://h:1,interval=soon", /bad duration/],
    ["api=tcp://h:1,fall=0", /fall must be 1 to 99/],
    ["api=tcp://h:1,every=5s", /unknown option "every"/],
    ["api=tcp://h:1,rise", /expected KEY=VALUE/],
  ];
  for (const [text, why] of bad) {
    assert.throws(() => parseServiceCheck(text), why, text);
    assert.throws(() => parseServiceCheck(text), /^Error: invalid service check/, text);
  }
});
