/**
 * weft against another build round by round: each round's ratios come from that round's figures
 * alone, and the medians skip the rounds where a side failed. Made-up figures, no timing.
 */
import assert from "node:assert/strict";
import { roundRatios } from "./round_ratios.ts";

Deno.test("roundRatios: each round's ratios from its own figures, the medians over the rounds", () => {
  const r = roundRatios([
    // A busy round: both slow, the other more so.
    { load: 8.6, weft: { mbps: 2500, cpuPerGB: 5 }, other: { mbps: 800, cpuPerGB: 12.5 } },
    { load: 1.2, weft: { mbps: 4800, cpuPerGB: 2.8 }, other: { mbps: 3200, cpuPerGB: 4 } },
    { load: 3.5, weft: { mbps: 3000, cpuPerGB: 3 }, other: { mbps: 2000, cpuPerGB: 5 } },
  ]);
  assert.deepEqual(r.rounds.map((x) => [x.round, x.load]), [[1, 8.6], [2, 1.2], [3, 3.5]]);
  assert.deepEqual(r.rounds.map((x) => x.throughput), [3.125, 1.5, 1.5]);
  assert.deepEqual(r.rounds.map((x) => Math.round(x.cpuPerGB * 100) / 100), [0.4, 0.7, 0.6]);
  // The median of the rounds' ratios, not the ratio of the medians (4800/2000 = 2.4; 3/5 = 0.6).
  assert.equal(r.throughput, 1.5);
  assert.equal(Math.round(r.cpuPerGB * 100) / 100, 0.6);
  assert.deepEqual(r.loadRange, [1.2, 8.6]);
});

Deno.test("roundRatios: a round with a side failed or empty has no ratio and no say in the median", () => {
  const r = roundRatios([
    { load: 2, weft: { mbps: 3000, cpuPerGB: 3 }, other: { mbps: 1000, cpuPerGB: 6 } },
    { load: 2.5, weft: { mbps: 3000, cpuPerGB: 3 } },
    { load: 3, weft: { mbps: 0, cpuPerGB: Infinity }, other: { mbps: 1500, cpuPerGB: 4 } },
    { load: 4, weft: { mbps: 2000, cpuPerGB: 4 }, other: { mbps: 1000, cpuPerGB: 4 } },
  ]);
  assert.ok(Number.isNaN(r.rounds[1].throughput) && Number.isNaN(r.rounds[1].cpuPerGB));
  assert.ok(Number.isNaN(r.rounds[2].throughput) && Number.isNaN(r.rounds[2].cpuPerGB));
  // Two rounds count: the mean of the middle two.
  assert.equal(r.throughput, 2.5);
  assert.equal(r.cpuPerGB, 0.75);
});

Deno.test("roundRatios: no rounds, no ratios", () => {
  const r = roundRatios([]);
  assert.equal(r.rounds.length, 0);
  assert.ok(Number.isNaN(r.throughput) && Number.isNaN(r.cpuPerGB));
  assert.ok(r.loadRange.every(Number.isNaN));
});
