import assert from "node:assert/strict";
import {
  HeapTrim,
  startHeapTrim,
  TRIM_MAX_LIVE_BYTES,
  TRIM_MIN_INTERVAL_MS,
  TRIM_STEP_BYTES,
} from "./heap_trim.ts";

const MiB = 1024 * 1024;

/** A heap whose garbage a collection clears, and a clock, both moved by the test. */
function fakeHeap(live: number) {
  const h = { live, garbage: 0, t: 0, gcs: 0 };
  const trim = new HeapTrim({
    gc: () => {
      h.garbage = 0;
      h.gcs++;
    },
    used: () => h.live + h.garbage,
    now: () => h.t,
  });
  return { h, trim };
}

Deno.test("heap trim: collects once the garbage over what is live reaches the step", () => {
  const { h, trim } = fakeHeap(23 * MiB);
  assert.equal(trim.check(), false); // the first look only learns the heap
  h.t += TRIM_MIN_INTERVAL_MS;
  h.garbage = TRIM_STEP_BYTES - 1;
  assert.equal(trim.check(), false);
  h.garbage = TRIM_STEP_BYTES;
  assert.equal(trim.check(), true);
  assert.equal(h.gcs, 1);
  assert.equal(trim.live, 23 * MiB);
  // The same again only after the interval, however fast the garbage comes.
  h.garbage = 3 * TRIM_STEP_BYTES;
  h.t += TRIM_MIN_INTERVAL_MS - 1;
  assert.equal(trim.check(), false);
  h.t += 1;
  assert.equal(trim.check(), true);
  assert.equal(trim.trims, 2);
});

Deno.test("heap trim: the heap stays within live + the step over a long run", () => {
  const { h, trim } = fakeHeap(23 * MiB);
  let most = 0;
  // Two hours at 2 MiB of promoted garbage a minute, a look every 10 s: the step (4 MiB) is
  // reached every two minutes.
  for (let s = 0; s < 7200; s += 10) {
    h.t = s * 1000;
    h.garbage += (2 * MiB) / 6;
    trim.check();
    most = Math.max(most, h.live + h.garbage);
  }
  assert.ok(most <= 23 * MiB + TRIM_STEP_BYTES + (2 * MiB) / 6, `${most / MiB} MiB`);
  assert.ok(trim.trims >= 55, `${trim.trims} trims`);
});

Deno.test("heap trim: V8's own collections lower what it takes as live", () => {
  const { h, trim } = fakeHeap(30 * MiB);
  h.garbage = 5 * MiB;
  trim.check(); // learns 35 MiB: live and garbage
  h.garbage = 0; // V8 collected
  trim.check();
  assert.equal(trim.live, 30 * MiB);
  h.t += TRIM_MIN_INTERVAL_MS;
  h.garbage = TRIM_STEP_BYTES;
  assert.equal(trim.check(), true);
});

Deno.test("heap trim: an eighth of a larger live heap is the step; big heaps are V8's", () => {
  const { h, trim } = fakeHeap(48 * MiB);
  trim.check();
  h.t += TRIM_MIN_INTERVAL_MS;
  h.garbage = 5.9 * MiB;
  assert.equal(trim.check(), false);
  h.garbage = 6 * MiB;
  assert.equal(trim.check(), true);
  const big = fakeHeap(TRIM_MAX_LIVE_BYTES + MiB);
  big.trim.check();
  big.h.t += TRIM_MIN_INTERVAL_MS;
  big.h.garbage = TRIM_MAX_LIVE_BYTES;
  assert.equal(big.trim.check(), false);
  assert.equal(big.h.gcs, 0);
});

Deno.test("heap trim: started once per process, stopped with its last user", () => {
  const a = startHeapTrim();
  const b = startHeapTrim();
  a();
  a(); // twice: no effect on b's share
  b();
});
