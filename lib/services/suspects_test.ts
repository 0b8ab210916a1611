import assert from "node:assert/strict";
import { Suspects } from "./suspects.ts";

function clock() {
  let t = 1000;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

Deno.test("suspects: stay suspect however long until a pong to one of their pings", () => {
  const c = clock();
  const s = new Suspects({ now: c.now, pingIntervalMs: 1000 });
  s.mark("10.0.0.2");
  assert.ok(s.has("10.0.0.2"));
  // The first ping is due at once, then one per interval.
  const first = s.due();
  assert.deepEqual(first.map((p) => p.address), ["10.0.0.2"]);
  assert.deepEqual(s.due(), []);
  c.advance(999);
  assert.deepEqual(s.due(), []);
  c.advance(1);
  const second = s.due();
  assert.equal(second.length, 1);
  assert.ok(second[0].id > first[0].id);
  // No time ends the suspicion: only evidence does.
  c.advance(3_600_000);
  assert.ok(s.has("10.0.0.2"));
  assert.equal(s.age("10.0.0.2"), 3_601_000);
  // A pong it was never sent, or from another address, does not count.
  assert.equal(s.answered("10.0.0.2", second[0].id + 1), false);
  assert.equal(s.answered("10.0.0.3", first[0].id), false);
  assert.ok(s.has("10.0.0.2"));
  // A late pong to the first ping does.
  assert.equal(s.answered("10.0.0.2", first[0].id), true);
  assert.equal(s.has("10.0.0.2"), false);
  assert.equal(s.age("10.0.0.2"), undefined);
  assert.equal(s.answered("10.0.0.2", first[0].id), false, "already cleared");
});

Deno.test("suspects: an answer to a call clears one; a pong before any ping is a stray", () => {
  const c = clock();
  const s = new Suspects({ now: c.now });
  s.mark("a");
  assert.equal(s.answered("a", 1), false, "no ping was sent yet");
  assert.equal(s.clear("a"), true);
  assert.equal(s.clear("a"), false);
  // Marking again starts over: pinged at once.
  s.mark("a");
  assert.equal(s.due().length, 1);
  // Marking one already suspect changes nothing (its pings stay on their interval).
  s.mark("a");
  assert.deepEqual(s.due(), []);
});

Deno.test("suspects: bounded, the oldest forgotten; former members dropped", () => {
  const c = clock();
  const s = new Suspects({ now: c.now, max: 3 });
  for (const a of ["a", "b", "c", "d"]) s.mark(a);
  assert.deepEqual(s.list(), ["b", "c", "d"]);
  assert.equal(s.size, 3);
  s.retain((a) => a !== "c");
  assert.deepEqual(s.list(), ["b", "d"]);
  // One ping per suspect per interval, however many are due.
  assert.equal(s.due().length, 2);
  assert.equal(s.due().length, 0);
});

Deno.test("suspects: a bad interval or bound is refused", () => {
  assert.throws(() => new Suspects({ pingIntervalMs: 0 }), RangeError);
  assert.throws(() => new Suspects({ pingIntervalMs: NaN }), RangeError);
  assert.throws(() => new Suspects({ max: 0 }), RangeError);
  assert.throws(() => new Suspects({ max: 1.5 }), RangeError);
});
