import assert from "node:assert/strict";
import {
  joinTimeProblem,
  MAX_JOIN_AHEAD_MS,
  NOT_KEY_HOLDER,
  refusalDrop,
  STALE,
} from "./freshness.ts";

Deno.test("join freshness: a time ahead of the leader's clock by more than the skew is refused", () => {
  const now = 1_700_000_000_000;
  assert.equal(joinTimeProblem(now, now), undefined);
  assert.equal(joinTimeProblem(now - 86_400_000, now), undefined, "the past is the replay check's");
  assert.equal(joinTimeProblem(now + MAX_JOIN_AHEAD_MS, now), undefined);
  const ahead = joinTimeProblem(now + 3_600_000, now)!;
  assert.match(ahead, /^join request from the future: its time is 3600 s ahead .*at most 300 s/);
  assert.equal(refusalDrop(ahead), "future");
  assert.equal(refusalDrop(STALE), "stale");
  assert.equal(refusalDrop(NOT_KEY_HOLDER), "not-key-holder");
  assert.equal(refusalDrop("token expired"), null);
});
