import assert from "node:assert/strict";
import { internetChecksum, l4ChecksumV6 } from "./checksum.ts";
import {
  buildIcmpEcho,
  ICMP_HEADER_LENGTH,
  icmpEchoLength,
  ICMPV4_ECHO_REPLY,
  ICMPV4_ECHO_REQUEST,
  ICMPV6_ECHO_REPLY,
  ICMPV6_ECHO_REQUEST,
  newIcmpInfo,
  parseIcmp,
  parseIcmpPacket,
  writeIcmpEcho,
} from "./icmp.ts";
import { newIpInfo, parseAddress, PROTO_ICMP, PROTO_ICMPV6 } from "./ip.ts";
import { parseIp, writeIpHeader } from "./packet.ts";
import { seededRandom } from "../../tests/fixtures/prng.ts";

const A4 = parseAddress("192.0.2.1")!;
const B4 = parseAddress("192.0.2.2")!;
const A6 = parseAddress("fe80::1")!;
const B6 = parseAddress("ff02::1")!;

/** An ICMP (v4) or ICMPv6 (v6) message of any type, with a valid checksum. */
function message(v4: boolean, type: number, code: number, rest: number[], data: number[]) {
  const body = [type, code, 0, 0, ...rest, ...data];
  const p = new Uint8Array((v4 ? 20 : 40) + body.length);
  const off = writeIpHeader(
    p,
    v4 ? A4 : A6,
    v4 ? B4 : B6,
    v4 ? PROTO_ICMP : PROTO_ICMPV6,
    body.length,
  );
  p.set(body, off);
  const ck = v4
    ? internetChecksum(p, off, body.length)
    : l4ChecksumV6(p, PROTO_ICMPV6, off, body.length);
  p[off + 2] = ck >> 8;
  p[off + 3] = ck & 0xff;
  return p;
}

Deno.test("icmp: the echo type constants are RFC 792's and RFC 4443's", () => {
  assert.deepEqual(
    [ICMPV4_ECHO_REPLY, ICMPV4_ECHO_REQUEST, ICMPV6_ECHO_REQUEST, ICMPV6_ECHO_REPLY],
    [0, 8, 128, 129],
  );
  assert.equal(ICMP_HEADER_LENGTH, 8);
});

Deno.test("icmp: non-echo ICMPv4 types parse with their code and rest-of-header", () => {
  const types: Array<[string, number, number]> = [
    ["destination unreachable, fragmentation needed", 3, 4],
    ["source quench", 4, 0],
    ["redirect", 5, 1],
    ["time exceeded", 11, 0],
    ["parameter problem", 12, 0],
    ["timestamp", 13, 0],
    ["timestamp reply", 14, 0],
    // Echo types of the other family are not echoes here.
    ["ICMPv6 echo request number", 128, 0],
    ["ICMPv6 echo reply number", 129, 0],
  ];
  for (const [what, type, code] of types) {
    const p = message(true, type, code, [0x05, 0xdc, 0x12, 0x34], [0x45, 0, 0, 0x1c]);
    const icmp = parseIcmpPacket(p)!;
    assert.ok(icmp, what);
    assert.equal(icmp.type, type, what);
    assert.equal(icmp.code, code, what);
    assert.equal(icmp.echo, false, what);
    assert.equal(icmp.request, false, what);
    // id and seq are just bytes 4-7 (here: an MTU of 1500 and junk), whatever the type.
    assert.equal(icmp.id, 1500, what);
    assert.equal(icmp.seq, 0x1234, what);
    assert.equal(icmp.dataOffset, 28, what);
    assert.equal(icmp.dataLength, 4, what);
  }
});

