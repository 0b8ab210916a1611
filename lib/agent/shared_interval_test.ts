import assert from "node:assert/strict";
import { SharedInterval } from "./shared_interval.ts";

Deno.test("shared interval: one timer for every user, stopped by the last; each stop counts once", () => {
  let made = 0;
  const s = new SharedInterval(60_000, () => (made++, () => {}));
  const a = s.start();
  const b = s.start();
  assert.equal(made, 1);
  assert.ok(s.running);
  a();
  a(); // a second stop of the same user is not another user's
  assert.ok(s.running, "b still uses it");
  b();
  assert.ok(!s.running);
  const c = s.start();
  assert.equal(made, 2, "started again for a new user");
  c();
  assert.ok(!s.running);
});

Deno.test("shared interval: nothing to run is a stop that does nothing", () => {
  const s = new SharedInterval(60_000, () => null);
  const stop = s.start();
  assert.ok(!s.running);
  stop();
});
