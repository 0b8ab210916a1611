import assert from "node:assert/strict";
import { CallerLimits } from "./caller_limits.ts";

Deno.test("caller limits: a burst, then the rate; each caller has its own bucket", () => {
  let now = 0;
  const l = new CallerLimits({ ratePerSecond: 10, burst: 3, maxConcurrent: 100 }, () => now);
  for (let i = 0; i < 3; i++) {
    assert.equal(l.admit("a"), null);
    l.release("a");
  }
  assert.equal(l.admit("a"), "rate");
  assert.equal(l.admit("b"), null, "another caller is not held back");
  now += 99;
  assert.equal(l.admit("a"), "rate", "0.99 tokens after 99 ms at 10/s");
  now += 1;
  assert.equal(l.admit("a"), null);
  l.release("a");
  now += 10_000;
  for (let i = 0; i < 3; i++) {
    assert.equal(l.admit("a"), null, "refilled to the burst, not beyond");
    l.release("a");
  }
  assert.equal(l.admit("a"), "rate");
});

Deno.test("caller limits: handlers at once per caller; released slots come back", () => {
  const l = new CallerLimits({ ratePerSecond: 1000, burst: 1000, maxConcurrent: 2 });
  assert.equal(l.admit("a"), null);
  assert.equal(l.admit("a"), null);
  assert.equal(l.admit("a"), "concurrency");
  assert.equal(l.running("a"), 2);
  l.release("a");
  assert.equal(l.admit("a"), null);
  l.release("x"); // unknown caller: nothing happens
  assert.equal(l.running("x"), 0);
});

Deno.test("caller limits: the table of callers is bounded; busy callers are kept", () => {
  const l = new CallerLimits({ maxCallers: 2, maxConcurrent: 1 });
  assert.equal(l.admit("busy"), null);
  assert.equal(l.admit("idle"), null);
  l.release("idle");
  assert.equal(l.admit("new"), null);
  // "busy" was kept (its slot is taken), "idle" forgotten.
  assert.equal(l.admit("busy"), "concurrency");
  assert.equal(l.running("idle"), 0);
});

Deno.test("caller limits: bad figures are refused", () => {
  assert.throws(() => new CallerLimits({ ratePerSecond: 0 }), /rate must be positive/);
  assert.throws(() => new CallerLimits({ burst: -1 }), /burst must be positive/);
  assert.throws(() => new CallerLimits({ maxConcurrent: 0 }), /maxConcurrent/);
});
