import assert from "node:assert/strict";
import { monotonicClock } from "./clock.ts";

Deno.test("monotonic clock: reads performance.now and never goes back", () => {
  const before = performance.now();
  let last = monotonicClock.now();
  assert.ok(last >= before);
  for (let i = 0; i < 1000; i++) {
    const t = monotonicClock.now();
    assert.ok(t >= last);
    last = t;
  }
  assert.ok(last <= performance.now());
});
