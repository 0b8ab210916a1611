import assert from "node:assert/strict";
import { RecordMap } from "./record_map.ts";

type R = { n: number };
const r = (n: number): R => ({ n });
const whole = (m: RecordMap<R>) => Object.fromEntries([...m].map(([k, v]) => [k, v.n]));

Deno.test("record map: a fork holds what its copy changed, over the map it was made from", () => {
  const m = new RecordMap<R>(Array.from({ length: 1000 }, (_, i) => [`k${i}`, r(i)]));
  assert.equal(m.ownEntries, null, "a whole map");
  const f = m.fork();
  assert.equal(f.ownEntries, 0, "a fork costs nothing until edited");
  assert.equal(f.size, 1000);
  f.set("k1", r(-1));
  f.set("new", r(1000));
  assert.equal(f.delete("k2"), true);
  assert.equal(f.delete("k2"), false, "already gone");
  assert.equal(f.delete("none"), false);
  assert.equal(f.ownEntries, 3, "its own changes, not a copy of 1,000");
  assert.equal(f.size, 1000);
  assert.equal(f.get("k1")?.n, -1);
  assert.equal(f.get("k2"), undefined);
  assert.equal(f.has("k2"), false);
  assert.equal(f.get("new")?.n, 1000);
  assert.equal(f.get("k3")?.n, 3, "the rest from the map under it");
  // The map it was made from is as it was.
  assert.equal(m.size, 1000);
  assert.equal(m.get("k1")?.n, 1);
  assert.equal(m.get("k2")?.n, 2);
  assert.equal(m.get("new"), undefined);
  // Listed as a plain object edited the same way lists them: replaced in place, new at the end.
  const keys = [...f.keys()];
  assert.equal(keys.length, 1000);
  assert.deepEqual(keys.slice(0, 3), ["k0", "k1", "k3"]);
  assert.equal(keys.at(-1), "new");
  assert.deepEqual(JSON.parse(JSON.stringify(f)), Object.fromEntries(f.entries()));
});

Deno.test("record map: a settled fork takes the whole map over; the maps before it read as they did", () => {
  const m = new RecordMap<R>([["a", r(1)], ["b", r(2)], ["c", r(3)]]);
  const before = whole(m);
  const f = m.fork();
  f.set("a", r(10));
  f.delete("b");
  f.set("d", r(4));
  const g = f.fork();
  g.set("e", r(5));
  g.delete("a");
  const fWas = whole(f);
  const gWas = whole(g);
  // The newest settled first walks down to the whole map: both forks take it over in turn.
  g.settle();
  assert.equal(g.ownEntries, null);
  assert.deepEqual(whole(g), gWas);
  assert.deepEqual(whole(f), fWas, "the fork between reads as it did");
  assert.deepEqual(whole(m), before, "the first map reads as it did");
  assert.equal(m.get("b")?.n, 2);
  assert.equal(m.get("e"), undefined);
  assert.equal(f.get("a")?.n, 10);
  assert.equal(f.size, 3);
  assert.equal(m.size, 3);
  assert.equal(g.size, 3);
  // Settling again changes nothing; the maps read through are edited only in a fork.
  g.settle();
  assert.deepEqual(whole(m), before);
  assert.throws(() => g.set("f", r(6)), /edited in a fork/);
  assert.throws(() => g.delete("e"), /edited in a fork/);
  const h = g.fork();
  h.set("f", r(6));
  assert.throws(() => g.set("f", r(6)), /edited in a fork/, "forked: read through");
  assert.throws(() => f.set("f", r(6)), /edited in a fork/, "an older map: read through");
  assert.equal(m.get("f"), undefined);
  assert.deepEqual(whole(h), { ...gWas, f: 6 });
  // A map nothing reads through is edited in place.
  const plain = new RecordMap<R>();
  plain.set("a", r(1));
  plain.delete("a");
  assert.equal(plain.size, 0);
});

Deno.test("record map: changesFrom is what a fork changed of its map, and null for any other", () => {
  const m = RecordMap.of<R>({ a: r(1), b: r(2), c: r(3) });
  const f = m.fork();
  const same = m.get("c")!;
  f.set("a", r(10));
  f.delete("b");
  f.set("b2", r(22));
  f.set("c", same);
  f.set("x", r(9));
  f.delete("x");
  assert.deepEqual(f.changesFrom(m), { set: [["a", r(10)], ["b2", r(22)]], removed: ["b"] });
  assert.equal(m.changesFrom(f), null);
  assert.equal(f.fork().changesFrom(m), null, "a fork of a fork");
  f.settle();
  assert.equal(f.changesFrom(m), null, "settled: the whole map");
});
