import assert from "node:assert/strict";
import { MAX_SERIES, ServiceStats } from "./stats.ts";

Deno.test("stats: calls by service, action and outcome, with latencies", () => {
  const s = new ServiceStats();
  s.call("auth", "login", "ok", 0.002);
  s.call("auth", "login", "ok", 0.004);
  s.call("auth", "login", "timeout", 5);
  s.served("echo", "say", "ok", 0.001);
  const snap = s.snapshot({ malformed: 2 });
  const ok = snap.calls.find((c) => c.outcome === "ok")!;
  assert.equal(ok.histogram.count, 2);
  assert.ok(Math.abs(ok.histogram.sum - 0.006) < 1e-9);
  assert.equal(snap.calls.find((c) => c.outcome === "timeout")!.histogram.count, 1);
  assert.deepEqual(snap.served.map((c) => [c.service, c.action, c.outcome]), [[
    "echo",
    "say",
    "ok",
  ]]);
  assert.deepEqual(snap.drops, { malformed: 2 });
});

Deno.test("stats: events and their drops", () => {
  const s = new ServiceStats();
  s.event("published");
  s.event("sent", 3);
  s.event("delivered", 2);
  s.eventDrop("slow-subscriber");
  s.eventDrop("unacked", 2);
  const snap = s.snapshot();
  assert.deepEqual(snap.events, { published: 1, sent: 3, delivered: 2 });
  assert.deepEqual(snap.eventDrops, { "slow-subscriber": 1, unacked: 2, duplicate: 0 });
});

Deno.test("stats: the number of series is capped; the rest count as other", () => {
  const s = new ServiceStats();
  for (let i = 0; i < MAX_SERIES + 50; i++) s.served(`svc${i}`, "a", "ok", 0.001);
  const snap = s.snapshot();
  assert.equal(snap.served.length, MAX_SERIES + 1);
  const other = snap.served.find((c) => c.service === "other")!;
  assert.equal(other.histogram.count, 50);
});

Deno.test("stats: ejections, retries and budget refusals by service, capped", () => {
  const s = new ServiceStats();
  s.resilience.ejected("echo");
  s.resilience.retry("echo");
  s.resilience.retry("echo");
  s.resilience.budgetRefused("db");
  assert.deepEqual(s.snapshot().resilience, {
    ejections: { echo: 1 },
    retries: { echo: 2 },
    budgetRefusals: { db: 1 },
  });
  for (let i = 0; i < MAX_SERIES + 5; i++) s.resilience.retry(`svc${i}`);
  const retries = s.snapshot().resilience!.retries;
  assert.equal(Object.keys(retries).length, MAX_SERIES + 1);
  assert.equal(retries.other, 6);
});

Deno.test("stats: calls made, by service: all actions and outcomes together, errors apart", () => {
  const s = new ServiceStats();
  s.call("echo", "a", "ok", 0.002);
  s.call("echo", "b", "ok", 0.2);
  s.call("echo", "a", "timeout", 5);
  s.call("auth", "x", "ok", 0.001);
  const by = s.callsByService();
  const echo = by.get("echo")!;
  assert.equal(echo.count, 3);
  assert.equal(echo.errors, 1);
  assert.equal(echo.buckets.at(-1), 3);
  assert.equal(echo.buckets[echo.le.findIndex((b) => b >= 0.002)], 1);
  assert.equal(by.get("auth")!.count, 1);
});
