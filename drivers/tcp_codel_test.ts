import assert from "node:assert/strict";
import { QueueDelay } from "./tcp_codel.ts";

Deno.test("QueueDelay: drops only after the head waited past the target for an interval, then faster", () => {
  const q = new QueueDelay(5, 100);
  // Above the target from t=0: the first drop is due an interval later.
  assert.equal(q.drop(0, 10, false), false);
  assert.equal(q.drop(99, 10, false), false);
  assert.equal(q.drop(100, 10, false), true);
  assert.equal(q.drop(100, 10, false), false, "one drop, then the next is 100 ms away");
  assert.equal(q.drop(199, 10, false), false);
  assert.equal(q.drop(200, 10, false), true);
  // The third comes 100/sqrt(2) ms after the second.
  assert.equal(q.drop(270, 10, false), false);
  assert.equal(q.drop(271, 10, false), true);
  // Under the target: the dropping state ends.
  assert.equal(q.drop(400, 4, false), false);
  assert.equal(q.dropping, false);
});

Deno.test("QueueDelay: never the last frame; a dip under the target restarts the interval", () => {
  const q = new QueueDelay(5, 100);
  assert.equal(q.drop(0, 50, false), false);
  assert.equal(q.drop(150, 50, true), false, "the only frame queued");
  assert.equal(q.drop(160, 50, false), false, "the interval starts over");
  assert.equal(q.drop(259, 50, false), false);
  assert.equal(q.drop(260, 2, false), false);
  assert.equal(q.drop(300, 50, false), false);
  q.idle();
  assert.equal(q.drop(500, 50, false), false);
  assert.equal(q.drop(600, 50, false), true);
});
