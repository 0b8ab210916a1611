import assert from "node:assert/strict";
import { BATCH_GAP_FACTOR, ChangeQueue, MAX_BATCH_GAP_MS } from "./changes.ts";
import type { LeaderFile } from "../state/state.ts";

/**
 * A queue on a hand-moved clock: a write takes `writeMs` of it; the waits the queue asks for are
 * recorded and pass at once (the clock moves by them).
 */
function setup(writeMs: number) {
  let t = 1000;
  const waits: number[] = [];
  const batches: number[] = [];
  let data = { version: 0, members: [], tokens: [], joins: {}, left: {} } as unknown as LeaderFile;
  let pendingInBatch = 0;
  const q = new ChangeQueue({
    current: () => data,
    revision: () => 0,
    write: async () => {
      batches.push(pendingInBatch);
      pendingInBatch = 0;
      t += writeMs;
      await Promise.resolve();
      return 0;
    },
    reload: () => Promise.resolve(),
    commit: (d) => data = d,
    clock: {
      now: () => t,
      sleep: (ms) => {
        waits.push(ms);
        t += ms;
        return Promise.resolve();
      },
    },
  });
  const change = () =>
    q.change((d, touch) => {
      pendingInBatch++;
      touch();
      return { result: d.version, write: true };
    });
  return { q, waits, batches, change, advance: (ms: number) => t += ms };
}

Deno.test("change queue: a change after a quiet spell runs at once; under a stream the next batch waits and grows", async () => {
  const { waits, batches, change, advance } = setup(10);
  await change();
  assert.deepEqual(waits, [], "the first change does not wait");
  // Four changes arrive while nothing runs, right after the first batch: they wait the gap
  // (three times the 10 ms batch) and go as one batch.
  await Promise.all([change(), change(), change(), change()]);
  assert.deepEqual(waits, [10 * BATCH_GAP_FACTOR]);
  assert.deepEqual(batches, [1, 4]);
  // After a quiet spell longer than the gap, a change runs at once again.
  advance(100);
  await change();
  assert.deepEqual(waits, [30]);
  assert.deepEqual(batches, [1, 4, 1]);
});

Deno.test("change queue: the gap after a slow batch is bounded", async () => {
  const { waits, change } = setup(1000);
  await change();
  await Promise.all([change(), change()]);
  assert.deepEqual(waits, [MAX_BATCH_GAP_MS]);
});
