import assert from "node:assert/strict";
import { changedMembers, MAX_LEFT, remember, sameJson } from "./records.ts";
import type { Member } from "../../members/member.ts";
import type { LeaderFile } from "../state/state.ts";

Deno.test("remember: bounded; keys that merely left go first, removed ones keep a removed node out", () => {
  const d = { left: {} } as unknown as LeaderFile;
  // A removed node, then a flood of joins released unheard (a token holder's keys).
  assert.equal(remember(d, "removed", { time: 1, at: 1, removedToken: "t1" }), 0);
  let forgotten = 0;
  for (let i = 0; i < MAX_LEFT + 100; i++) forgotten += remember(d, `k${i}`, { time: 2, at: 2 });
  assert.equal(Object.keys(d.left!).length, MAX_LEFT);
  assert.equal(forgotten, 101, "every key past the bound is forgotten, and counted");
  assert.equal(d.left!.removed?.removedToken, "t1", "the removal is still remembered");
  assert.equal(d.left!.k0, undefined, "the oldest that merely left went first");
  assert.ok(d.left![`k${MAX_LEFT + 99}`], "the newest is kept");

  // Full of removals: one that merely left is not kept at their cost; another removal is.
  const e = { left: {} } as unknown as LeaderFile;
  for (let i = 0; i < MAX_LEFT; i++) remember(e, `r${i}`, { time: 1, at: 1, removedToken: "t" });
  assert.equal(remember(e, "plain", { time: 2, at: 2 }), 1);
  assert.equal(e.left!.plain, undefined);
  assert.ok(e.left!.r0, "no removal forgotten for a key that merely left");
  assert.equal(remember(e, "r-new", { time: 3, at: 3, removedToken: "t" }), 1);
  assert.equal(e.left!.r0, undefined, "the oldest removal makes room for a new one");
  assert.ok(e.left!["r-new"]);
  assert.equal(Object.keys(e.left!).length, MAX_LEFT);
});

/** The keys changed between two lists, every record of both compared (what a build would say). */
function changedWhole(before: Member[], after: Member[]): string[] {
  const old = new Map(before.map((m) => [m.publicKey, m]));
  const keys: string[] = [];
  for (const m of after) {
    const o = old.get(m.publicKey);
    old.delete(m.publicKey);
    if (o !== m && JSON.stringify(o) !== JSON.stringify(m)) keys.push(m.publicKey);
  }
  return [...keys, ...old.keys()];
}

const rec = (k: string, v = 0) => ({ publicKey: k, name: k, address: k, v }) as unknown as Member;

Deno.test("changedMembers: lists sharing records say what comparing every record says", () => {
  let x = 7;
  const r = (n: number) => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return x % n;
  };
  for (let t = 0; t < 500; t++) {
    const before = Array.from({ length: r(20) }, (_, i) => rec(`k${i}`));
    let serial = 100;
    const after: Member[] = [];
    for (const m of before) {
      const c = r(6);
      if (c === 0) continue;
      // A record replaced: by an equal copy (not a change), or by a changed one.
      if (c === 1) after.push(rec(m.publicKey, r(2)));
      else after.push(m);
    }
    for (let k = r(3); k > 0; k--) after.push(rec(`k${serial++}`));
    if (r(6) === 0) after.reverse();
    assert.deepEqual(changedMembers(before, after), changedWhole(before, after), `case ${t}`);
  }
});

Deno.test("changedMembers: a commit of one join reads that record, not every member", () => {
  let reads = 0;
  const counted = (k: string) => {
    const m = rec(k);
    return Object.defineProperty(m, "publicKey", {
      get: () => (reads++, k),
      enumerable: true,
    });
  };
  const before = Array.from({ length: 1000 }, (_, i) => counted(`k${i}`));
  const after = [...before, counted("new")];
  reads = 0;
  assert.deepEqual(changedMembers(before, after), ["new"]);
  // The new record's own key, a few times (main read every key of both lists: 3,004).
  assert.ok(reads <= 4, `${reads} keys read`);
});

Deno.test("sameJson: as JSON.stringify writes them", () => {
  const values: unknown[] = [
    null,
    undefined,
    0,
    -0,
    1,
    NaN,
    Infinity,
    "",
    "1",
    "a",
    true,
    false,
    [],
    [null],
    [undefined],
    [NaN],
    [1, 2],
    [2, 1],
    [[1], { a: 1 }],
    {},
    { a: undefined },
    { a: 1 },
    { a: 1, b: 2 },
    { b: 2, a: 1 },
    { a: { b: [1] } },
    { a: { b: [2] } },
    { a: () => 1 },
  ];
  for (const a of values) {
    for (const b of values) {
      assert.equal(sameJson(a, b), JSON.stringify(a) === JSON.stringify(b), `${a} against ${b}`);
    }
  }
});
