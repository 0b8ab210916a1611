import assert from "node:assert/strict";
import { FRAME_SLOT, FrameBuffer } from "./frame_buffer.ts";
import { READ_BULK, READ_SIZE, SHRINK_AFTER_READS } from "./tcp_stream.ts";

Deno.test("FrameBuffer: a frame is copied to the slot, one view per length, the read area untouched", () => {
  const rb = new FrameBuffer(64, 16);
  rb.area.set([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  const a = rb.frame(2, 4);
  assert.deepEqual([...a], [2, 3, 4, 5]);
  const b = rb.frame(8, 4);
  assert.equal(b, a, "the same view for the same length");
  assert.deepEqual([...b], [8, 9, 10, 11]);
  assert.deepEqual([...rb.frame(1, 3)], [1, 2, 3]);
  assert.deepEqual([...rb.area.subarray(0, 12)], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
});

Deno.test("FrameBuffer: a frame past the slot is a view where it lies; the next resize makes room", () => {
  const rb = new FrameBuffer(64, 16);
  for (let i = 0; i < 40; i++) rb.area[i] = i;
  const big = rb.frame(4, 20);
  assert.deepEqual([big.length, big[0], big[19]], [20, 4, 23]);
  assert.equal(big.buffer, rb.area.buffer);
  rb.resize(64, 40);
  assert.equal(rb.slot, 20);
  assert.deepEqual([...rb.area.subarray(0, 40)], Array.from({ length: 40 }, (_, i) => i));
  const copied = rb.frame(4, 20);
  assert.equal(rb.frame(4, 20), copied, "now from the slot");
  assert.deepEqual([copied[0], copied[19]], [4, 23]);
});

Deno.test("FrameBuffer: resize keeps what was read, and is a no-op at the same size", () => {
  const rb = new FrameBuffer(32);
  assert.equal(rb.slot, FRAME_SLOT);
  rb.area.set([7, 8, 9]);
  const area = rb.area;
  rb.resize(32, 3);
  assert.equal(rb.area, area, "nothing reallocated");
  rb.resize(128, 3);
  assert.deepEqual([rb.area.length, ...rb.area.subarray(0, 3)], [128, 7, 8, 9]);
  const v = rb.frame(0, 3);
  rb.resize(32, 3);
  assert.notEqual(rb.frame(0, 3), v, "views of the old memory are not handed out again");
  assert.deepEqual([...rb.frame(0, 3)], [7, 8, 9]);
});

Deno.test("FrameBuffer: the views kept stay bounded whatever lengths come", () => {
  const rb = new FrameBuffer(4096, 256);
  const seen = new Set<Uint8Array>();
  for (let len = 1; len <= 200; len++) seen.add(rb.frame(0, len));
  assert.equal(seen.size, 200);
  // The first lengths' views were forgotten past the cap: a new object for length 1.
  assert.ok(!seen.has(rb.frame(0, 1)));
  assert.equal(rb.frame(0, 200), rb.frame(0, 200));
});

Deno.test("FrameBuffer.fit: bulk once a peer's read fills the area, small again after quiet reads", () => {
  const rb = new FrameBuffer(READ_SIZE);
  rb.fit(READ_SIZE, true, 10, 0, false);
  assert.equal(rb.area.length, READ_SIZE, "junk (no peer's yet) keeps a small area");
  rb.area.set([1, 2, 3]);
  rb.fit(READ_SIZE, true, 3, 0, true);
  assert.deepEqual([rb.area.length, ...rb.area.subarray(0, 3)], [READ_BULK, 1, 2, 3]);
  for (let i = 1; i < SHRINK_AFTER_READS; i++) rb.fit(100, false, 0, 0, true);
  assert.equal(rb.area.length, READ_BULK);
  rb.fit(100, false, 0, 0, true);
  assert.equal(rb.area.length, READ_SIZE);
  rb.fit(100, false, 2, 40_000, true);
  assert.equal(rb.area.length, 40_000, "room for the whole frame in progress");
});
