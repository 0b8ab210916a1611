import assert from "node:assert/strict";
import {
  adjustChecksum,
  checksumAdd,
  finish,
  fold,
  internetChecksum,
  ipv4HeaderChecksum,
  l4ChecksumV4,
  l4ChecksumV6,
  pseudoHeaderSumV4,
  pseudoHeaderSumV6,
  sum16,
} from "./checksum.ts";
import { PROTO_ICMPV6, PROTO_UDP } from "./ip.ts";
import {
  hex,
  ICMP4_REPLY,
  ICMP4_REQUEST,
  ICMP6_REPLY,
  ICMP6_REQUEST,
  MLD_WITH_HOP_BY_HOP,
  UDP4,
  UDP4_PARTIAL,
  UDP6,
  UDP6_PARTIAL,
} from "../../tests/fixtures/net_fixtures.ts";

function stored(p: Uint8Array, at: number): number {
  return (p[at] << 8) | p[at + 1];
}

function zeroed(p: Uint8Array, at: number): Uint8Array {
  const c = p.slice();
  c[at] = 0;
  c[at + 1] = 0;
  return c;
}

Deno.test("checksum: RFC 1071 section 3 numerical example", () => {
  // 0001 + f203 + f4f5 + f6f7 = 2ddf0, folded ddf2, complemented 220d (worked in the RFC).
  const data = hex("0001f203f4f5f6f7");
  assert.equal(sum16(data, 0, 8), 0x2ddf0);
  assert.equal(fold(0x2ddf0), 0xddf2);
  assert.equal(internetChecksum(data), 0x220d);
});

Deno.test("checksum: odd length pads with a zero byte", () => {
  // 0102 + 0300 = 0402 -> ~ = fbfd.
  assert.equal(internetChecksum(hex("010203")), 0xfbfd);
  assert.equal(internetChecksum(hex("01020300")), 0xfbfd);
  assert.equal(internetChecksum(new Uint8Array(0)), 0xffff);
});

Deno.test("checksum: sums chain across pieces and offsets", () => {
  const data = hex("45000073000040004011b861c0a80001c0a800c7deadbeef01");
  const whole = internetChecksum(data);
  for (let cut = 0; cut <= data.length; cut += 2) {
    assert.equal(finish(sum16(data, cut, data.length - cut, sum16(data, 0, cut))), whole);
  }
  // fold copes with sums past 2^32.
  assert.equal(fold(0x1_0000_0000), 1);
  assert.equal(fold(0xffff_ffff * 3), fold((0xffff + 0xffff) * 3));
});

Deno.test("checksum: Wikipedia's IPv4 header example gives b861", () => {
  // Worked by hand there: 4500+0073+0000+4000+4011+c0a8+0001+c0a8+00c7 = 2479c -> 479e -> b861.
  const header = hex("450000730000400040110000c0a80001c0a800c7");
  assert.equal(sum16(header, 0, 20), 0x2479c);
  assert.equal(ipv4HeaderChecksum(header), 0xb861);
  header[10] = 0xb8;
  header[11] = 0x61;
  assert.equal(ipv4HeaderChecksum(header), 0xb861, "the stored field is skipped");
  assert.equal(internetChecksum(header, 0, 20), 0, "a valid header sums to zero");
});

Deno.test("checksum: IPv4 headers of captured packets match the kernel's", () => {
  for (const p of [ICMP4_REQUEST, ICMP4_REPLY, UDP4]) {
    assert.equal(ipv4HeaderChecksum(p), stored(p, 10));
    assert.equal(ipv4HeaderChecksum(zeroed(p, 10)), stored(p, 10));
  }
  assert.equal(stored(ICMP4_REQUEST, 10), 0x0c39);
});

Deno.test("checksum: captured ICMPv4 echo (no pseudo-header)", () => {
  const p = ICMP4_REQUEST;
  assert.equal(internetChecksum(zeroed(p, 22), 20), 0x7b44);
  assert.equal(internetChecksum(p, 20), 0);
  assert.equal(internetChecksum(zeroed(ICMP4_REPLY, 22), 20), 0x8344);
});

