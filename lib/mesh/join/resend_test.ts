/** The joiner's resend schedule: 250 ms first, doubling to the cap, each up to half as long again. */
import assert from "node:assert/strict";
import {
  JOIN_RESEND_CAP_MS,
  JOIN_RESEND_FIRST_MS,
  JOIN_RESEND_JITTER,
  joinResendDelayMs,
} from "./resend.ts";

Deno.test("join resends: 250 ms first, doubling up to the cap", () => {
  const mid = (n: number) => joinResendDelayMs(n, () => 0);
  assert.deepEqual([1, 2, 3, 4, 5, 6, 40].map(mid), [250, 500, 1000, 2000, 4000, 4000, 4000]);
  assert.equal(mid(1), JOIN_RESEND_FIRST_MS);
  assert.equal(mid(1000), JOIN_RESEND_CAP_MS);
});

Deno.test("join resends: each wait up to half as long again, never shorter, so joiners of a burst drift apart", () => {
  for (const n of [1, 3, 9]) {
    const base = joinResendDelayMs(n, () => 0);
    assert.equal(joinResendDelayMs(n, () => 0.5), base * (1 + JOIN_RESEND_JITTER / 2));
    assert.ok(joinResendDelayMs(n, () => 0.999999) < base * (1 + JOIN_RESEND_JITTER));
  }
  const waits = new Set(Array.from({ length: 20 }, () => joinResendDelayMs(4)));
  assert.ok(waits.size > 1, "random by default");
});
