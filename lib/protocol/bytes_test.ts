/**
 * Little-endian field access on packet buffers: 32-bit words, 64-bit counters up to 2^53 - 1,
 * and wiping key material.
 */
import assert from "node:assert/strict";
import { readCounter, readU32, wipe, writeCounter, writeU32 } from "./bytes.ts";
import { seededRandom } from "../../tests/fixtures/prng.ts";

Deno.test("bytes: readU32/writeU32 are little-endian and unsigned", () => {
  const b = new Uint8Array(8);
  writeU32(b, 2, 0x11223344);
  assert.deepEqual([...b], [0, 0, 0x44, 0x33, 0x22, 0x11, 0, 0]);
  assert.equal(readU32(b, 2), 0x11223344);
  writeU32(b, 0, 0xffffffff);
  assert.deepEqual([...b.subarray(0, 4)], [0xff, 0xff, 0xff, 0xff]);
  assert.equal(readU32(b, 0), 0xffffffff, "not negative");
  writeU32(b, 4, 0x80000000);
  assert.equal(readU32(b, 4), 0x80000000);
  writeU32(b, 0, 0);
  assert.equal(readU32(b, 0), 0);
  // Only the four bytes at the offset are written.
  const c = new Uint8Array(6).fill(0xee);
  writeU32(c, 1, 1);
  assert.deepEqual([...c], [0xee, 1, 0, 0, 0, 0xee]);
});

Deno.test("bytes: readU32 agrees with DataView on random words and offsets", () => {
  const r = seededRandom(42);
  const b = new Uint8Array(64);
  const view = new DataView(b.buffer);
  for (let i = 0; i < 1000; i++) {
    const v = Math.floor(r() * 2 ** 32);
    const off = Math.floor(r() * 61);
    writeU32(b, off, v);
    assert.equal(view.getUint32(off, true), v);
    assert.equal(readU32(b, off), v);
  }
});

Deno.test("bytes: counters are 64-bit little-endian up to 2^53 - 1", () => {
  const b = new Uint8Array(12);
  const view = new DataView(b.buffer);
  const cases = [0, 1, 0xffffffff, 2 ** 32, 2 ** 32 + 5, 0xdead_beef_cafe, Number.MAX_SAFE_INTEGER];
  for (const v of cases) {
    b.fill(0xaa);
    writeCounter(b, 2, v);
    assert.equal(view.getBigUint64(2, true), BigInt(v), `write ${v}`);
    assert.equal(readCounter(b, 2), v, `read ${v}`);
    assert.deepEqual([b[0], b[1], b[10], b[11]], [0xaa, 0xaa, 0xaa, 0xaa], "neighbours untouched");
  }
  const x = new Uint8Array(8);
  writeCounter(x, 0, 2 ** 32 + 1);
  assert.deepEqual([...x], [1, 0, 0, 0, 1, 0, 0, 0], "low word first");
});

Deno.test("bytes: a counter beyond a safe integer reads as -1", () => {
  const b = new Uint8Array(8);
  const view = new DataView(b.buffer);
  for (const v of [2n ** 53n, 2n ** 53n + 1n, 2n ** 60n, 2n ** 64n - 1n]) {
    view.setBigUint64(0, v, true);
    assert.equal(readCounter(b, 0), -1, `${v}`);
  }
  view.setBigUint64(0, 2n ** 53n - 1n, true);
  assert.equal(readCounter(b, 0), Number.MAX_SAFE_INTEGER);
});

Deno.test("bytes: wipe zeroes every buffer given and skips missing ones", () => {
  const a = new Uint8Array(32).fill(7);
  const b = new Uint8Array(5).fill(9);
  const big = new Uint8Array(16).fill(1);
  const part = big.subarray(4, 8);
  wipe(a, null, b, undefined, part);
  assert.ok(a.every((x) => x === 0));
  assert.ok(b.every((x) => x === 0));
  assert.deepEqual([...big], [1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1], "only the view");
  wipe();
});
