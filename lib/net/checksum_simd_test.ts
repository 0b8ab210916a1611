import assert from "node:assert/strict";
import { checksumAdd, fold, sum16 } from "./checksum.ts";
import { simdChecksumBuffer, simdSumOf } from "./checksum_simd.ts";

/** One's complement equality: 0 and 0xffff are the same number. */
function same(a: number, b: number): boolean {
  return a === b || (a === 0 && b === 0xffff) || (a === 0xffff && b === 0);
}

function fillRandom(b: Uint8Array): Uint8Array {
  for (let i = 0; i < b.length; i += 65536) {
    crypto.getRandomValues(b.subarray(i, Math.min(b.length, i + 65536)));
  }
  return b;
}

Deno.test("checksum_simd: SIMD buffers are zeroed ranges of one WebAssembly memory, apart", () => {
  const buf = simdChecksumBuffer(100_000);
  assert.equal(buf.length, 100_000);
  assert.ok(buf.buffer.byteLength >= 100_000 && buf.buffer.byteLength % 65536 === 0);
  assert.notEqual(simdSumOf(buf.buffer), null, "this runtime has WebAssembly SIMD");
  assert.equal(simdSumOf(new ArrayBuffer(64)), null, "a plain buffer has none");
  assert.ok(buf.every((b) => b === 0));
  const other = simdChecksumBuffer(64);
  assert.equal(other.buffer, buf.buffer, "one memory, so one function sums them all");
  assert.ok(
    other.byteOffset >= buf.byteOffset + buf.length || other.byteOffset + 64 <= buf.byteOffset,
    "the ranges do not overlap",
  );
  other.fill(0xff);
  assert.equal(checksumAdd(buf, 0, 64), 0);
  assert.equal(checksumAdd(other, 0, 64), 0xffff);
  const huge = simdChecksumBuffer(64 << 20);
  assert.equal(simdSumOf(huge.buffer), null, "past the pool's room: a plain buffer");
  assert.equal(huge.length, 64 << 20);
});

Deno.test("checksum_simd: checksumAdd over a SIMD buffer equals the byte loop at every alignment and length", () => {
  const buf = fillRandom(simdChecksumBuffer(70_000 + 64));
  for (let shift = 0; shift < 8; shift++) {
    const view = buf.subarray(shift);
    for (let offset = 0; offset < 8; offset++) {
      for (let length = 0; length <= 200; length++) {
        assert.ok(
          same(checksumAdd(view, offset, length), fold(sum16(view, offset, length))),
          `shift ${shift} offset ${offset} length ${length}`,
        );
      }
      for (const length of [1399, 1400, 1420, 9000, 65535, 65536, 70_000 - 16]) {
        const init = 0x1234_5678;
        assert.ok(
          same(checksumAdd(view, offset, length, init), fold(sum16(view, offset, length, init))),
          `shift ${shift} offset ${offset} length ${length}`,
        );
      }
    }
  }
});

Deno.test("checksum_simd: all-ones and all-zero ranges fold as the JavaScript loop does", () => {
  const buf = simdChecksumBuffer(1 << 20);
  assert.notEqual(simdSumOf(buf.buffer), null);
  assert.equal(checksumAdd(buf, 0, 65536), 0);
  buf.fill(0xff);
  assert.equal(checksumAdd(buf, 0, 65536), 0xffff);
  assert.equal(checksumAdd(buf, 4, 1 << 19), 0xffff, "half a megabyte: no carry lost");
  assert.equal(checksumAdd(buf, 3, 1401), checksumAdd(new Uint8Array(2000).fill(0xff), 3, 1401));
});
