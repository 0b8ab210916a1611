import assert from "node:assert/strict";
import { maskInPlace } from "./ws_mask.ts";

/** The RFC's definition, byte by byte: octet i XOR key octet i mod 4. */
function reference(buf: Uint8Array, start: number, end: number, key: number[]): void {
  for (let i = start; i < end; i++) buf[i] ^= key[(i - start) % 4];
}

Deno.test("ws mask: every start alignment, length and buffer offset is the RFC's byte-by-byte XOR", () => {
  const key = [0x37, 0xfa, 0x21, 0x3d];
  // Buffers of odd sizes, views at odd offsets, payloads short and long, ending at the very end.
  for (const size of [61, 64, 203, 1503]) {
    const ab = new ArrayBuffer(size);
    for (const viewAt of [0, 1, 2, 3, 5]) {
      const view = new Uint8Array(ab, viewAt);
      for (const start of [0, 1, 2, 3, 7]) {
        for (const len of [0, 1, 3, 4, 31, 32, 33, 35, 64, 1400]) {
          const end = start + len;
          if (end > view.length) continue;
          view.forEach((_, i) => view[i] = (i * 31 + viewAt) & 0xff);
          const want = view.slice();
          reference(want, start, end, key);
          maskInPlace(view, start, end, key[0], key[1], key[2], key[3]);
          assert.deepEqual(view, want, `size ${size} view at ${viewAt} start ${start} len ${len}`);
        }
      }
    }
  }
});

Deno.test("ws mask: twice with the same key gives the bytes back; other buffers are untouched", () => {
  const a = new Uint8Array(4096).map((_, i) => i & 0xff);
  const b = new Uint8Array(4096).map((_, i) => (i * 7) & 0xff);
  const a0 = a.slice();
  const b0 = b.slice();
  // Alternating buffers: the view kept for one must never be used for the other.
  maskInPlace(a, 5, 4000, 1, 2, 3, 4);
  maskInPlace(b, 9, 1000, 0xff, 0xfe, 0xfd, 0xfc);
  assert.notDeepEqual(a, a0);
  assert.deepEqual(a.subarray(0, 5), a0.subarray(0, 5));
  assert.deepEqual(a.subarray(4000), a0.subarray(4000));
  maskInPlace(a, 5, 4000, 1, 2, 3, 4);
  maskInPlace(b, 9, 1000, 0xff, 0xfe, 0xfd, 0xfc);
  assert.deepEqual(a, a0);
  assert.deepEqual(b, b0);
});

Deno.test("ws mask: a resizable buffer that grew is masked to its new end", () => {
  const key = [0x11, 0x22, 0x33, 0x44];
  const ab = new ArrayBuffer(64, { maxByteLength: 4096 });
  const small = new Uint8Array(ab);
  maskInPlace(small, 0, 64, key[0], key[1], key[2], key[3]);
  ab.resize(4096);
  const big = new Uint8Array(ab);
  big.fill(7);
  const want = big.slice();
  reference(want, 4, 4000, key);
  maskInPlace(big, 4, 4000, key[0], key[1], key[2], key[3]);
  assert.deepEqual(big, want);
});
