import assert from "node:assert/strict";
import {
  checksumAdd,
  checksumFinish,
  checksumFold,
  ipv4HeaderChecksum,
  pseudoHeaderV4,
  pseudoHeaderV6,
} from "./checksum.ts";

/** The reference: RFC 1071 as written, one 16-bit word at a time, folded at the end. */
export function refSum(data: Uint8Array, offset = 0, length = data.length - offset): number {
  let s = 0;
  for (let i = 0; i < length; i += 2) {
    const hi = data[offset + i];
    const lo = i + 1 < length ? data[offset + i + 1] : 0;
    s += (hi << 8) | lo;
  }
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return s;
}

/** One's complement equality: 0 and 0xffff are the same number. */
function same(a: number, b: number): boolean {
  return a === b || (a === 0 && b === 0xffff) || (a === 0xffff && b === 0);
}

function random(n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) crypto.getRandomValues(b.subarray(i, Math.min(n, i + 65536)));
  return b;
}

Deno.test("checksumAdd equals the reference for every offset, alignment and length", () => {
  const buf = random(70_000 + 64);
  // Views starting at every alignment of the buffer, ranges at every offset within them.
  for (let shift = 0; shift < 8; shift++) {
    const view = buf.subarray(shift);
    for (let offset = 0; offset < 8; offset++) {
      for (let length = 0; length <= 200; length++) {
        assert.ok(
          same(checksumAdd(view, offset, length), refSum(view, offset, length)),
          `shift ${shift} offset ${offset} length ${length}`,
        );
      }
      for (const length of [1399, 1400, 1420, 9000, 65535, 65536, 70_000 - 16]) {
        assert.ok(same(checksumAdd(view, offset, length), refSum(view, offset, length)));
      }
    }
  }
});

Deno.test("checksumAdd on random ranges of random data, and all-ones data", () => {
  for (let round = 0; round < 2000; round++) {
    const n = 1 + Math.floor(Math.random() * 4000);
    const buf = random(n);
    const offset = Math.floor(Math.random() * n);
    const length = Math.floor(Math.random() * (n - offset + 1));
    assert.ok(same(checksumAdd(buf, offset, length), refSum(buf, offset, length)));
  }
  const ones = new Uint8Array(65536).fill(0xff);
  assert.ok(same(checksumAdd(ones, 0, 65536), 0xffff));
  assert.equal(checksumAdd(new Uint8Array(100), 0, 100), 0);
});

Deno.test("sums compose: pieces of even length chained through initial", () => {
  for (let round = 0; round < 500; round++) {
    const buf = random(3000);
    const cut = 2 * Math.floor(Math.random() * 1500);
    const chained = checksumAdd(buf, cut, 3000 - cut, checksumAdd(buf, 0, cut));
    assert.ok(same(chained, refSum(buf)));
    const init = Math.floor(Math.random() * 2 ** 40);
    assert.ok(same(checksumAdd(buf, 0, 3000, init), checksumFold(refSum(buf) + init)));
  }
});

Deno.test("checksumFinish complements; a packet carrying its checksum sums to 0xffff", () => {
  assert.equal(checksumFinish(0), 0xffff);
  assert.equal(checksumFinish(0xffff), 0);
  assert.equal(checksumFinish(0x1_0000), 0xfffe);
  const buf = random(1001);
  buf[0] = 0;
  buf[1] = 0;
  const c = checksumFinish(checksumAdd(buf, 0, buf.length));
  buf[0] = c >> 8;
  buf[1] = c & 0xff;
  assert.equal(checksumFinish(checksumAdd(buf, 0, buf.length)), 0);
});

Deno.test("pseudo-headers equal the reference sum of the pseudo-header bytes", () => {
  for (let round = 0; round < 300; round++) {
    const pkt = random(60);
    const ip = round % 8;
    const len = Math.floor(Math.random() * 70_000);
    const proto = round & 1 ? 6 : 17;
    const v4 = new Uint8Array(12);
    v4.set(pkt.subarray(ip + 12, ip + 20));
    v4[9] = proto;
    v4[10] = (len >> 8) & 0xff;
    v4[11] = len & 0xff;
    // The v4 length is 16 bits on the wire; callers never pass more, but the sum still folds.
    const ref4 = checksumFold(refSum(v4) + (len >>> 16) * 0x10000);
    assert.ok(same(pseudoHeaderV4(pkt, ip, proto, len), ref4));
    const v6 = new Uint8Array(40);
    v6.set(pkt.subarray(ip + 8, ip + 40));
    new DataView(v6.buffer).setUint32(32, len);
    v6[39] = proto;
    assert.ok(same(pseudoHeaderV6(pkt, ip, proto, len), refSum(v6)));
  }
});

Deno.test("ipv4HeaderChecksum ignores the stored field and validates", () => {
  for (let round = 0; round < 300; round++) {
    const ihl = 20 + 4 * (round % 11);
    const pkt = random(ihl + 8);
    const at = round % 8;
    const c = ipv4HeaderChecksum(pkt, at, ihl);
    pkt[at + 10] = 0;
    pkt[at + 11] = 0;
    assert.equal(c, checksumFinish(refSum(pkt, at, ihl)));
    pkt[at + 10] = c >> 8;
    pkt[at + 11] = c & 0xff;
    assert.equal(checksumFinish(refSum(pkt, at, ihl)), 0);
  }
});
