import assert from "node:assert/strict";
import { ReasonCounter } from "./reasons.ts";
import { counter, MetricsRegistry, sampleCounts } from "./registry.ts";

const REASONS = ["short", "mac", "rate-limited"] as const;

Deno.test("ReasonCounter: counts per reason from 0, totals, snapshots in the order given", () => {
  const c = new ReasonCounter(REASONS);
  assert.deepEqual(c.snapshot(), { short: 0, mac: 0, "rate-limited": 0 });
  c.add("mac");
  c.add("rate-limited", 5);
  c.add("mac");
  assert.equal(c.get("mac"), 2);
  assert.equal(c.get("short"), 0);
  assert.equal(c.total(), 7);
  const snap = c.snapshot();
  assert.deepEqual(Object.keys(snap), ["short", "mac", "rate-limited"]);
  assert.deepEqual(snap, { short: 0, mac: 2, "rate-limited": 5 });
  c.add("short");
  assert.equal(snap.short, 0, "a snapshot is a copy");
  assert.deepEqual(c.reasons, REASONS);
});

Deno.test("ReasonCounter: counts stay exact past 2^31 (no small-integer wrap)", () => {
  const c = new ReasonCounter(["x"]);
  c.add("x", 2 ** 31);
  c.add("x", 2 ** 31);
  c.add("x");
  assert.equal(c.get("x"), 2 ** 32 + 1);
});

Deno.test("ReasonCounter: a reason given twice is refused", () => {
  assert.throws(() => new ReasonCounter(["a", "b", "a"]), /reason "a" given twice/);
});

Deno.test("ReasonCounter: a snapshot is what /metrics shows, one sample per reason", () => {
  const c = new ReasonCounter(REASONS);
  c.add("short", 3);
  const family = counter("test_drops_total", "Drops, by reason.", ["side", "reason"]);
  const registry = new MetricsRegistry();
  registry.register((out) => sampleCounts(out, family, "reason", c.snapshot(), { side: "a" }));
  assert.equal(
    registry.render(),
    "# HELP test_drops_total Drops, by reason.\n# TYPE test_drops_total counter\n" +
      'test_drops_total{side="a",reason="mac"} 0\n' +
      'test_drops_total{side="a",reason="rate-limited"} 0\n' +
      'test_drops_total{side="a",reason="short"} 3\n',
  );
});
