import assert from "node:assert/strict";
import { assertKey32, clamp, equalBytes, isZero, lowOrderError } from "./bytes.ts";

Deno.test("assertKey32: only 32-byte Uint8Arrays pass; the message names the argument", () => {
  assertKey32(new Uint8Array(32));
  assertKey32(new Uint8Array(64).subarray(16, 48));
  assert.throws(
    () => assertKey32(new Uint8Array(31)),
    /^Error: key must be 32 bytes, got 31 bytes$/,
  );
  assert.throws(
    () => assertKey32(new Uint8Array(33), "public key"),
    /public key must be 32 bytes, got 33 bytes/,
  );
  assert.throws(() => assertKey32("x".repeat(32) as unknown as Uint8Array), /got string/);
  assert.throws(() => assertKey32(new Array(32).fill(0) as unknown as Uint8Array), /got object/);
});

Deno.test("clamp: RFC 7748 §5 bits, in place, the rest untouched", () => {
  const k = new Uint8Array(32).fill(0xff);
  const out = clamp(k);
  assert.equal(out, k);
  assert.equal(k[0], 0xf8);
  assert.equal(k[31], 0x7f);
  for (let i = 1; i < 31; i++) assert.equal(k[i], 0xff);
  const z = clamp(new Uint8Array(32));
  assert.equal(z[0], 0);
  assert.equal(z[31], 0x40);
  // Idempotent.
  const again = clamp(z.slice());
  assert.deepEqual(again, z);
});

Deno.test("isZero: true only when every byte is zero", () => {
  assert.equal(isZero(new Uint8Array(0)), true);
  assert.equal(isZero(new Uint8Array(32)), true);
  for (let i = 0; i < 32; i++) {
    const b = new Uint8Array(32);
    b[i] = 1;
    assert.equal(isZero(b), false, `byte ${i}`);
  }
  assert.equal(isZero(Uint8Array.of(0x80)), false);
});

Deno.test("equalBytes: same length and bytes; a difference anywhere counts", () => {
  assert.equal(equalBytes(new Uint8Array(0), new Uint8Array(0)), true);
  const a = Uint8Array.from({ length: 32 }, (_, i) => i * 7);
  assert.equal(equalBytes(a, a.slice()), true);
  for (let i = 0; i < 32; i++) {
    const b = a.slice();
    b[i] ^= 0x01;
    assert.equal(equalBytes(a, b), false, `byte ${i}`);
  }
  assert.equal(equalBytes(a, a.subarray(0, 31)), false);
  assert.equal(equalBytes(a.subarray(0, 31), a), false);
});

Deno.test("lowOrderError: one message for every backend, a new Error each time", () => {
  const e = lowOrderError();
  assert.ok(e instanceof Error);
  assert.match(e.message, /low-order public key/);
  assert.notEqual(lowOrderError(), e);
});
