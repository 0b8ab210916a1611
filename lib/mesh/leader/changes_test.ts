import assert from "node:assert/strict";
import { BATCH_GAP_FACTOR, ChangeQueue, MAX_BATCH_GAP_MS } from "./changes.ts";
import type { JoinRecord, LeaderFile } from "../state/state.ts";
import { RecordMap } from "../state/record_map.ts";

/**
 * A queue on a hand-moved clock: an edit takes `editMs` of it, a write `writeMs` before its call
 * returns and `answerMs` more before its promise settles (the store's answer, during which the
 * leader does other work); the waits the queue asks for are recorded and pass at once (the clock
 * moves by them).
 */
function setup(writeMs: number, { editMs = 0, answerMs = 0 } = {}) {
  let t = 1000;
  const waits: number[] = [];
  const batches: number[] = [];
  let data = {
    version: 0,
    members: [],
    tokens: [],
    joins: new RecordMap(),
    left: {},
  } as unknown as LeaderFile;
  let pendingInBatch = 0;
  const q = new ChangeQueue({
    current: () => data,
    revision: () => 0,
    write: async () => {
      batches.push(pendingInBatch);
      pendingInBatch = 0;
      t += writeMs;
      await Promise.resolve();
      t += answerMs;
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
      t += editMs;
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

Deno.test("change queue: the gap counts a batch's own work, not the time its write awaits the store", async () => {
  // Each edit takes 1 ms and the store 2 ms before its call returns (its diff of the copy); then
  // its answer takes 500 ms to come (etcd's round trip), during which the leader does other work.
  const { waits, change } = setup(2, { editMs: 1, answerMs: 500 });
  await change();
  await Promise.all([change(), change()]);
  // The first batch's own work: one edit and the store's 2 ms; the next batch waits three times that.
  assert.deepEqual(
    waits,
    [3 * BATCH_GAP_FACTOR],
    "the gap after a batch whose write awaited 500 ms",
  );
});

Deno.test("change queue: a batch's copy holds the join records it changed over the state's, which it leaves as they were", async () => {
  const record = (i: number): JoinRecord => ({ token: "t", at: i, heard: true, time: i });
  const joins = new RecordMap<JoinRecord>();
  for (let i = 0; i < 1000; i++) joins.set(`k${i}`, record(i));
  let data = { version: 0, members: [], tokens: [], joins, left: {} } as unknown as LeaderFile;
  const written: number[] = [];
  const q = new ChangeQueue({
    current: () => data,
    revision: () => 0,
    // Each write sees what its copy holds of its own: the records its batch changed.
    write: (d) => {
      written.push(d.joins.ownEntries ?? d.joins.size);
      return Promise.resolve(0);
    },
    reload: () => Promise.resolve(),
    commit: (d) => {
      data = d;
      d.joins.settle();
    },
  });
  const before = data;
  await Promise.all([
    q.change((d, touch) => {
      d.joins.set("new", record(2000));
      d.joins.delete("k5");
      touch("new", "k5");
      return { result: undefined, write: true };
    }),
    q.change((d) => {
      d.joins.set("k7", { ...d.joins.get("k7")!, heard: false });
      return { result: undefined, write: true };
    }),
  ]);
  assert.deepEqual(written, [2, 1], "two batches' copies, holding 2 and 1 records of their own");
  assert.equal(data.joins.size, 1000);
  assert.equal(data.joins.get("new")?.at, 2000);
  assert.equal(data.joins.get("k5"), undefined);
  assert.equal(data.joins.get("k7")?.heard, false);
  // The state before the batches reads as it did.
  assert.equal(before.joins.size, 1000);
  assert.equal(before.joins.get("new"), undefined);
  assert.equal(before.joins.get("k5")?.at, 5);
  assert.equal(before.joins.get("k7")?.heard, true);
  const keys = Array.from({ length: 1000 }, (_, i) => `k${i}`);
  assert.deepEqual(new Set(before.joins.keys()), new Set(keys));
});
