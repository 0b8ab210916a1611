/**
 * LogBudget: a burst of lines, then one per interval, the rest counted and reported with the
 * next line written. Time is an injected clock.
 */
import assert from "node:assert/strict";
import { LogBudget } from "./budget.ts";

function clock(start = 5_000) {
  const c = { t: start, now: () => c.t };
  return c;
}

/** `n` calls to take(), as a list of results. */
function takes(b: LogBudget, n: number): (number | null)[] {
  return Array.from({ length: n }, () => b.take());
}

Deno.test("budget: a burst passes, then lines are held back and counted", () => {
  const c = clock();
  const b = new LogBudget({ burst: 3, intervalMs: 1_000, now: c.now });
  assert.deepEqual(takes(b, 3), [0, 0, 0]);
  assert.deepEqual(takes(b, 4), [null, null, null, null]);
  // One interval later one line passes and reports the four left out.
  c.t += 1_000;
  assert.equal(b.take(), 4);
  assert.equal(b.take(), null);
  c.t += 1_000;
  assert.equal(b.take(), 1, "the count restarts after it is reported");
  c.t += 1_000;
  assert.equal(b.take(), 0, "nothing left out since");
});

Deno.test("budget: the budget refills at one line per interval, up to the burst", () => {
  const c = clock();
  const b = new LogBudget({ burst: 5, intervalMs: 100, now: c.now });
  assert.deepEqual(takes(b, 5), [0, 0, 0, 0, 0]);
  assert.equal(b.take(), null);
  c.t += 99;
  assert.equal(b.take(), null, "not a whole line yet");
  c.t += 1;
  assert.equal(b.take(), 2, "a whole line after 100 ms (partial time is kept)");
  c.t += 250;
  assert.deepEqual(takes(b, 3), [0, 0, null], "2.5 intervals: two lines");
  // A long quiet spell refills to the burst only.
  c.t += 1_000_000;
  assert.deepEqual(takes(b, 6), [1, 0, 0, 0, 0, null]);
});

Deno.test("budget: a steady flood gets one line per interval, each with the count between", () => {
  const c = clock();
  const b = new LogBudget({ burst: 2, intervalMs: 1_000, now: c.now });
  const written: number[] = [];
  // 8 lines a second for 10 seconds (125 ms steps add up exactly in binary floating point).
  for (let i = 0; i < 80; i++) {
    const r = b.take();
    if (r !== null) written.push(r);
    c.t += 125;
  }
  assert.deepEqual(written, [0, 0, 6, 7, 7, 7, 7, 7, 7, 7, 7], "the burst, then one a second");
  // Every line is written or counted; the 7 after the last written line are still pending.
  assert.equal(written.length + written.reduce((a, n) => a + n, 0) + 7, 80);
  c.t += 1_000;
  assert.equal(b.take(), 7);
});

Deno.test("budget: defaults are a burst of 10 and one line per 6 s", () => {
  const c = clock();
  const b = new LogBudget({ now: c.now });
  assert.deepEqual(takes(b, 11), [...Array(10).fill(0), null]);
  c.t += 5_999;
  assert.equal(b.take(), null);
  c.t += 1;
  assert.equal(b.take(), 2);
});

Deno.test("budget: a clock read at construction: the burst is full from the start", () => {
  const c = clock(0);
  const b = new LogBudget({ burst: 1, intervalMs: 1_000, now: c.now });
  c.t = 10;
  assert.equal(b.take(), 0);
  assert.equal(b.take(), null);
});

Deno.test("budget: drain takes the lines left out, which the next line then does not say again", () => {
  const c = clock();
  const b = new LogBudget({ burst: 1, intervalMs: 1_000, now: c.now });
  assert.equal(b.take(), 0);
  assert.deepEqual(takes(b, 3), [null, null, null]);
  assert.equal(b.drain(), 3);
  assert.equal(b.drain(), 0);
  c.t += 1_000;
  assert.equal(b.take(), 0, "said by drain already");
});
