import assert from "node:assert/strict";
const assertEquals = (a: unknown, b: unknown) => assert.deepEqual(a, b);
import { FRESH_MS, heardThrough, ReadThrough, waitHeard } from "./read_through.ts";

Deno.test("a short batch reads a socket through to its end, a full one to its last datagram's arrival", () => {
  const r = new ReadThrough(4, 0);
  // A full batch, read at 1000, whose last datagram came at 700: read through to 700.
  for (const w of [400, 350, 320, 300]) r.datagram(w);
  r.batchEnd(1000);
  assertEquals(r.at, 700);
  // The next batch, short: the socket was empty at 1010.
  r.datagram(5);
  r.batchEnd(1010);
  assertEquals(r.at, 1010);
  // A full batch of older datagrams never moves it back.
  for (let i = 0; i < 4; i++) r.datagram(900);
  r.batchEnd(1020);
  assertEquals(r.at, 1010);
});

Deno.test("a socket not read lately counts as read through when the kernel holds nothing for it", () => {
  const asked: number[] = [];
  const q = (bytes: number, at: number) => ({
    queued: () => (asked.push(at), { bytes, at }),
  });
  const r = new ReadThrough(64, 1000);
  // Read lately: where it stands, without asking the kernel.
  assertEquals(heardThrough(r, 1000 + FRESH_MS, q(0, 0)), 1000);
  assertEquals(asked.length, 0);
  // Stale and queued: where it stands.
  assertEquals(heardThrough(r, 2000, q(1500, 2000)), 1000);
  // Stale and empty: heard through to when the queue was read.
  assertEquals(heardThrough(r, 3000, q(0, 2990)), 2990);
  assertEquals(r.at, 2990);
  assertEquals(asked.length, 2);
});

Deno.test("a wait ends once the member heard past its end, not before", () => {
  let t = 0;
  const timers: { at: number; fn: () => void }[] = [];
  const clock = {
    now: () => t,
    set: (fn: () => void, ms: number) => timers.push({ at: t + ms, fn }),
    clear: () => {},
  };
  const run = () => {
    timers.sort((a, b) => a.at - b.at);
    const next = timers.shift()!;
    t = next.at;
    next.fn();
  };
  let heard = 0;
  let ended = false;
  let held = 0;
  waitHeard(() => ended = true, 1000, () => heard, clock, () => held++);
  // At its end the member has read only what came until 600: the answer may be in the rest.
  heard = 600;
  run();
  assertEquals([ended, held], [false, 1]);
  // Read through to 990: still not past the end.
  heard = 990;
  run();
  assertEquals(ended, false);
  // Read through past the end: the answer did not come in time, the wait is over.
  heard = 1005;
  run();
  assertEquals([ended, held], [true, 1]);
});

Deno.test("a wait whose member heard everything ends on time, and a cancelled one never", () => {
  let t = 0;
  const timers = new Map<number, { at: number; fn: () => void }>();
  let id = 0;
  const clock = {
    now: () => t,
    set: (fn: () => void, ms: number) => (timers.set(++id, { at: t + ms, fn }), id),
    clear: (k: unknown) => void timers.delete(k as number),
  };
  let a = 0;
  let b = 0;
  waitHeard(() => a++, 500, () => t, clock);
  const cancel = waitHeard(() => b++, 500, () => t, clock);
  cancel();
  for (const [k, x] of [...timers]) {
    timers.delete(k);
    t = x.at;
    x.fn();
  }
  assertEquals([a, b, t], [1, 0, 500]);
});
