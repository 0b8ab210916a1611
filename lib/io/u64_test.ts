import assert from "node:assert/strict";
import { u64 } from "./u64.ts";

Deno.test("u64: the value as a bigint, the same object for a cached length", () => {
  assert.equal(u64(0), 0n);
  assert.equal(u64(1420), 1420n);
  assert.equal(u64(65_599), 65_599n);
  assert.equal(u64(1 << 20), 1048576n);
  assert.equal(u64(2 ** 40), 1099511627776n);
  // Same value from the cache (bigints compare by value; the point is no throw on repeats).
  for (let i = 0; i < 3; i++) assert.equal(u64(1500), 1500n);
});

Deno.test("u64: a fraction or NaN throws, even once its neighbours are cached", () => {
  u64(0);
  u64(1);
  assert.throws(() => u64(1.5), RangeError);
  assert.throws(() => u64(NaN), RangeError);
  assert.throws(() => u64(-1.5), RangeError);
});
