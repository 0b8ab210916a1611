import assert from "node:assert/strict";
import { ManualClock, systemClock } from "./clock.ts";

Deno.test("ManualClock: starts at its given wall time, moves only when advanced", () => {
  const c = new ManualClock(5_000_000);
  assert.equal(c.wallNow(), 5_000_000);
  const mono = c.now();
  assert.equal(c.now(), mono);
  assert.equal(c.wallNow(), 5_000_000);
  c.advance(250);
  assert.equal(c.now(), mono + 250);
  assert.equal(c.wallNow(), 5_000_250);
  c.advance(0);
  assert.equal(c.now(), mono + 250);
  // Hours of protocol time at once.
  c.advance(3 * 3600_000);
  assert.equal(c.now() - mono, 250 + 3 * 3600_000);
  assert.equal(c.wallNow(), 5_000_250 + 3 * 3600_000);
});

Deno.test("ManualClock: default wall time is a fixed 2023 instant; monotonic time is positive", () => {
  const c = new ManualClock();
  assert.equal(c.wallNow(), 1_700_000_000_000);
  // Positive, so that code treating 0 as "never" (e.g. Keypair.lastReceived) is not confused.
  assert.ok(c.now() > 0);
  assert.equal(new ManualClock().now(), c.now());
});

Deno.test("systemClock: the wall clock is Date.now and the monotonic one never goes back", () => {
  const before = Date.now();
  const wall = systemClock.wallNow();
  const after = Date.now();
  assert.ok(wall >= before && wall <= after);
  let last = systemClock.now();
  for (let i = 0; i < 1000; i++) {
    const t = systemClock.now();
    assert.ok(t >= last);
    last = t;
  }
  // It is performance.now(): read between two reads of that, it falls between them.
  const a = performance.now();
  const m = systemClock.now();
  const b = performance.now();
  assert.ok(a <= m && m <= b);
});
