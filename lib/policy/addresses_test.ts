import assert from "node:assert/strict";
import { AddressTable } from "./addresses.ts";
import { seededRandom } from "../../tests/fixtures/prng.ts";

function v4(...words: number[]): Int32Array {
  return Int32Array.from(words);
}

Deno.test("IPv4: added addresses map to their ids; others are -1", () => {
  const t = new AddressTable(4, 0);
  const w = v4(0x0a000001, 0x0a000002, 0x0a000003 | 0, 0xc0a80101 | 0);
  assert.equal(t.add(4, w, 0, 0), true);
  assert.equal(t.add(4, w, 1, 7), true);
  assert.equal(t.add(4, w, 3, 9), true); // a negative word (high bit set)
  assert.equal(t.lookup(4, w, 0), 0);
  assert.equal(t.lookup(4, w, 1), 7);
  assert.equal(t.lookup(4, w, 3), 9);
  assert.equal(t.lookup(4, w, 2), -1);
  assert.equal(t.lookup(4, v4(0), 0), -1);
});

Deno.test("a second add of the same address is refused and keeps the first id", () => {
  const t = new AddressTable(2, 2);
  const a = v4(0x0a000001);
  assert.equal(t.add(4, a, 0, 1), true);
  assert.equal(t.add(4, a, 0, 2), false);
  assert.equal(t.lookup(4, a, 0), 1);
  const b = v4(0, 0, 0, 1, 0x20010db8, 0, 0, 1);
  assert.equal(t.add(6, b, 4, 3), true);
  assert.equal(t.add(6, b, 4, 4), false);
  assert.equal(t.lookup(6, b, 4), 3);
});

Deno.test("IPv6: all four words are compared, at any offset", () => {
  const t = new AddressTable(0, 8);
  const addrs = [
    [0xfd000000 | 0, 0, 0, 1],
    [0xfd000000 | 0, 0, 0, 2],
    [0xfd000000 | 0, 0, 1, 1],
    [0xfd000000 | 0, 1, 0, 1],
    [0xfe000000 | 0, 0, 0, 1],
  ];
  addrs.forEach((a, i) => assert.ok(t.add(6, Int32Array.from(a), 0, 100 + i)));
  addrs.forEach((a, i) => assert.equal(t.lookup(6, Int32Array.from([9, ...a]), 1), 100 + i));
  assert.equal(t.lookup(6, Int32Array.from([0xfd000000 | 0, 0, 0, 3]), 0), -1);
  // The families are separate tables: an IPv4 word equal to an IPv6 first word is not found.
  assert.equal(t.lookup(4, Int32Array.from([0xfd000000 | 0]), 0), -1);
});

Deno.test("capacity: at least what was asked for; beyond it add throws RangeError", () => {
  const t = new AddressTable(3, 1);
  // Room for the sizes asked; the hash table keeps at most half of its slots full (8 -> 4).
  for (let i = 0; i < 4; i++) assert.ok(t.add(4, v4(i), 0, i));
  assert.throws(() => t.add(4, v4(99), 0, 99), RangeError);
  assert.ok(t.add(6, v4(1, 2, 3, 4), 0, 0));
  for (let i = 1; i < 4; i++) assert.ok(t.add(6, v4(1, 2, 3, 4 + i), 0, i));
  assert.throws(() => t.add(6, v4(9, 9, 9, 9), 0, 9), RangeError);
  // Lookups of absent addresses still end on a half-full table.
  assert.equal(t.lookup(4, v4(1234), 0), -1);
  assert.equal(t.lookup(6, v4(9, 9, 9, 9), 0), -1);
});

Deno.test("many random addresses: every one found with its id, none invented", () => {
  const rand = seededRandom(2024);
  const n = 2000;
  const t = new AddressTable(n, n);
  const v4s = new Map<number, number>();
  const v6s = new Map<string, number>();
  const w = new Int32Array(4);
  for (let i = 0; v4s.size < n; i++) {
    const a = (rand() * 2 ** 32) | 0;
    if (v4s.has(a)) continue;
    v4s.set(a, v4s.size);
    assert.ok(t.add(4, v4(a), 0, v4s.get(a)!));
  }
  while (v6s.size < n) {
    for (let j = 0; j < 4; j++) w[j] = (rand() * 2 ** 32) | 0;
    // Share the high words often, as addresses of one prefix do.
    if (rand() < 0.8) w[0] = w[1] = 0x12345678;
    const key = w.join(",");
    if (v6s.has(key)) continue;
    v6s.set(key, v6s.size);
    assert.ok(t.add(6, w, 0, v6s.get(key)!));
  }
  for (const [a, id] of v4s) assert.equal(t.lookup(4, v4(a), 0), id);
  for (const [k, id] of v6s) {
    assert.equal(t.lookup(6, Int32Array.from(k.split(",").map(Number)), 0), id);
  }
  let misses = 0;
  for (let i = 0; i < 2000; i++) {
    const a = (rand() * 2 ** 32) | 0;
    if (!v4s.has(a)) {
      assert.equal(t.lookup(4, v4(a), 0), -1);
      misses++;
    }
  }
  assert.ok(misses > 0);
});
