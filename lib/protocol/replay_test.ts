import assert from "node:assert/strict";
import { REPLAY_WINDOW_SIZE, ReplayWindow } from "./replay.ts";

const LIMIT = Number.MAX_SAFE_INTEGER;

Deno.test("replay window: in order, duplicates, and out of order within the window", () => {
  const w = new ReplayWindow();
  assert.ok(REPLAY_WINDOW_SIZE >= 2048);
  for (let i = 0; i < 100; i++) assert.ok(w.accept(i, LIMIT), `first ${i}`);
  for (let i = 0; i < 100; i++) assert.equal(w.accept(i, LIMIT), false, `dup ${i}`);
  assert.ok(w.accept(150, LIMIT));
  assert.ok(w.accept(120, LIMIT), "older but unseen");
  assert.equal(w.accept(120, LIMIT), false);
});

Deno.test("replay window: exactly at and just past the window edge", () => {
  const w = new ReplayWindow();
  const top = 10_000;
  assert.ok(w.accept(top, LIMIT));
  assert.ok(w.accept(top - REPLAY_WINDOW_SIZE, LIMIT), "oldest still inside");
  assert.equal(w.accept(top - REPLAY_WINDOW_SIZE - 1, LIMIT), false, "just outside");
  assert.equal(w.accept(0, LIMIT), false, "far behind");
});

Deno.test("replay window: a far-future jump clears the old bits", () => {
  const w = new ReplayWindow();
  for (let i = 0; i < 64; i++) w.accept(i, LIMIT);
  const far = 1_000_000_007;
  assert.ok(w.accept(far, LIMIT));
  assert.equal(w.accept(far, LIMIT), false);
  assert.ok(w.accept(far - 1, LIMIT));
  assert.ok(w.accept(far - REPLAY_WINDOW_SIZE + 3, LIMIT));
  assert.equal(w.accept(63, LIMIT), false);
});

Deno.test("replay window: counters beyond 2^32 and the ring wrap", () => {
  const w = new ReplayWindow();
  const base = 2 ** 32 - 40;
  for (let i = 0; i < 5000; i++) assert.ok(w.accept(base + i, LIMIT), `${base + i}`);
  for (let i = 5000 - REPLAY_WINDOW_SIZE; i < 5000; i++) {
    assert.equal(w.accept(base + i, LIMIT), false);
  }
});

Deno.test("replay window: the limit and negatives are rejected", () => {
  const w = new ReplayWindow();
  assert.equal(w.accept(100, 100), false);
  assert.ok(w.accept(99, 100));
  assert.equal(w.accept(-1, 100), false);
});

Deno.test("replay window: random order against a reference set", () => {
  const w = new ReplayWindow();
  const seen = new Set<number>();
  let max = 0;
  let seed = 12345;
  const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  for (let i = 0; i < 50_000; i++) {
    const c = Math.max(0, Math.floor(max + (rnd() - 0.7) * 6000));
    const expect = !seen.has(c) && !(max - c > REPLAY_WINDOW_SIZE);
    assert.equal(w.accept(c, LIMIT), expect, `counter ${c} max ${max}`);
    if (expect) {
      seen.add(c);
      if (c > max) max = c;
    }
  }
});
