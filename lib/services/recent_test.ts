import assert from "node:assert/strict";
import { RecentSet } from "./recent.ts";

Deno.test("recent: remembers keys, forgets the oldest once full", () => {
  const r = new RecentSet(2);
  assert.ok(r.add("a"));
  assert.ok(!r.add("a"));
  assert.ok(r.add("b"));
  assert.ok(r.add("c"));
  assert.equal(r.size, 2);
  assert.ok(!r.has("a"));
  assert.ok(r.has("b") && r.has("c"));
  assert.throws(() => new RecentSet(0), /capacity/);
});
