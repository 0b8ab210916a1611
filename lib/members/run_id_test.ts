import assert from "node:assert/strict";
import { newRunId, runIdOf } from "./run_id.ts";

Deno.test("run id: new ids are valid and differ; anything else is refused", () => {
  const a = newRunId();
  const b = newRunId();
  assert.equal(runIdOf(a), a);
  assert.notEqual(a, b);
  for (const bad of [undefined, null, 7, "", "xyz", "ABCDEF0123456789", a + "0", a.slice(1), {}]) {
    assert.equal(runIdOf(bad), undefined, String(bad));
  }
});
