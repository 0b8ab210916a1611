import assert from "node:assert/strict";
import { ASK_TRIES, AskAgain } from "./ask_again.ts";
import { eventually, HANG_GUARD_MS } from "../../../tests/fixtures/netns.ts";

/** Asking over counted hellos; the versions held and whether it may go on are set by the test. */
function harness(againMs = 1) {
  const s = { hellos: 0, v: 1, pv: 0, live: true };
  const ask = new AskAgain({
    hello: () => s.hellos++,
    version: () => s.v,
    policyVersion: () => s.pv,
    live: () => s.live,
    againMs,
  });
  return { s, ask };
}

Deno.test("ask again: news told after an answer came is asked for again when its answer is lost", async () => {
  // The first wait a real node has: the answer of the first ask comes well within it.
  const { s, ask } = harness(1000);
  try {
    ask.askFor(2, 0);
    s.v = 2;
    // A second change while the first round of asking runs: its answer never comes.
    ask.askFor(3, 0);
    assert.equal(s.hellos, 2);
    await eventually(() => Promise.resolve(s.hellos >= 3), HANG_GUARD_MS);
    assert.equal(s.v, 2);
  } finally {
    ask.stop();
  }
});

Deno.test("ask again: asked at most ASK_TRIES times more while nothing comes, then it ends", async () => {
  const { s, ask } = harness();
  ask.askFor(2, 0);
  assert.equal(s.hellos, 1);
  assert.ok(ask.asking);
  assert.ok(await eventually(() => Promise.resolve(!ask.asking), HANG_GUARD_MS, 5));
  assert.equal(s.hellos, 1 + ASK_TRIES);
});

Deno.test("ask again: what comes (view or policy) ends the asking; so does stopping", async () => {
  for (const came of ["view", "policy", "stop"] as const) {
    const { s, ask } = harness();
    ask.askFor(came === "policy" ? 1 : 2, came === "view" ? 0 : 3);
    if (came === "view") s.v = 2;
    if (came === "policy") s.pv = 3;
    if (came === "stop") ask.stop();
    assert.ok(await eventually(() => Promise.resolve(!ask.asking), HANG_GUARD_MS, 5), came);
    assert.equal(s.hellos, 1, came);
  }
});

Deno.test("ask again: news told while an ask's hello is unanswered says no other hello; its retry asks for the newest", async () => {
  const { s, ask } = harness(1000);
  try {
    ask.askFor(2, 0);
    // Pushes a node behind drops, one after another, before the answer: no hello each.
    for (let v = 3; v <= 9; v++) ask.askFor(v, 0);
    assert.equal(s.hellos, 1, "one hello until something comes");
    // Nothing came: the retry asks again (its hello carries the versions held).
    await eventually(() => Promise.resolve(s.hellos >= 2), HANG_GUARD_MS);
    // Part of it came (the leader answered at 5): news of 9 now asks at once.
    s.v = 5;
    ask.askFor(9, 0);
    assert.equal(s.hellos, 3);
    // And the asking ends only once 9 is held or something moves.
    s.v = 9;
    assert.ok(await eventually(() => Promise.resolve(!ask.asking), HANG_GUARD_MS, 5));
  } finally {
    ask.stop();
  }
});

Deno.test("ask again: an answer that brings part of the news told meanwhile is followed by another ask at once", () => {
  const { s, ask } = harness(60_000);
  try {
    ask.askFor(2, 0);
    // News of 4 and of policy 3 while the hello is out: no hello of their own.
    ask.askFor(4, 3);
    assert.equal(s.hellos, 1);
    // Nothing new taken: nothing asked.
    ask.came();
    assert.equal(s.hellos, 1);
    // The answer brings 2 (the leader read the hello before 4 was made): the rest asked for now.
    s.v = 2;
    ask.came();
    assert.equal(s.hellos, 2);
    // A push brings 4; the policy still lacks: asked once more.
    s.v = 4;
    ask.came();
    assert.equal(s.hellos, 3);
    assert.ok(ask.asking);
    // All came: the asking ends, and no retry follows.
    s.pv = 3;
    ask.came();
    assert.ok(!ask.asking);
    assert.equal(s.hellos, 3);
  } finally {
    ask.stop();
  }
});
