import assert from "node:assert/strict";
import { HOLDER_IDLE_MS, HOLDER_STALE_MS, HolderRings, NAMED, RING_SIZE } from "./holder_rings.ts";

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

Deno.test("holder rings: a full ring keeps the holders of the newest versions, not the latest hellos", () => {
  let t = 0;
  const r = new HolderRings(() => t);
  // A joiner that assembled the view at version 50, then many hellos from members that assembled
  // theirs long before (version 1): in a mesh of thousands, hellos of old holders never stop.
  r.heard("fresh", 1, 50);
  for (let i = 0; i < RING_SIZE * 3; i++) {
    t++;
    r.heard(`old${i}`, 1, 1);
  }
  assert.equal(r.size, RING_SIZE);
  const named = new Set<string>();
  for (let turn = 0; turn < RING_SIZE; turn++) {
    for (const h of r.name(1, "x", all)) named.add(h.key);
  }
  assert.ok(named.has("fresh"), "the holder of version 50 is still named");
  // A holder of an older version than all in the ring is not taken in.
  r.heard("older", 1, 0);
  for (let turn = 0; turn < RING_SIZE / NAMED; turn++) {
    assert.ok(!r.name(1, "x", all).some((h) => h.key === "older"));
  }
  // Holders of newer versions take the places of the oldest ones.
  for (let i = 0; i < RING_SIZE; i++) r.heard(`new${i}`, 1, 60 + i);
  const now = new Set<string>();
  for (let turn = 0; turn < RING_SIZE; turn++) {
    for (const h of r.name(1, "x", all)) now.add(h.key);
  }
  assert.equal(now.size, RING_SIZE);
  assert.ok([...now].every((k) => k.startsWith("new")), "only the newest holders are left");
  assert.equal(r.size, RING_SIZE);
});

Deno.test("holder rings: a holder not heard for a minute is named no more and makes way first", () => {
  let t = 0;
  const r = new HolderRings(() => t);
  // A full ring of holders of the newest version, then silence from all but one (gone without a
  // bye: nothing else tells the ring).
  for (let i = 0; i < RING_SIZE; i++) r.heard(`k${i}`, 1, 50);
  t = HOLDER_STALE_MS + 1;
  r.heard("k0", 1, 50);
  assert.deepEqual(r.name(1, "x", all).map((h) => h.key), ["k0"]);
  // A holder of an older version still gets in: a quiet one makes way.
  r.heard("late", 1, 10);
  assert.deepEqual(r.name(1, "x", all).map((h) => h.key).sort(), ["k0", "late"]);
  assert.equal(r.size, RING_SIZE);
});
