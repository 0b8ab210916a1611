import assert from "node:assert/strict";
import { HOLDER_IDLE_MS, HolderRings, NAMED, RING_SIZE } from "./holder_rings.ts";

const all = () => true;

Deno.test("holder rings: names take turns round a group's ring, never the joiner, never another group's", () => {
  const r = new HolderRings(() => 0);
  for (let i = 0; i < 6; i++) r.heard(`k${i}`, 1, 5);
  r.heard("other", 2, 5);
  const first = r.name(1, "k0", all).map((h) => h.key);
  assert.equal(first.length, NAMED);
  assert.ok(!first.includes("k0") && !first.includes("other"));
  const second = r.name(1, "k0", all).map((h) => h.key);
  assert.notDeepEqual(second, first, "the next manifest names others first");
  assert.deepEqual(r.name(2, "x", all).map((h) => h.key), ["other"]);
});

Deno.test("holder rings: a hello without hz, a move to another group, idleness and the ring's size forget holders", () => {
  let t = 0;
  const r = new HolderRings(() => t);
  r.heard("a", 1, 5);
  r.heard("b", 1, 5);
  r.heard("a", 1, undefined);
  assert.deepEqual(r.name(1, "x", all).map((h) => h.key), ["b"]);
  r.heard("b", 2, 6);
  assert.deepEqual(r.name(1, "x", all), []);
  assert.deepEqual(r.name(2, "x", all).map((h) => h.hz), [6]);
  t = HOLDER_IDLE_MS + 1;
  assert.deepEqual(r.name(2, "x", all), []);
  assert.equal(r.size, 0);
  for (let i = 0; i < RING_SIZE + 10; i++) r.heard(`k${i}`, 3, 1);
  assert.equal(r.size, RING_SIZE);
  r.forget("k20");
  assert.equal(r.size, RING_SIZE - 1);
});

Deno.test("holder rings: holders that are preferred (a direct endpoint) are named before the others", () => {
  const r = new HolderRings(() => 0);
  for (let i = 0; i < 8; i++) r.heard(`k${i}`, 1, 5);
  const direct = new Set(["k6", "k7"]);
  const named = r.name(1, "x", all, (h) => direct.has(h.key)).map((h) => h.key);
  assert.deepEqual(named.slice(0, 2), ["k6", "k7"]);
  assert.equal(named.length, NAMED);
});
