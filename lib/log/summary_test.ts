/**
 * KindBudgets: each kind's first lines pass, the rest are counted and summed per kind once an
 * interval (a timer the test fires), before the kind's next line that passes, and at flush; each
 * line left out is said once.
 */
import assert from "node:assert/strict";
import { KindBudgets } from "./summary.ts";

function setup() {
  const c = { t: 1_000 };
  const timers: { fn: () => void; ms: number; cancelled: boolean }[] = [];
  const said: string[] = [];
  const b = new KindBudgets<"down" | "degraded">({
    burst: 2,
    intervalMs: 10_000,
    now: () => c.t,
    summary: (kind, left) => void said.push(`${left} ${kind}`),
    timer: (fn, ms) => {
      const t = { fn, ms, cancelled: false };
      timers.push(t);
      return () => void (t.cancelled = true);
    },
  });
  return { c, timers, said, b };
}

Deno.test("kind budgets: a burst of each kind passes, the rest are summed per kind an interval later", () => {
  const { timers, said, b } = setup();
  const passed = Array.from({ length: 50 }, () => b.take("down")).filter(Boolean).length;
  assert.equal(passed, 2);
  assert.equal(b.take("degraded"), true, "another kind has its own budget");
  assert.equal(b.take("degraded"), true);
  assert.equal(b.take("degraded"), false);
  assert.equal(timers.length, 1, "one timer for every kind");
  assert.equal(timers[0].ms, 10_000);
  assert.deepEqual(said, []);
  timers[0].fn();
  assert.deepEqual(said, ["48 down", "1 degraded"]);
  // Quiet: no timer until a line is held back again.
  assert.equal(timers.length, 1);
  b.take("down");
  assert.equal(timers.length, 2);
});

Deno.test("kind budgets: a line the refilled budget lets through says the held-back ones first; flush says the rest and stops the timer", () => {
  const { c, timers, said, b } = setup();
  for (let i = 0; i < 5; i++) b.take("down");
  c.t += 10_000;
  assert.equal(b.take("down"), true);
  assert.deepEqual(said, ["3 down"]);
  b.take("down");
  b.flush();
  assert.deepEqual(said, ["3 down", "1 down"]);
  assert.ok(timers[0].cancelled);
  b.flush();
  assert.equal(said.length, 2, "nothing said twice");
});
