import assert from "node:assert/strict";
import { l4ChecksumV4, l4ChecksumV6 } from "./checksum.ts";
import { newIpInfo, parseAddress, PROTO_UDP } from "./ip.ts";
import { parseIp } from "./packet.ts";
import {
  buildUdpPacket,
  newUdpInfo,
  parseUdp,
  parseUdpPacket,
  UDP_HEADER_LENGTH,
  udpPacketLength,
  writeUdpPacket,
} from "./udp.ts";
import { seededRandom } from "../../tests/fixtures/prng.ts";

const A4 = parseAddress("192.0.2.10")!;
const B4 = parseAddress("198.51.100.20")!;
const A6 = parseAddress("fd00:1::10")!;
const B6 = parseAddress("fd00:2::20")!;

const stored = (p: Uint8Array, off: number) => (p[off + 6] << 8) | p[off + 7];

Deno.test("udp: a checksum that computes to zero is sent as 0xffff, and verifies", () => {
  for (const [src, dst] of [[A4, B4], [A6, B6]]) {
    const off = src.length === 4 ? 20 : 40;
    // With a two-byte payload of zeros the checksum is C; a payload word equal to C then brings
    // the one's-complement sum to 0xffff, so the computed checksum is 0.
    const probe = buildUdpPacket(src, dst, 4000, 5000, new Uint8Array(2));
    const c = stored(probe, off);
    const p = buildUdpPacket(src, dst, 4000, 5000, new Uint8Array([c >> 8, c & 0xff]));
    // Recomputing over the packet with the checksum field zeroed gives 0 ...
    const zeroed = p.slice();
    zeroed[off + 6] = 0;
    zeroed[off + 7] = 0;
    const recomputed = src.length === 4
      ? l4ChecksumV4(zeroed, PROTO_UDP, off, 10)
      : l4ChecksumV6(zeroed, PROTO_UDP, off, 10);
    assert.equal(recomputed, 0, `family ${src.length}`);
    // ... but on the wire it is all ones (zero would mean "none" over IPv4, invalid over IPv6).
    assert.equal(stored(p, off), 0xffff);
    const udp = parseUdpPacket(p)!;
    assert.ok(udp, `family ${src.length}: 0xffff verifies`);
    assert.deepEqual(p.subarray(udp.payloadOffset), new Uint8Array([c >> 8, c & 0xff]));
  }
});

Deno.test("udp: stored checksums verify for seeded payloads and ports", () => {
  const rand = seededRandom(0x0d9);
  for (let i = 0; i < 200; i++) {
    const [src, dst] = i % 2 === 0 ? [A4, B4] : [A6, B6];
    const payload = Uint8Array.from(
      { length: Math.floor(rand() * 300) },
      () => Math.floor(rand() * 256),
    );
    const sp = Math.floor(rand() * 65536);
    const dp = Math.floor(rand() * 65536);
    const p = buildUdpPacket(src, dst, sp, dp, payload);
    const off = src.length === 4 ? 20 : 40;
    const len = UDP_HEADER_LENGTH + payload.length;
    assert.notEqual(stored(p, off), 0, `packet ${i}`);
    const verify = src.length === 4
      ? l4ChecksumV4(p, PROTO_UDP, off, len)
      : l4ChecksumV6(p, PROTO_UDP, off, len);
    assert.equal(verify, 0, `packet ${i}`);
    const udp = parseUdpPacket(p)!;
    assert.deepEqual([udp.srcPort, udp.dstPort, udp.payloadLength], [sp, dp, payload.length]);
  }
});

Deno.test("udp: the header carries ports, length and checksum in order", () => {
  const p = buildUdpPacket(A4, B4, 0x1234, 0xabcd, new Uint8Array([1, 2, 3]));
  assert.deepEqual([...p.subarray(20, 26)], [0x12, 0x34, 0xab, 0xcd, 0, 11]);
  assert.equal(p[9], PROTO_UDP);
  assert.equal(p[8], 64, "default TTL");
  assert.deepEqual([...p.subarray(28)], [1, 2, 3]);
});

Deno.test("udp: packet lengths and the fit of the output buffer", () => {
  assert.equal(UDP_HEADER_LENGTH, 8);
  assert.equal(udpPacketLength(4, 0), 28);
  assert.equal(udpPacketLength(16, 0), 48);
  assert.equal(udpPacketLength(4, 100), 128);
  assert.equal(udpPacketLength(16, 100), 148);
  // Writing into a larger buffer returns the packet's own length and leaves the rest alone.
  const out = new Uint8Array(100).fill(0xee);
  const n = writeUdpPacket(out, A6, B6, 1, 2, new Uint8Array(5));
  assert.equal(n, 53);
  assert.ok(out.subarray(n).every((b) => b === 0xee));
  assert.ok(parseUdpPacket(out));
  // One byte short does not fit.
  assert.throws(
    () => writeUdpPacket(new Uint8Array(52), A6, B6, 1, 2, new Uint8Array(5)),
    /does not fit/,
  );
});

Deno.test("udp: ports 0 and 65535 are valid; fractions and out-of-range are not", () => {
  const p = buildUdpPacket(A4, B4, 0, 65535, new Uint8Array(0));
  const udp = parseUdpPacket(p)!;
  assert.equal(udp.srcPort, 0);
  assert.equal(udp.dstPort, 65535);
  assert.equal(udp.payloadLength, 0);
  assert.equal(udp.payloadOffset, 28);
  for (const bad of [1.5, 65536, -1, NaN]) {
    assert.throws(() => buildUdpPacket(A4, B4, bad, 1, new Uint8Array(0)), /source port/);
    assert.throws(() => buildUdpPacket(A4, B4, 1, bad, new Uint8Array(0)), /destination port/);
  }
});

Deno.test("udp: parseUdp reads into the caller's objects and skips verification on request", () => {
  const p = buildUdpPacket(A4, B4, 7, 9, new Uint8Array([5, 6]));
  const ip = newIpInfo();
  const out = newUdpInfo();
  assert.deepEqual(out, { srcPort: 0, dstPort: 0, payloadOffset: 0, payloadLength: 0 });
  assert.equal(parseUdpPacket(p, ip, out), out);
  assert.equal(ip.protocol, PROTO_UDP);
  assert.deepEqual(out, { srcPort: 7, dstPort: 9, payloadOffset: 28, payloadLength: 2 });
  // A corrupted payload fails verification and leaves `out` as it was...
  const bad = p.slice();
  bad[28] ^= 1;
  const before = { ...out };
  assert.equal(parseUdp(bad, parseIp(bad)!, out), null);
  assert.deepEqual(out, before);
  // ... unless verification is off.
  assert.ok(parseUdp(bad, parseIp(bad)!, newUdpInfo(), false));
  // An IPv6 zero checksum is invalid even without verification.
  const v6 = buildUdpPacket(A6, B6, 7, 9, new Uint8Array(2));
  v6[46] = 0;
  v6[47] = 0;
  assert.equal(parseUdp(v6, parseIp(v6)!, newUdpInfo(), false), null);
});
