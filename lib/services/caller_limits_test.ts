import assert from "node:assert/strict";
import { CallerLimits, DEFAULT_CALLER_LIMIT, parseCallerLimit } from "./caller_limits.ts";

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
  assert.throws(
    () => new CallerLimits({ ratePerSecond: 0 }),
    /^RangeError: caller limits: ratePerSecond must be a positive number, got 0$/,
  );
  assert.throws(() => new CallerLimits({ burst: -1 }), /burst must be a positive number, got -1/);
  assert.throws(() => new CallerLimits({ ratePerSecond: NaN }), /ratePerSecond .* got NaN/);
  assert.throws(
    () => new CallerLimits({ maxConcurrent: 0 }),
    /maxConcurrent must be a positive integer, got 0/,
  );
  assert.throws(() => new CallerLimits({ maxCallers: 1.5 }), /maxCallers .* got 1.5/);
});

Deno.test("caller limits: the text form RATE[,burst=N][,concurrent=N]", () => {
  assert.deepEqual(parseCallerLimit("200"), DEFAULT_CALLER_LIMIT);
  assert.deepEqual(parseCallerLimit(" 1000 , concurrent=64"), {
    ratePerSecond: 1000,
    burst: 2000,
    maxConcurrent: 64,
  });
  assert.deepEqual(parseCallerLimit("5,burst=1,concurrent=1"), {
    ratePerSecond: 5,
    burst: 1,
    maxConcurrent: 1,
  });
  // Twice the top rate is over the burst's bound: the bound it is.
  assert.equal(parseCallerLimit("1000000").burst, 2_000_000);
  const bad: [string, RegExp][] = [
    ["", /invalid caller limit "": expected RATE\[,burst=N\]\[,concurrent=N\]/],
    ["fast", /the rate \(calls a second\) must be a whole number, got "fast"/],
    ["0", /rate must be an integer from 1 to 1000000, got 0/],
    ["2000000", /rate must be an integer from 1 to 1000000/],
    ["1.5", /whole number, got "1.5"/],
    ["10,burst", /expected KEY=VALUE, got "burst"/],
    ["10,burst=", /expected KEY=VALUE/],
    ["10,burst=-1", /burst must be a whole number, got "-1"/],
    ["10,concurrent=0", /concurrent must be an integer from 1 to 4096, got 0/],
    ["10,concurrent=5000", /concurrent must be an integer from 1 to 4096/],
    ["10,burst=2,burst=3", /burst is given twice/],
    ["10,rate=3", /unknown option "rate" \(burst, concurrent\)/],
    ["10,burst=5=7", /burst must be a whole number, got "5=7"/],
    ["99999999999", /the rate \(calls a second\) is too large: "99999999999"/],
  ];
  for (const [text, re] of bad) assert.throws(() => parseCallerLimit(text), re, text);
});
