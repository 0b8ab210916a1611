import assert from "node:assert/strict";
import { FAIR_EPOCH_MS, type FairSender, FairShare, GROW, waterLevel } from "./fair_share.ts";

const sender = (): FairSender => ({ fairEpoch: 0, offered: 0, passed: 0 });

Deno.test("fair share: the water level meets small demands and splits the rest", () => {
  assert.equal(waterLevel([1, 2, 3], 10), Infinity, "all fit");
  assert.equal(waterLevel([100, 100], 100), 50);
  assert.equal(waterLevel([10, 100, 100], 100), 45, "the small one keeps its 10");
  assert.equal(waterLevel([1000, 5], 105), 100);
  assert.equal(waterLevel([], 10), Infinity);
});

/**
 * Senders at fixed rates (bytes a millisecond) for `ms` milliseconds, 1 ms steps, each step's
 * bytes as one packet; the relay's CPU is a full core while `busy` says so; sender k sends on
 * `pairs[k]` (default: a pair of its own). Returns the bytes each passed.
 */
function run(
  fair: FairShare,
  clock: { t: number; cpu: number },
  rates: number[],
  ms: number,
  busy: boolean,
  senders: FairSender[],
  pairs: object[] = senders,
): number[] {
  const passed = rates.map(() => 0);
  for (let i = 0; i < ms; i++) {
    clock.t += 1;
    if (busy) clock.cpu += 1;
    rates.forEach((r, k) => {
      if (fair.allows(senders[k], r, clock.t, pairs[k])) {
        fair.pass(senders[k], r);
        passed[k] += r;
      }
    });
  }
  return passed;
}

Deno.test("fair share: a saturated relay holds the heaviest sender, never the light one", () => {
  const clock = { t: 0, cpu: 0 };
  const fair = new FairShare(0, () => clock.cpu);
  const s = [sender(), sender()];
  // A at 9,000 bytes/ms, C at 1,000; the relay a full core busy.
  run(fair, clock, [9000, 1000], FAIR_EPOCH_MS, true, s);
  assert.ok(Number.isFinite(fair.bytesPerSecond), "held after a saturated epoch");
  const p = run(fair, clock, [9000, 1000], 10 * FAIR_EPOCH_MS, true, s);
  assert.equal(p[1], 1000 * 10 * FAIR_EPOCH_MS, "C keeps all it sends");
  assert.ok(p[0] < 9000 * 10 * FAIR_EPOCH_MS * 0.9, `A is held (${p[0]})`);
  assert.ok(fair.saturatedEpochs >= 10);
});

Deno.test("fair share: the two ends of one pair are never held, however busy the relay", () => {
  const clock = { t: 0, cpu: 0 };
  const fair = new FairShare(0, () => clock.cpu);
  const pair = {};
  // A TCP transfer's data one way, its acknowledgements the other, on one relayed pair.
  const p = run(fair, clock, [9000, 300], 20 * FAIR_EPOCH_MS, true, [sender(), sender()], [
    pair,
    pair,
  ]);
  assert.deepEqual(p, [9000 * 20 * FAIR_EPOCH_MS, 300 * 20 * FAIR_EPOCH_MS]);
  assert.equal(fair.bytesPerSecond, Infinity);
  assert.equal(fair.saturatedEpochs, 0);
  // A second pair comes: the heavy end is held again.
  const q = {};
  run(fair, clock, [9000, 300, 1000], 2 * FAIR_EPOCH_MS, true, [sender(), sender(), sender()], [
    pair,
    pair,
    q,
  ]);
  assert.ok(Number.isFinite(fair.bytesPerSecond), "held once two pairs send");
});

Deno.test("fair share: a single sender is never held, however busy the relay", () => {
  const clock = { t: 0, cpu: 0 };
  const fair = new FairShare(0, () => clock.cpu);
  const p = run(fair, clock, [9000], 20 * FAIR_EPOCH_MS, true, [sender()]);
  assert.equal(p[0], 9000 * 20 * FAIR_EPOCH_MS);
  assert.equal(fair.bytesPerSecond, Infinity);
  assert.equal(fair.saturatedEpochs, 0);
});

Deno.test("fair share: nobody is held while the relay has room, and the level goes once it has", () => {
  const clock = { t: 0, cpu: 0 };
  const fair = new FairShare(0, () => clock.cpu);
  const s = [sender(), sender()];
  const idle = run(fair, clock, [9000, 1000], 10 * FAIR_EPOCH_MS, false, s);
  assert.deepEqual(idle, [9000 * 1000, 1000 * 1000]);
  run(fair, clock, [9000, 1000], 2 * FAIR_EPOCH_MS, true, s);
  const held = fair.bytesPerSecond;
  assert.ok(Number.isFinite(held));
  run(fair, clock, [9000, 1000], FAIR_EPOCH_MS + 1, false, s);
  assert.ok(Math.abs(fair.bytesPerSecond - held * GROW) < 1e-6, "raised by GROW");
  run(fair, clock, [9000, 1000], 20 * FAIR_EPOCH_MS, false, s);
  assert.equal(fair.bytesPerSecond, Infinity, "gone once far above every sender");
});

Deno.test("fair share: without a CPU figure nobody is ever held", () => {
  const clock = { t: 0, cpu: 0 };
  const fair = new FairShare(0, null);
  const p = run(fair, clock, [9000, 1000], 10 * FAIR_EPOCH_MS, true, [sender(), sender()]);
  assert.deepEqual(p, [9000 * 1000, 1000 * 1000]);
});
