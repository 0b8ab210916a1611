import assert from "node:assert/strict";
import { RateLimiter, refilled } from "./ratelimiter.ts";

Deno.test("rate limiter: a burst, then the steady rate, per source", () => {
  let t = 0;
  const rl = new RateLimiter({ perSecond: 20, burst: 5, now: () => t });
  for (let i = 0; i < 5; i++) assert(rl.allow("a"));
  assert(!rl.allow("a"));
  assert(rl.allow("b"), "another source has its own bucket");
  t += 50; // one token back at 20/s
  assert(rl.allow("a"));
  assert(!rl.allow("a"));
  let allowed = 0;
  for (let ms = 0; ms < 10_000; ms += 5) {
    t += 5;
    if (rl.allow("a")) allowed++;
  }
  assert(allowed >= 199 && allowed <= 201, `20/s over 10 s, got ${allowed}`);
});

Deno.test("rate limiter: a full table refuses new sources until idle ones are swept", () => {
  let t = 0;
  const rl = new RateLimiter({ perSecond: 20, burst: 5, maxEntries: 3, now: () => t });
  assert(rl.allow("a") && rl.allow("b") && rl.allow("c"));
  assert(!rl.allow("d"), "no room");
  assert.equal(rl.size, 3);
  t += 1000; // buckets refilled: the entries are swept
  assert(rl.allow("d"));
  assert.equal(rl.size, 1);
});

Deno.test("rate limiter: bad options are refused", () => {
  assert.throws(() => new RateLimiter({ perSecond: 0 }), RangeError);
  assert.throws(() => new RateLimiter({ burst: 0 }), RangeError);
});

Deno.test("rate limiter: wouldAllow tells without counting", () => {
  let t = 0;
  const rl = new RateLimiter({ perSecond: 20, burst: 2, now: () => t });
  assert(rl.wouldAllow("a"), "a new source");
  assert(rl.allow("a"));
  assert(rl.wouldAllow("a"));
  assert(rl.wouldAllow("a"), "asking spends nothing");
  assert(rl.allow("a"));
  assert(!rl.wouldAllow("a"));
  t += 50;
  assert(rl.wouldAllow("a"));
  assert(rl.allow("a"));
  assert(!rl.allow("a"));
});

Deno.test("rate limiter: a full table refuses new sources, or lets them through with failOpen", () => {
  const t = 0;
  for (const failOpen of [false, true]) {
    const rl = new RateLimiter({ perSecond: 20, burst: 1, maxEntries: 2, now: () => t, failOpen });
    assert(rl.allow("a") && rl.allow("b"));
    assert.equal(rl.allow("c"), failOpen);
    assert.equal(rl.allow("c"), failOpen, "untracked: never limited");
    assert(!rl.allow("a"), "tracked sources stay limited");
    assert.equal(rl.size, 2);
  }
});

Deno.test("refilled: tokens grow with the time passed, up to the cap", () => {
  assert.equal(refilled(0, 500, 20 / 1000, 5), 5);
  assert.equal(refilled(1, 100, 20 / 1000, 5), 3);
  assert.equal(refilled(2.5, 0, 1, 5), 2.5);
});
