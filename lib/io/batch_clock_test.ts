import assert from "node:assert/strict";
import { BATCH_CLOCK_USES, BatchClock } from "./batch_clock.ts";

/** A clock that counts its reads and moves by 1 ms with each. */
function counting() {
  const c = { reads: 0, t: 100 };
  return { c, read: () => (c.reads++, c.t++) };
}

Deno.test("batch clock: many calls in one task read the clock once", () => {
  const { c, read } = counting();
  const clock = new BatchClock(read);
  const seen = new Set<number>();
  for (let i = 0; i < 500; i++) seen.add(clock.now());
  assert.equal(c.reads, 1);
  assert.deepEqual([...seen], [100]);
});

Deno.test("batch clock: the next task reads afresh", async () => {
  const { c, read } = counting();
  const clock = new BatchClock(read);
  assert.equal(clock.now(), 100);
  assert.equal(clock.now(), 100);
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(clock.now(), 101);
  assert.equal(c.reads, 2);
});

Deno.test("batch clock: a long task still sees time move", () => {
  const { c, read } = counting();
  const clock = new BatchClock(read);
  for (let i = 0; i < BATCH_CLOCK_USES; i++) assert.equal(clock.now(), 100);
  assert.equal(clock.now(), 101);
  assert.equal(c.reads, 2);
});

Deno.test("batch clock: the default reads performance.now", () => {
  const before = performance.now();
  const t = new BatchClock().now();
  assert.ok(t >= before && t <= performance.now());
});

Deno.test("batch clock: update says when it read, and time holds the reading", async () => {
  const { c, read } = counting();
  const clock = new BatchClock(read);
  assert.equal(clock.update(), true);
  assert.equal(clock.time[0], 100);
  assert.equal(clock.update(), false);
  assert.equal(clock.time[0], 100);
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(clock.update(), true);
  assert.equal(clock.time[0], 101);
  assert.equal(c.reads, 2);
});

Deno.test("batch clock: unbatched, every call reads (a test's clock moved mid-task)", () => {
  const { c, read } = counting();
  const clock = new BatchClock(read, { batched: false });
  assert.equal(clock.now(), 100);
  assert.equal(clock.now(), 101);
  assert.equal(clock.update(), true);
  assert.equal(clock.time[0], 102);
  assert.equal(c.reads, 3);
});
