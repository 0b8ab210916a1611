import assert from "node:assert/strict";
import { RetryBudget } from "./retry_budget.ts";

function clock() {
  let t = 0;
  return { now: () => t, add: (ms: number) => (t += ms) };
}

function drain(b: RetryBudget): number {
  let n = 0;
  while (b.tryRetry()) n++;
  return n;
}

Deno.test("retry budget: the floor, then 20% of the calls made", () => {
  const c = clock();
  const b = new RetryBudget({ now: c.now });
  assert.equal(drain(b), 10, "the floor with no call made");
  for (let i = 0; i < 100; i++) b.call();
  assert.equal(drain(b), 20, "20% of 100 calls on top");
  for (let i = 0; i < 4; i++) b.call();
  assert.equal(drain(b), 0, "4 more calls: not yet one more retry");
  b.call();
  assert.equal(drain(b), 1);
});

Deno.test("retry budget: calls and retries leave the window as time passes", () => {
  const c = clock();
  const b = new RetryBudget({ now: c.now, ratio: 0.5, minPerWindow: 0, windowMs: 3000 });
  for (let i = 0; i < 10; i++) b.call();
  assert.equal(drain(b), 5);
  c.add(1000);
  for (let i = 0; i < 10; i++) b.call();
  assert.equal(drain(b), 5);
  // The first second's calls and retries leave together.
  c.add(2000);
  assert.equal(drain(b), 0);
  c.add(1000);
  assert.equal(drain(b), 0, "everything left the window");
  b.call();
  b.call();
  assert.equal(drain(b), 1);
  // Long idle: everything is gone at once.
  c.add(3_600_000);
  assert.equal(drain(b), 0);
});

Deno.test("retry budget: bad options are refused", () => {
  assert.throws(() => new RetryBudget({ ratio: 2 }), RangeError);
  assert.throws(() => new RetryBudget({ minPerWindow: -1 }), RangeError);
  assert.throws(() => new RetryBudget({ windowMs: 1500 }), RangeError);
});
