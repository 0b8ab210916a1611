import assert from "node:assert/strict";
import {
  MAX_PUSH_GAP_MS,
  PUSH_COALESCE_MS,
  PUSH_DATAGRAMS_PER_SECOND,
  type PushClock,
  PushSchedule,
} from "./push_schedule.ts";

/** A hand-moved clock whose timers run as it passes them, in order. */
class FakeClock implements PushClock {
  t = 0;
  #timers = new Map<number, { at: number; fn: () => void }>();
  #id = 0;
  now(): number {
    return this.t;
  }
  setTimer(fn: () => void, ms: number): unknown {
    this.#timers.set(++this.#id, { at: this.t + Math.max(0, ms), fn });
    return this.#id;
  }
  clearTimer(id: unknown): void {
    this.#timers.delete(id as number);
  }
  /** Moves to `to`, running each timer due on the way at its time. */
  advance(to: number): void {
    for (;;) {
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const e of this.#timers) if (e[1].at <= to && (!next || e[1].at < next[1].at)) next = e;
      if (!next) break;
      this.#timers.delete(next[0]);
      this.t = next[1].at;
      next[1].fn();
    }
    this.t = to;
  }
}

/**
 * A schedule for a mesh of `members` (each push a datagram a member, out at once unless `out`
 * says not yet), on a fake clock; the version each push carried, and when.
 */
function setup(members: number, opts: { perSecond?: number; passed?: number } = {}) {
  const clock = new FakeClock();
  let version = 0;
  // Whether pushes go out at once, and whether one made is not out yet.
  let out = true;
  let unsent = false;
  const afterOut: (() => void)[] = [];
  const pushes: { at: number; version: number }[] = [];
  const schedule = new PushSchedule({
    make: () => {
      if (pushes.at(-1)?.version === version) return 0;
      pushes.push({ at: clock.t, version });
      unsent = !out;
      return members;
    },
    pushing: () => unsent ? members : 0,
    whenPushed: (fn) => unsent ? afterOut.push(fn) : fn(),
    clock,
    ...(opts.perSecond ? { perSecond: opts.perSecond } : {}),
    ...(opts.passed ? { passed: () => opts.passed! } : {}),
  });
  /** A change at the clock's time (the version it made). */
  const change = () => {
    version++;
    schedule.soon();
    return version;
  };
  const setOut = (yes: boolean) => {
    out = yes;
    if (yes) {
      unsent = false;
      for (const fn of afterOut.splice(0)) fn();
    }
  };
  return { clock, schedule, pushes, change, setOut };
}

/**
 * A burst of changes, one every `everyMs` for `seconds`: the pushes each second at most, and the
 * longest any change waited for the push that carried it, ms.
 */
function burst(s: ReturnType<typeof setup>, everyMs: number, seconds: number) {
  const made: { at: number; version: number }[] = [];
  for (let t = 0; t < seconds * 1000; t += everyMs) {
    s.clock.advance(t);
    made.push({ at: t, version: s.change() });
  }
  // The last change's push, and the quiet after.
  s.clock.advance(seconds * 1000 + 10 * MAX_PUSH_GAP_MS);
  let perSecond = 0;
  for (let t = 0; t < seconds * 1000; t += 100) {
    perSecond = Math.max(perSecond, s.pushes.filter((p) => p.at >= t && p.at < t + 1000).length);
  }
  let waited = 0;
  for (const c of made) {
    const p = s.pushes.find((p) => p.version >= c.version);
    assert.ok(p, `the change to version ${c.version} was pushed`);
    waited = Math.max(waited, p.at - c.at);
  }
  return { perSecond, waited };
}

Deno.test("push schedule: a burst of changes to 10,000 members is pushed once a second, each change within the gap", () => {
  const s = setup(10_000);
  const { perSecond, waited } = burst(s, 10, 10);
  console.log(
    `10,000 members: ${perSecond} pushes in a second at most, a change waited ${waited} ms`,
  );
  // The budget's datagrams a second, over a push of 10,000: one a second (two may fall in a
  // window that starts just before one).
  const allowed = Math.ceil((PUSH_DATAGRAMS_PER_SECOND * 1000) / 10_000 / 1000);
  assert.ok(perSecond <= allowed + 1, `${perSecond} pushes in a second, over ${allowed}`);
  assert.ok(waited <= MAX_PUSH_GAP_MS + PUSH_COALESCE_MS, `a change waited ${waited} ms`);
  // Versions pushed in order, none twice.
  const versions = s.pushes.map((p) => p.version);
  assert.deepEqual(versions, [...versions].sort((a, b) => a - b));
  assert.equal(new Set(versions).size, versions.length);
  assert.equal(s.schedule.counts.datagrams, 10_000 * s.pushes.length);
});