Deno.test("checksum: incremental update turns the request's checksum into the reply's", () => {
  // Type 8 -> 0 changes the first word of the message from 0800 to 0000.
  assert.equal(adjustChecksum(0x7b44, 0x0800, 0x0000), 0x8344);
  assert.equal(adjustChecksum(0x8344, 0x0000, 0x0800), 0x7b44);
  // ICMPv6 128 -> 129: 8000 -> 8100.
  assert.equal(adjustChecksum(0xbc3c, 0x8000, 0x8100), 0xbb3c);
  // Random data: adjusting always agrees with recomputing.
  const data = new Uint8Array(64);
  for (let round = 0; round < 200; round++) {
    crypto.getRandomValues(data);
    const before = internetChecksum(data);
    const at = 2 * Math.floor(Math.random() * 32);
    const old = stored(data, at);
    const next = Math.floor(Math.random() * 0x10000);
    data[at] = next >> 8;
    data[at + 1] = next & 0xff;
    const recomputed = internetChecksum(data);
    const adjusted = adjustChecksum(before, old, next);
    // 0x0000 and 0xffff are the same value in ones' complement.
    assert.equal(adjusted % 0xffff, recomputed % 0xffff);
  }
});

Deno.test("checksum: captured UDP over IPv4 and IPv6 (pseudo-header)", () => {
  assert.equal(l4ChecksumV4(zeroed(UDP4, 26), PROTO_UDP, 20, 18), 0xf34c);
  assert.equal(l4ChecksumV4(UDP4, PROTO_UDP, 20, 18), 0);
  assert.equal(l4ChecksumV6(zeroed(UDP6, 46), PROTO_UDP, 40, 21), 0x26ce);
  assert.equal(l4ChecksumV6(UDP6, PROTO_UDP, 40, 21), 0);
});

Deno.test("checksum: pseudo-header sums equal what the kernel leaves for offload", () => {
  // By hand for 127.0.0.1 -> 127.0.0.1, UDP length 18: 7f00+0001+7f00+0001+0011+0012 = fe25.
  assert.equal(fold(pseudoHeaderSumV4(UDP4_PARTIAL, 0, PROTO_UDP, 18)), 0xfe25);
  assert.equal(stored(UDP4_PARTIAL, 26), 0xfe25);
  // ::1 twice is 0001+0001, plus length 0015 and next header 0011: 0028.
  assert.equal(fold(pseudoHeaderSumV6(UDP6_PARTIAL, 0, PROTO_UDP, 21)), 0x0028);
  assert.equal(stored(UDP6_PARTIAL, 46), 0x0028);
  // A 32-bit upper-layer length contributes both halves.
  assert.equal(pseudoHeaderSumV6(new Uint8Array(40), 0, 17, 0x12345), 17 + 1 + 0x2345);
});

Deno.test("checksum: ICMPv6 behind a hop-by-hop header covers only the upper layer", () => {
  const p = MLD_WITH_HOP_BY_HOP;
  // Payload 56 = 8 hop-by-hop + 48 ICMPv6; the pseudo-header length is 48.
  assert.equal(l4ChecksumV6(p, PROTO_ICMPV6, 48, 48), 0);
  assert.equal(l4ChecksumV6(zeroed(p, 50), PROTO_ICMPV6, 48, 48), 0xeee3);
});

Deno.test("checksum: captured ICMPv6 echo (pseudo-header)", () => {
  assert.equal(l4ChecksumV6(zeroed(ICMP6_REQUEST, 42), PROTO_ICMPV6, 40, 18), 0xbc3c);
  assert.equal(l4ChecksumV6(zeroed(ICMP6_REPLY, 42), PROTO_ICMPV6, 40, 18), 0xbb3c);
  assert.equal(l4ChecksumV6(ICMP6_REQUEST, PROTO_ICMPV6, 40, 18), 0);
  // The pseudo-header matters: the same bytes without it give a different sum.
  assert.notEqual(internetChecksum(ICMP6_REQUEST, 40), 0);
});