Deno.test("icmp: non-echo ICMPv6 types parse; v4 echo numbers are not echoes in v6", () => {
  const types: Array<[string, number, number]> = [
    ["destination unreachable", 1, 3],
    ["packet too big", 2, 0],
    ["time exceeded", 3, 1],
    ["parameter problem", 4, 2],
    ["router solicitation", 133, 0],
    ["neighbor solicitation", 135, 0],
    ["neighbor advertisement", 136, 0],
    ["ICMPv4 echo request number", 8, 0],
    ["ICMPv4 echo reply number", 0, 0],
  ];
  for (const [what, type, code] of types) {
    const p = message(false, type, code, [0, 0, 0x05, 0x00], new Array(16).fill(0xab));
    const ip = newIpInfo();
    const icmp = parseIcmpPacket(p, ip)!;
    assert.ok(icmp, what);
    assert.equal(ip.protocol, PROTO_ICMPV6);
    assert.equal(icmp.type, type, what);
    assert.equal(icmp.code, code, what);
    assert.equal(icmp.echo, false, what);
    assert.equal(icmp.request, false, what);
    assert.equal(icmp.seq, 1280, what);
    assert.equal(icmp.dataOffset, 48, what);
    assert.equal(icmp.dataLength, 16, what);
  }
});

Deno.test("icmp: a bare 8-byte message parses with no data; 7 bytes do not", () => {
  for (const v4 of [true, false]) {
    const p = message(v4, 11, 0, [0, 0, 0, 0], []);
    assert.equal(parseIcmpPacket(p)!.dataLength, 0);
    // Shorten the message to 7 bytes by its IP length field (checksum still fixed up).
    const short = message(v4, 11, 0, [0, 0, 0], []);
    assert.equal(parseIcmpPacket(short), null, `v4 ${v4}`);
  }
});

Deno.test("icmp: a fragment is not parsed as ICMP", () => {
  const p = message(true, 3, 1, [0, 0, 0, 0], []);
  p[6] = 0x20; // MF
  p[10] = 0;
  p[11] = 0;
  const ck = internetChecksum(p, 0, 20);
  p[10] = ck >> 8;
  p[11] = ck & 0xff;
  const ip = parseIp(p)!;
  assert.equal(ip.fragment, true);
  assert.equal(parseIcmp(p, ip), null);
  assert.equal(parseIcmp(p, ip, newIcmpInfo(), false), null, "even without verification");
});

Deno.test("icmp: echo id and seq keep their low 16 bits; the checksum verifies", () => {
  const rand = seededRandom(0x1c4);
  for (let i = 0; i < 100; i++) {
    const [src, dst] = i % 2 === 0 ? [A4, B4] : [A6, B6];
    const id = Math.floor(rand() * 0x30000);
    const seq = Math.floor(rand() * 0x30000);
    const data = Uint8Array.from({ length: Math.floor(rand() * 100) }, () => rand() * 256);
    const request = rand() < 0.5;
    const p = buildIcmpEcho(src, dst, request, id, seq, data, 3);
    assert.equal(p.length, icmpEchoLength(src.length, data.length));
    const ip = newIpInfo();
    const icmp = parseIcmpPacket(p, ip)!;
    assert.ok(icmp, `packet ${i}`);
    assert.equal(ip.ttl, 3);
    assert.equal(icmp.id, id & 0xffff);
    assert.equal(icmp.seq, seq & 0xffff);
    assert.equal(icmp.request, request);
    assert.equal(icmp.code, 0);
  }
});

Deno.test("icmp: echo lengths and the fit of the output buffer", () => {
  assert.equal(icmpEchoLength(4, 0), 28);
  assert.equal(icmpEchoLength(16, 56), 104);
  const out = new Uint8Array(80).fill(0x77);
  const n = writeIcmpEcho(out, A4, B4, true, 1, 2, new Uint8Array(4));
  assert.equal(n, 32);
  assert.ok(out.subarray(n).every((b) => b === 0x77));
  assert.equal(parseIcmpPacket(out)!.dataLength, 4);
  assert.throws(
    () => writeIcmpEcho(new Uint8Array(103), A6, B6, true, 1, 2, new Uint8Array(56)),
    /does not fit/,
  );
});

Deno.test("icmp: a bad checksum is accepted only when verification is off", () => {
  const p = message(false, 135, 0, [0, 0, 0, 0], new Array(16).fill(1));
  p[p.length - 1] ^= 0x10;
  const ip = parseIp(p)!;
  const out = newIcmpInfo();
  assert.equal(parseIcmp(p, ip, out), null);
  assert.deepEqual(out, newIcmpInfo(), "untouched on failure");
  assert.equal(parseIcmp(p, ip, out, false), out);
  assert.equal(out.type, 135);
});
