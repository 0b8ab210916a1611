import assert from "node:assert/strict";
import { MAX_LEFT, remember } from "./records.ts";
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