Deno.test("push schedule: a carried push weighs as every datagram it makes, the members' too", () => {
  // The leader sends 100 datagrams a push (to carriers), which pass on 9,900: the cadence of a
  // push of 10,000, not of 100 (a hundred pushes a second for members to take and pass on).
  const s = setup(100, { passed: 9_900 });
  const { perSecond, waited } = burst(s, 10, 10);
  assert.ok(perSecond <= 2, `${perSecond} pushes in a second`);
  assert.ok(waited <= MAX_PUSH_GAP_MS + PUSH_COALESCE_MS, `a change waited ${waited} ms`);
  // The leader's own datagrams are what it counts.
  assert.equal(s.schedule.counts.datagrams, 100 * s.pushes.length);
});

Deno.test("push schedule: a small mesh's pushes stay frequent (the gap grows with the members told)", () => {
  const s = setup(1000);
  const { perSecond, waited } = burst(s, 10, 5);
  console.log(
    `1,000 members: ${perSecond} pushes in a second at most, a change waited ${waited} ms`,
  );
  // 1,000 datagrams a push: a tenth of a second apart, the datagrams a second within the budget.
  assert.ok(perSecond * 1000 <= PUSH_DATAGRAMS_PER_SECOND + 1000, `${perSecond} pushes a second`);
  assert.ok(perSecond >= 5, `${perSecond} pushes a second`);
  assert.ok(waited <= 100 + PUSH_COALESCE_MS, `a change waited ${waited} ms`);
});

Deno.test("push schedule: a mesh larger than the budget serves is pushed at the longest gap", () => {
  const s = setup(50_000);
  const { waited } = burst(s, 10, 5);
  assert.ok(waited <= MAX_PUSH_GAP_MS + PUSH_COALESCE_MS, `a change waited ${waited} ms`);
});

Deno.test("push schedule: after a quiet spell a change goes with its burst at once; a forced push skips the gap", () => {
  const s = setup(10_000);
  s.change();
  s.clock.advance(PUSH_COALESCE_MS - 1);
  assert.equal(s.pushes.length, 0, "waits for the rest of its burst");
  s.change();
  s.clock.advance(PUSH_COALESCE_MS);
  assert.deepEqual(s.pushes, [{ at: PUSH_COALESCE_MS, version: 2 }], "both in one push");
  // Within the gap the next change waits; forced, it goes now.
  s.clock.advance(200);
  s.change();
  s.clock.advance(300);
  assert.equal(s.pushes.length, 1);
  s.schedule.now(true);
  assert.deepEqual(s.pushes.at(-1), { at: 300, version: 3 });
  // Unforced, a push now waits for the gap; after a quiet spell longer than it, it goes at once.
  s.change();
  s.schedule.now();
  assert.equal(s.pushes.length, 2);
  s.clock.advance(300 + MAX_PUSH_GAP_MS);
  assert.deepEqual(s.pushes.at(-1), { at: 1300, version: 4 });
  s.clock.advance(5000);
  s.change();
  s.schedule.now();
  assert.deepEqual(s.pushes.at(-1), { at: 5000, version: 5 });
  assert.equal(s.schedule.counts.pushes, 4);
});

Deno.test("push schedule: a push waits for the one before it to be out, then carries what changed meanwhile", () => {
  const s = setup(10, { perSecond: Infinity });
  s.setOut(false);
  s.change();
  s.clock.advance(PUSH_COALESCE_MS);
  assert.equal(s.pushes.length, 1);
  s.change();
  s.change();
  s.clock.advance(1000);
  s.schedule.now(true);
  assert.equal(s.pushes.length, 1, "the first push is not out yet");
  s.setOut(true);
  assert.deepEqual(s.pushes.map((p) => p.version), [1, 3]);
  s.schedule.close();
  s.change();
  s.clock.advance(5000);
  assert.equal(s.pushes.length, 2, "closed: no push");
});
