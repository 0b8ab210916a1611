import assert from "node:assert/strict";
import { MAX_SLICE_US, MIN_SLICE_US, setOwnSlice, threadSliceUs } from "./thread_slice.ts";

const hasSlices = (): boolean => Deno.build.os === "linux" && threadSliceUs("self") !== null;

Deno.test({
  name:
    "thread slice: the caller's slice is set, read back, and given back to the kernel's default",
  ignore: !hasSlices(),
  fn: () => {
    const before = threadSliceUs("self");
    try {
      assert.deepEqual(setOwnSlice(250), { set: true });
      assert.equal(threadSliceUs("self"), 250);
    } finally {
      assert.deepEqual(setOwnSlice(0), { set: true });
    }
    assert.equal(threadSliceUs("self"), before);
  },
});

Deno.test("thread slice: a slice outside the kernel's range is refused before any call", () => {
  for (const us of [MIN_SLICE_US - 1, MAX_SLICE_US + 1, -5, 1.5, NaN]) {
    assert.throws(() => setOwnSlice(us), RangeError, String(us));
  }
});
