import assert from "node:assert/strict";
import { InflightBytes } from "./inflight.ts";

Deno.test("inflight: calls past the window wait in order, and go as earlier ones end", async () => {
  const w = new InflightBytes({ maxBytes: 100 });
  const a = await w.acquire("x", 60, 1000);
  assert.equal(typeof a, "function");
  const order: string[] = [];
  const b = w.acquire("x", 60, 1000).then((r) => (order.push("b"), r));
  const c = w.acquire("x", 10, 1000).then((r) => (order.push("c"), r));
  // Another instance has its own window.
  assert.equal(typeof await w.acquire("y", 100, 1000), "function");
  await Promise.resolve();
  assert.deepEqual(order, [], "c waits behind b, though it would fit");
  assert.equal(w.waiting("x"), 2);
  (a as () => void)();
  const [rb, rc] = await Promise.all([b, c]);
  assert.deepEqual(order, ["b", "c"]);
  assert.equal(w.inFlight("x"), 70);
  (rb as () => void)();
  (rc as () => void)();
  (rc as () => void)();
  assert.equal(w.inFlight("x"), 0);
  assert.equal(w.counts.waited, 2);
});

Deno.test("inflight: a request over the window goes alone; a wait runs out; the queue is bounded", async () => {
  const w = new InflightBytes({ maxBytes: 100, maxWaiting: 1 });
  const big = await w.acquire("x", 500, 1000);
  assert.equal(typeof big, "function");
  assert.equal(await w.acquire("x", 1, 5).then((r) => r), "timeout");
  const waiting = w.acquire("x", 1, 1000);
  assert.equal(await w.acquire("x", 1, 1000), "queue-full");
  (big as () => void)();
  const r = await waiting;
  assert.equal(typeof r, "function");
  (r as () => void)();
  assert.deepEqual(w.counts, { waited: 2, timedOut: 1, refused: 1 });
});
