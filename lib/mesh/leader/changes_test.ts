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

Deno.test("change queue: an urgent change (a bye) ends the gap; the changes waiting go in its batch", async () => {
  let t = 1000;
  const sleeps: number[] = [];
  const batches: number[] = [];
  let inBatch = 0;
  let data = { version: 0, members: [], tokens: [], joins: {}, left: {} } as unknown as LeaderFile;
  let slept: () => void = () => {};
  const sleeping = new Promise<void>((r) => slept = r);
  const q = new ChangeQueue({
    current: () => data,
    revision: () => 0,
    write: async () => {
      batches.push(inBatch);
      inBatch = 0;
      t += 10;
      await Promise.resolve();
      return 0;
    },
    reload: () => Promise.resolve(),
    commit: (d) => data = d,
    clock: {
      now: () => t,
      // The gap passes only when something ends it: the clock never moves by itself.
      sleep: (ms, signal) =>
        new Promise<void>((r) => {
          sleeps.push(ms);
          signal.addEventListener("abort", () => r(), { once: true });
          slept();
        }),
    },
  });
  const change = (urgent = false) =>
    q.change((d, touch) => {
      inBatch++;
      touch();
      return { result: d.version, write: true };
    }, { urgent });
  await change();
  // A change right after the first batch waits the gap (three times its 10 ms)...
  const waiting = change();
  await sleeping;
  assert.deepEqual(sleeps, [10 * BATCH_GAP_FACTOR]);
  // ...until a bye comes: both go at once, in order, in one batch.
  assert.deepEqual(await Promise.all([waiting, change(true)]), [2, 3]);
  assert.deepEqual(batches, [1, 2]);
  // The gap after that batch is as usual: a plain change waits it again.
  const after = change();
  assert.deepEqual(sleeps, [30, 30]);
  const bye = change(true);
  assert.deepEqual(await Promise.all([after, bye]), [4, 5]);
  assert.deepEqual(batches, [1, 2, 2]);
});
