import assert from "node:assert/strict";
import { IndexTable } from "./index_table.ts";

Deno.test("IndexTable: unsigned indices on both sides of 2^31 are distinct keys", () => {
  const t = new IndexTable<string>();
  for (
    const [i, v] of [[1, "one"], [0x7fffffff, "max-signed"], [0x80000000, "2^31"], [
      0xffffffff,
      "all-ones",
    ]] as const
  ) {
    t.set(i, v);
  }
  assert.equal(t.size, 4);
  assert.equal(t.get(0x80000000), "2^31");
  assert.equal(t.get(0xffffffff), "all-ones");
  assert.equal(t.get(0x7fffffff), "max-signed");
  assert.equal(t.get(1), "one");
  assert.equal(t.get(2), undefined);
  assert.ok(t.has(0xffffffff));
  assert.ok(t.delete(0xffffffff));
  assert.ok(!t.has(0xffffffff));
  assert.equal(t.delete(0xffffffff), false);
  assert.equal(t.size, 3);
});
