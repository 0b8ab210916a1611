import assert from "node:assert/strict";
import { Histogram, PROBE_RTT_BUCKETS } from "./histogram.ts";

Deno.test("PROBE_RTT_BUCKETS: strictly ascending seconds from 0.5 ms to 2.5 s", () => {
  assert.equal(PROBE_RTT_BUCKETS[0], 0.0005);
  assert.equal(PROBE_RTT_BUCKETS.at(-1), 2.5);
  for (let i = 1; i < PROBE_RTT_BUCKETS.length; i++) {
    assert.ok(PROBE_RTT_BUCKETS[i] > PROBE_RTT_BUCKETS[i - 1]);
  }
  assert.deepEqual(new Histogram().snapshot().buckets, PROBE_RTT_BUCKETS);
});

Deno.test("an empty histogram: zero counts, sum and count", () => {
  assert.deepEqual(new Histogram([1, 2, 3]).snapshot(), {
    buckets: [1, 2, 3],
    counts: [0, 0, 0],
    sum: 0,
    count: 0,
  });
});

Deno.test("counts are cumulative; a value on a bound counts in that bucket (le)", () => {
  const h = new Histogram([1, 2, 5]);
  for (const v of [0, 1, 1.5, 2, 2.0001, 5, 7, -3]) h.observe(v);
  const s = h.snapshot();
  // <=1: 0, 1, -3; <=2: + 1.5, 2; <=5: + 2.0001, 5; +Inf: + 7.
  assert.deepEqual(s.counts, [3, 5, 7]);
  assert.equal(s.count, 8);
  assert.equal(s.sum, 0 + 1 + 1.5 + 2 + 2.0001 + 5 + 7 - 3);
});

Deno.test("NaN is ignored; infinities count in the end buckets", () => {
  const h = new Histogram([1]);
  h.observe(NaN);
  assert.deepEqual(h.snapshot(), { buckets: [1], counts: [0], sum: 0, count: 0 });
  h.observe(Infinity);
  h.observe(-Infinity);
  const s = h.snapshot();
  assert.deepEqual(s.counts, [1]);
  assert.equal(s.count, 2);
  assert.ok(Number.isNaN(s.sum)); // +Inf + -Inf: as Prometheus would have it
});

Deno.test("bounds: must be finite and strictly ascending; none at all is just +Inf", () => {
  for (const bad of [[1, 1], [2, 1], [1, Infinity], [NaN], [0, -0]]) {
    assert.throws(() => new Histogram(bad), /ascending/, JSON.stringify(bad));
  }
  const h = new Histogram([]);
  h.observe(3);
  assert.deepEqual(h.snapshot(), { buckets: [], counts: [], sum: 3, count: 1 });
});

Deno.test("the histogram keeps its own copy of the bounds; snapshots are independent", () => {
  const bounds = [1, 2];
  const h = new Histogram(bounds);
  bounds[0] = 100;
  h.observe(1);
  const a = h.snapshot();
  assert.deepEqual(a.buckets, [1, 2]);
  assert.deepEqual(a.counts, [1, 1]);
  a.counts[0] = 99;
  h.observe(3);
  const b = h.snapshot();
  assert.deepEqual(b.counts, [1, 1]);
  assert.equal(b.count, 2);
  assert.equal(a.count, 1);
});
