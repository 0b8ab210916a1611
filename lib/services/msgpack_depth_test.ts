import assert from "node:assert/strict";
import { encode } from "npm:@msgpack/msgpack@^3.1.3";
import { nestedDeeperThan } from "./msgpack_depth.ts";

/** `v` wrapped in `n` one-element arrays. */
function nest(n: number, v: unknown = 1): unknown {
  for (let i = 0; i < n; i++) v = [v];
  return v;
}

Deno.test("nestedDeeperThan: arrays and maps count a level each; scalars none", () => {
  assert.equal(nestedDeeperThan(encode(1), 0), false);
  assert.equal(nestedDeeperThan(encode([1]), 0), true);
  assert.equal(nestedDeeperThan(encode([1]), 1), false);
  assert.equal(nestedDeeperThan(encode(nest(72)), 72), false);
  assert.equal(nestedDeeperThan(encode(nest(73)), 72), true);
  assert.equal(nestedDeeperThan(encode({ a: { b: { c: 1 } } }), 2), true);
  assert.equal(nestedDeeperThan(encode({ a: { b: { c: 1 } } }), 3), false);
  // Siblings do not add up: a wide value of shallow items is shallow.
  assert.equal(nestedDeeperThan(encode([[1], [2], { x: [3] }, [[4]]]), 3), false);
  assert.equal(nestedDeeperThan(encode([[1], [2], { x: [3] }, [[[4]]]]), 3), true);
});

Deno.test("nestedDeeperThan: every scalar form is stepped over by its own length", () => {
  const scalars = [
    null,
    true,
    false,
    0,
    127,
    -1,
    -32,
    200,
    70_000,
    5_000_000_000,
    -100,
    -40_000,
    -3_000_000_000,
    1.5,
    "",
    "x".repeat(31),
    "y".repeat(200),
    "z".repeat(70_000),
    new Uint8Array(3),
    new Uint8Array(300),
    new Uint8Array(70_000),
    { k: "v" },
    [],
  ];
  for (const s of scalars) {
    // Each inside two levels, followed by a deep sibling that must still be seen.
    const bytes = encode([[s], nest(5)]);
    assert.equal(nestedDeeperThan(bytes, 6), false, JSON.stringify(s)?.slice(0, 20));
    assert.equal(nestedDeeperThan(bytes, 5), true, JSON.stringify(s)?.slice(0, 20));
  }
  // Ext values of every size (fixext 1..16, ext 8/16/32) are stepped over too.
  for (const head of [[0xd4, 1, 0], [0xd5, 1, 0, 0], [0xc7, 2, 1, 0, 0], [0xc8, 0, 1, 1, 0]]) {
    const bytes = Uint8Array.of(0x92, ...head, 0x91, 0x91, 0x01);
    assert.equal(nestedDeeperThan(bytes, 3), false, head.join());
    assert.equal(nestedDeeperThan(bytes, 2), true, head.join());
  }
});

Deno.test("nestedDeeperThan: truncated or reserved bytes are left to the decoder", () => {
  assert.equal(nestedDeeperThan(Uint8Array.of(0x91, 0x91), 5), false);
  assert.equal(nestedDeeperThan(Uint8Array.of(0xc1), 0), false);
  assert.equal(nestedDeeperThan(Uint8Array.of(0xdd, 0xff), 0), false);
  assert.equal(nestedDeeperThan(new Uint8Array(0), 0), false);
  // A million levels in a megabyte: answered after the limit's worth of bytes.
  const deep = new Uint8Array(1 << 20).fill(0x91);
  assert.equal(nestedDeeperThan(deep, 72), true);
});