// The offload paths' sums (formerly drivers/linux/checksum_test.ts).

/** The reference: RFC 1071 as written, one 16-bit word at a time, folded at the end. */
function refSum(data: Uint8Array, offset = 0, length = data.length - offset): number {
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

Deno.test("checksum: checksumAdd equals the reference for every offset, alignment and length", () => {
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

Deno.test("checksum: checksumAdd on random ranges of random data, and all-ones data", () => {
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

Deno.test("checksum: sums compose: pieces of even length chained through initial", () => {
  for (let round = 0; round < 500; round++) {
    const buf = random(3000);
    const cut = 2 * Math.floor(Math.random() * 1500);
    const chained = checksumAdd(buf, cut, 3000 - cut, checksumAdd(buf, 0, cut));
    assert.ok(same(chained, refSum(buf)));
    const init = Math.floor(Math.random() * 2 ** 40);
    assert.ok(same(checksumAdd(buf, 0, 3000, init), fold(refSum(buf) + init)));
  }
});

Deno.test("checksum: finish complements; a packet carrying its checksum sums to 0xffff", () => {
  assert.equal(finish(0), 0xffff);
  assert.equal(finish(0xffff), 0);
  assert.equal(finish(0x1_0000), 0xfffe);
  const buf = random(1001);
  buf[0] = 0;
  buf[1] = 0;
  const c = finish(checksumAdd(buf, 0, buf.length));
  buf[0] = c >> 8;
  buf[1] = c & 0xff;
  assert.equal(finish(checksumAdd(buf, 0, buf.length)), 0);
});

Deno.test("checksum: pseudo-headers at an offset equal the reference sum of the pseudo-header bytes", () => {
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
    const ref4 = fold(refSum(v4) + (len >>> 16) * 0x10000);
    assert.ok(same(pseudoHeaderSumV4(pkt, ip, proto, len), ref4));
    const v6 = new Uint8Array(40);
    v6.set(pkt.subarray(ip + 8, ip + 40));
    new DataView(v6.buffer).setUint32(32, len);
    v6[39] = proto;
    assert.ok(same(pseudoHeaderSumV6(pkt, ip, proto, len), refSum(v6)));
  }
});

Deno.test("checksum: ipv4HeaderChecksum at an offset ignores the stored field and validates", () => {
  for (let round = 0; round < 300; round++) {
    const ihl = 20 + 4 * (round % 11);
    const pkt = random(ihl + 8);
    const at = round % 8;
    const c = ipv4HeaderChecksum(pkt, at, ihl);
    pkt[at + 10] = 0;
    pkt[at + 11] = 0;
    assert.equal(c, finish(refSum(pkt, at, ihl)));
    pkt[at + 10] = c >> 8;
    pkt[at + 11] = c & 0xff;
    assert.equal(finish(refSum(pkt, at, ihl)), 0);
  }
});

Deno.test("checksum: l4ChecksumV4 and l4ChecksumV6 (word loads) equal the byte-loop reference exactly, at every alignment", () => {
  const ref = (p: Uint8Array, pseudo: [number, number], extra: number, off: number, n: number) => {
    let s = refSum(p, pseudo[0], pseudo[1]) + extra + refSum(p, off, n);
    while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
    return ~s & 0xffff;
  };
  const buf = random(2000 + 8);
  for (let shift = 0; shift < 8; shift++) {
    const p = buf.subarray(shift);
    for (const n of [8, 9, 31, 32, 33, 100, 1171, 1172, 1372, 1392]) {
      assert.equal(l4ChecksumV4(p, PROTO_UDP, 20, n), ref(p, [12, 8], PROTO_UDP + n, 20, n));
      assert.equal(
        l4ChecksumV6(p, PROTO_UDP, 40, n),
        ref(p, [8, 32], PROTO_UDP + (n >>> 16) + (n & 0xffff), 40, n),
      );
    }
  }
});
