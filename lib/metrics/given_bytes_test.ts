import assert from "node:assert/strict";
import { giveAway, takeGiven } from "./given_bytes.ts";

Deno.test("given bytes: a whole buffer given away is taken once; views and others are not", () => {
  const whole = giveAway(new Uint8Array(8));
  assert.equal(takeGiven(whole), whole.buffer);
  assert.equal(takeGiven(whole), null, "taken once");
  const part = giveAway(new Uint8Array(8).subarray(0, 4));
  assert.equal(takeGiven(part), null, "a view of part of a buffer is never given");
  assert.equal(takeGiven(new Uint8Array(8)), null, "not given");
  const shared = new Uint8Array(8);
  giveAway(shared);
  assert.equal(takeGiven(shared.subarray(1)), null, "a view of a given buffer is not its whole");
});
