import assert from "node:assert/strict";
import { callCells, CallRates, p99Ms } from "./service_calls.ts";

const le = [0.001, 0.01, 0.1, 1];
const doc = (count: number, errors: number, buckets: number[]) => ({
  name: "echo",
  calls: { count, errors, le, buckets },
});

Deno.test("service calls: rate, errors and p99 over the span between two documents", () => {
  const r = new CallRates();
  r.update([doc(100, 1, [50, 90, 100, 100])], 0);
  assert.equal(r.get("echo"), undefined, "one reading is no rate");
  r.update([doc(150, 1, [50, 90, 100, 100])], 200);
  assert.equal(r.get("echo"), undefined, "a span under half a second is skipped");
  // 200 calls in 2 s, 10 failed; of the 200, 190 within 10 ms, 198 within 100 ms, 200 within 1 s.
  r.update([doc(300, 11, [100, 280, 298, 300])], 2000);
  assert.deepEqual(r.get("echo"), { rate: 100, errors: 5, p99Ms: 100 });
  assert.deepEqual(callCells(r.get("echo")), ["100/s", "5.0/s", "≤ 100 ms"]);
  // The agent restarted: its counters went down; the figures wait for the next span.
  r.update([doc(3, 0, [3, 3, 3, 3])], 4000);
  r.update([doc(3, 0, [3, 3, 3, 3])], 5000);
  assert.deepEqual(r.get("echo"), { rate: 0, errors: 0, p99Ms: null });
  assert.deepEqual(callCells(r.get("echo")), ["0/s", "0/s", "–"]);
  r.update([], 6000);
  assert.equal(r.get("echo"), undefined);
});

Deno.test("service calls: p99 past the last bound, and malformed counters shown as none", () => {
  const after = { count: 10, errors: 0, le, buckets: [0, 0, 0, 5] };
  assert.equal(p99Ms(null, after), Infinity);
  assert.deepEqual(callCells({ rate: 1, errors: 0, p99Ms: Infinity }), ["1.0/s", "0/s", "> 10 s"]);
  const r = new CallRates();
  r.update([{ name: "x", calls: { count: "1" } }], 0);
  r.update([{ name: "x", calls: { count: 5, errors: 0, le: [1], buckets: [1, 2] } }], 1000);
  assert.equal(r.get("x"), undefined);
  assert.deepEqual(callCells(undefined), ["–", "–", "–"]);
});
