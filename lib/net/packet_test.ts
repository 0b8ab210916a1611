import assert from "node:assert/strict";
import { internetChecksum, ipv4HeaderChecksum, l4ChecksumV6 } from "./checksum.ts";
import {
  buildIcmpEcho,
  ICMPV4_ECHO_REQUEST,
  ICMPV6_ECHO_REPLY,
  parseIcmp,
  parseIcmpPacket,
} from "./icmp.ts";
import {
  formatAddress,
  newIpInfo,
  parseAddress,
  PROTO_ICMP,
  PROTO_ICMPV6,
  PROTO_UDP,
} from "./ip.ts";
import { parseIpv4, writeIpv4Header } from "./ipv4.ts";
import { parseIpv6 } from "./ipv6.ts";
import { parseIp } from "./packet.ts";
import { buildUdpPacket, parseUdp, parseUdpPacket, udpPacketLength } from "./udp.ts";
import {
  ICMP4_REPLY,
  ICMP4_REQUEST,
  ICMP4_UNREACHABLE,
  ICMP6_REPLY,
  ICMP6_REQUEST,
  ICMP6_UNREACHABLE,
  MLD_WITH_HOP_BY_HOP,
  UDP4,
  UDP4_PARTIAL,
  UDP6,
} from "../../tests/fixtures/net_fixtures.ts";
import { seededRandom } from "../../tests/fixtures/prng.ts";

const A4 = parseAddress("192.0.2.1")!;
const B4 = parseAddress("198.51.100.2")!;
const A6 = parseAddress("fd00::1")!;
const B6 = parseAddress("fd00:0:0:1::abcd")!;
const text = (s: string) => new TextEncoder().encode(s);

function fixV4Checksum(p: Uint8Array): void {
  p[10] = 0;
  p[11] = 0;
  const ck = ipv4HeaderChecksum(p);
  p[10] = ck >> 8;
  p[11] = ck & 0xff;
}

/** Rewrites the UDP checksum of a (possibly edited) v4 or v6 packet. */
function fixUdpChecksum(p: Uint8Array, off: number, len: number, v6: boolean): void {
  p[off + 6] = 0;
  p[off + 7] = 0;
  const ck = v6 ? l4ChecksumV6(p, PROTO_UDP, off, len) : (() => {
    const pseudo = new Uint8Array(12 + len);
    pseudo.set(p.subarray(12, 20), 0);
    pseudo[9] = PROTO_UDP;
    pseudo[10] = len >> 8;
    pseudo[11] = len & 0xff;
    pseudo.set(p.subarray(off, off + len), 12);
    return internetChecksum(pseudo);
  })();
  p[off + 6] = ck >> 8;
  p[off + 7] = ck & 0xff;
}

Deno.test("packets: captured packets parse to the expected fields", () => {
  const ip = newIpInfo();
  const udp = parseUdpPacket(UDP4, ip)!;
  assert.ok(udp);
  assert.equal(ip.version, 4);
  assert.equal(ip.ttl, 64);
  assert.equal(ip.protocol, PROTO_UDP);
  assert.equal(udp.srcPort, 40000);
  assert.equal(udp.dstPort, 51820);
  assert.equal(
    new TextDecoder().decode(
      UDP4.subarray(udp.payloadOffset, udp.payloadOffset + udp.payloadLength),
    ),
    "hello weft",
  );

  const udp6 = parseUdpPacket(UDP6, ip)!;
  assert.equal(ip.version, 6);
  assert.equal(udp6.srcPort, 40001);
  assert.equal(udp6.dstPort, 51821);
  assert.equal(udp6.payloadLength, 13);

  for (
    const [p, request] of [[ICMP4_REQUEST, true], [ICMP4_REPLY, false], [ICMP6_REQUEST, true], [
      ICMP6_REPLY,
      false,
    ]] as const
  ) {
    const icmp = parseIcmpPacket(p, ip)!;
    assert.ok(icmp);
    assert.equal(icmp.echo, true);
    assert.equal(icmp.request, request);
    assert.equal(icmp.seq, 1);
  }
  assert.equal(parseIcmpPacket(ICMP4_REQUEST)!.id, 0xe783);
  assert.equal(parseIcmpPacket(ICMP6_REQUEST)!.id, 0xe784);

  // Error messages parse as ICMP, not as echoes.
  const unreach4 = parseIcmpPacket(ICMP4_UNREACHABLE)!;
  assert.equal(unreach4.type, 3);
  assert.equal(unreach4.code, 3);
  assert.equal(unreach4.echo, false);
  const unreach6 = parseIcmpPacket(ICMP6_UNREACHABLE)!;
  assert.equal(unreach6.type, 1);
  assert.equal(unreach6.code, 4);
  assert.equal(unreach6.echo, false);
});

Deno.test("packets: offloaded (partial) UDP checksums are rejected, as a receiver must", () => {
  assert.equal(parseUdpPacket(UDP4_PARTIAL), null);
  const ip = parseIp(UDP4_PARTIAL)!;
  assert.ok(parseUdp(UDP4_PARTIAL, ip, undefined, false), "fine when not verifying");
});

Deno.test("packets: IPv6 extension headers are walked to the upper layer", () => {
  const ip = parseIpv6(MLD_WITH_HOP_BY_HOP)!;
  assert.ok(ip);
  assert.equal(ip.protocol, PROTO_ICMPV6);
  assert.equal(ip.headerLength, 48);
  assert.equal(ip.payloadOffset, 48);
  assert.equal(ip.payloadLength, 48);
  assert.equal(ip.ttl, 1);
  const icmp = parseIcmp(MLD_WITH_HOP_BY_HOP, ip)!;
  assert.equal(icmp.type, 143);
  assert.equal(icmp.echo, false);
});

/** Inserts extension headers (already chained: `chain[0]` is the first header's type) before the
 * UDP segment of a built IPv6 UDP packet. */
function withExtensions(p: Uint8Array, headers: Uint8Array[], firstType: number): Uint8Array {
  const ext = headers.reduce((n, h) => n + h.length, 0);
  const out = new Uint8Array(p.length + ext);
  out.set(p.subarray(0, 40));
  let at = 40;
  for (const h of headers) {
    out.set(h, at);
    at += h.length;
  }
  out.set(p.subarray(40), at);
  const pl = p.length - 40 + ext;
  out[4] = pl >> 8;
  out[5] = pl & 0xff;
  out[6] = firstType;
  return out;
}

Deno.test("packets: IPv6 UDP behind destination options, routing and fragment headers", () => {
  const base = buildUdpPacket(A6, B6, 1000, 2000, text("through the chain"));
  // destination options (60) -> routing (43) -> atomic fragment (44) -> UDP (17)
  const dest = new Uint8Array([43, 1, 1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  const routing = new Uint8Array([44, 0, 0, 0, 0, 0, 0, 0]);
  const atomic = new Uint8Array([17, 0, 0, 0, 0, 0, 0, 1]);
  const p = withExtensions(base, [dest, routing, atomic], 60);
  const ip = newIpInfo();
  const udp = parseUdpPacket(p, ip)!;
  assert.ok(udp, "atomic fragment is a whole packet");
  assert.equal(ip.payloadOffset, 40 + 32);
  assert.equal(ip.fragment, false);
  assert.equal(udp.dstPort, 2000);

  // A real fragment (M flag) is flagged and not parsed as UDP.
  const frag = withExtensions(base, [new Uint8Array([17, 0, 0, 1, 0, 0, 0, 9])], 44);
  assert.equal(parseIpv6(frag)!.fragment, true);
  assert.equal(parseUdpPacket(frag), null);
  const later = withExtensions(base, [new Uint8Array([17, 0, 0x05, 0x68, 0, 0, 0, 9])], 44);
  assert.equal(parseIpv6(later)!.fragment, true);

  // Hop-by-hop anywhere but first is invalid.
  const hbh = new Uint8Array([17, 0, 1, 4, 0, 0, 0, 0]);
  assert.ok(parseUdpPacket(withExtensions(base, [hbh], 0)));
  const late = withExtensions(base, [new Uint8Array([0, 0, 1, 4, 0, 0, 0, 0]), hbh], 60);
  assert.equal(parseIpv6(late), null);

  // An extension header longer than the payload is invalid.
  const long = withExtensions(base, [new Uint8Array([17, 200, 1, 4, 0, 0, 0, 0])], 60);
  assert.equal(parseIpv6(long), null);

  // An endless chain is cut off.
  const loop = Array.from({ length: 9 }, () => new Uint8Array([60, 0, 1, 4, 0, 0, 0, 0]));
  loop[8][0] = 17;
  assert.equal(parseIpv6(withExtensions(base, loop, 60)), null);
  assert.ok(parseIpv6(withExtensions(base, loop.slice(1), 60)));
});

Deno.test("packets: UDP builds and parses back, IPv4 and IPv6", () => {
  for (const [src, dst] of [[A4, B4], [A6, B6]]) {
    for (const size of [0, 1, 2, 17, 1000]) {
      const payload = crypto.getRandomValues(new Uint8Array(size));
      const p = buildUdpPacket(src, dst, 51820, 53, payload, 7);
      assert.equal(p.length, udpPacketLength(src.length, size));
      const ip = newIpInfo();
      const udp = parseUdpPacket(p, ip)!;
      assert.ok(udp, `size ${size}`);
      assert.equal(ip.version, src.length === 4 ? 4 : 6);
      assert.equal(ip.ttl, 7);
      assert.equal(
        formatAddress(p.slice(ip.srcOffset, ip.srcOffset + src.length)),
        formatAddress(src),
      );
      assert.equal(
        formatAddress(p.slice(ip.dstOffset, ip.dstOffset + dst.length)),
        formatAddress(dst),
      );
      assert.equal(udp.srcPort, 51820);
      assert.equal(udp.dstPort, 53);
      assert.deepEqual(p.slice(udp.payloadOffset, udp.payloadOffset + udp.payloadLength), payload);
    }
  }
  assert.throws(() => buildUdpPacket(A4, B6, 1, 2, new Uint8Array(0)), /both be IPv4 or both IPv6/);
  assert.throws(() => buildUdpPacket(A4, B4, 70000, 2, new Uint8Array(0)), /source port/);
  assert.throws(() => buildUdpPacket(A4, B4, 1, -1, new Uint8Array(0)), /destination port/);
  assert.throws(() => buildUdpPacket(A4, B4, 1, 2, new Uint8Array(65535 - 27)), RangeError);
});

Deno.test("packets: our builder matches the kernel's bytes", () => {
  const p = buildUdpPacket(A4, parseAddress("192.0.2.2")!, 40000, 51820, text("hello weft"));
  // Same as the capture except IP id/flags (and so the header checksum).
  assert.deepEqual(p.subarray(20), UDP4.subarray(20));
  const p6 = buildUdpPacket(A6, parseAddress("fd00::2")!, 40001, 51821, text("hello weft v6"));
  assert.deepEqual(p6.subarray(4), UDP6.subarray(4), "everything after the flow label");
  const ping = buildIcmpEcho(
    parseAddress("127.0.0.1")!,
    parseAddress("127.0.0.1")!,
    true,
    0xe783,
    1,
    text("weft-ping-fixture"),
  );
  assert.deepEqual(ping.subarray(20), ICMP4_REQUEST.subarray(20));
  const pong6 = buildIcmpEcho(
    parseAddress("::1")!,
    parseAddress("::1")!,
    false,
    0xe784,
    1,
    text("weft-ping6"),
  );
  assert.deepEqual(pong6.subarray(4), ICMP6_REPLY.subarray(4));
});

Deno.test("packets: ICMP echo builds and parses back, IPv4 and IPv6", () => {
  for (const [src, dst] of [[A4, B4], [A6, B6]]) {
    for (const request of [true, false]) {
      for (const size of [0, 3, 56, 1400]) {
        const data = crypto.getRandomValues(new Uint8Array(size));
        const p = buildIcmpEcho(src, dst, request, 0xbeef, 0x1234, data);
        const ip = newIpInfo();
        const icmp = parseIcmpPacket(p, ip)!;
        assert.ok(icmp);
        assert.equal(ip.protocol, src.length === 4 ? PROTO_ICMP : PROTO_ICMPV6);
        assert.equal(icmp.echo, true);
        assert.equal(icmp.request, request);
        assert.equal(
          icmp.type,
          src.length === 4
            ? (request ? ICMPV4_ECHO_REQUEST : 0)
            : (request ? 128 : ICMPV6_ECHO_REPLY),
        );
        assert.equal(icmp.id, 0xbeef);
        assert.equal(icmp.seq, 0x1234);
        assert.deepEqual(p.slice(icmp.dataOffset, icmp.dataOffset + icmp.dataLength), data);
      }
    }
  }
});

/** Every valid packet the malformed-input tests cut and corrupt. */
function samples(): Array<[string, Uint8Array]> {
  return [
    ["udp4", buildUdpPacket(A4, B4, 1, 2, text("payload!"))],
    ["udp6", buildUdpPacket(A6, B6, 1, 2, text("payload!"))],
    ["echo4", buildIcmpEcho(A4, B4, true, 1, 2, text("ping"))],
    ["echo6", buildIcmpEcho(A6, B6, false, 1, 2, text("pong"))],
    ["kernel-udp4", UDP4],
    ["kernel-udp6", UDP6],
    ["kernel-echo4", ICMP4_REQUEST],
    ["kernel-echo6", ICMP6_REQUEST],
    ["kernel-mld", MLD_WITH_HOP_BY_HOP],
  ];
}

function parseAll(p: Uint8Array): unknown {
  const ip = parseIp(p);
  if (ip === null) return null;
  return ip.protocol === PROTO_UDP ? parseUdp(p, ip) : parseIcmp(p, ip);
}

Deno.test("packets: truncation at every length is rejected", () => {
  for (const [name, p] of samples()) {
    assert.ok(parseAll(p), `${name} is valid`);
    for (let len = 0; len < p.length; len++) {
      assert.equal(parseAll(p.subarray(0, len)), null, `${name} cut to ${len}`);
    }
  }
});

Deno.test("packets: trailing padding (as WireGuard adds) is ignored", () => {
  for (const [name, p] of samples()) {
    const padded = new Uint8Array(p.length + 13);
    padded.set(p);
    const ip = parseIp(padded)!;
    assert.ok(ip, name);
    assert.equal(ip.packetLength, p.length, name);
    assert.ok(parseAll(padded), name);
  }
});

Deno.test("packets: bad versions and IPv4 lengths are rejected", () => {
  const good = buildUdpPacket(A4, B4, 1, 2, text("12345678"));
  const edit = (f: (p: Uint8Array) => void, fix = true) => {
    const p = good.slice();
    f(p);
    if (fix) fixV4Checksum(p);
    return p;
  };
  for (const v of [0, 1, 5, 6, 7, 15]) {
    assert.equal(parseIpv4(edit((p) => p[0] = (v << 4) | 5)), null, `version ${v}`);
    // Version 6 dispatches to the IPv6 parser, which finds 36 bytes too short.
    assert.equal(parseIp(edit((p) => p[0] = (v << 4) | 5)), null, `version ${v}`);
  }
  for (const ihl of [0, 1, 4]) {
    assert.equal(parseIpv4(edit((p) => p[0] = 0x40 | ihl)), null, `IHL ${ihl}`);
  }
  assert.equal(parseIpv4(edit((p) => p[0] = 0x4f)), null, "IHL past the buffer (60 > 36)");
  assert.equal(parseIpv4(edit((p) => p[3] = 19)), null, "total length inside the header");
  assert.equal(parseIpv4(edit((p) => p[3] = p.length + 1)), null, "total length past the buffer");
  assert.equal(parseIpv4(edit((p) => p[2] = 0xff)), null, "huge total length");
  assert.equal(parseIpv4(edit((p) => p[8] ^= 1, false)), null, "bad header checksum");
  assert.ok(parseIpv4(edit((p) => p[8] ^= 1, false), newIpInfo(), false), "unless not verifying");
  // IPv4 options: IHL 6 with one NOP+EOL word is a valid header.
  const withOptions = new Uint8Array(good.length + 4);
  withOptions.set(good.subarray(0, 20));
  withOptions.set([1, 1, 1, 0], 20);
  withOptions.set(good.subarray(20), 24);
  withOptions[0] = 0x46;
  withOptions[3] += 4;
  fixV4Checksum(withOptions);
  const ip = newIpInfo();
  assert.ok(parseUdpPacket(withOptions, ip), "options are skipped");
  assert.equal(ip.payloadOffset, 24);
  // Fragments.
  const mf = edit((p) => p[6] = 0x20);
  assert.equal(parseIpv4(mf)!.fragment, true);
  assert.equal(parseUdpPacket(mf), null);
  assert.equal(parseIpv4(edit((p) => p[7] = 1))!.fragment, true);
  assert.equal(parseIpv4(edit((p) => p[6] = 0x40))!.fragment, false, "DF alone is whole");
});

Deno.test("packets: bad IPv6 lengths and versions are rejected", () => {
  const good = buildUdpPacket(A6, B6, 1, 2, text("12345678"));
  const edit = (f: (p: Uint8Array) => void) => {
    const p = good.slice();
    f(p);
    return p;
  };
  assert.equal(parseIpv6(edit((p) => p[0] = 0x40)), null);
  assert.equal(parseIpv6(edit((p) => p[0] = 0x70)), null);
  assert.equal(parseIpv6(edit((p) => p[5] += 1)), null, "payload length past the buffer");
  // Jumbogram: payload length 0 with a hop-by-hop header cannot hold the header.
  assert.equal(
    parseIpv6(edit((p) => {
      p[4] = 0;
      p[5] = 0;
      p[6] = 0;
    })),
    null,
  );
  // Payload length 0 with UDP next: valid IP, but no room for UDP.
  const empty = edit((p) => {
    p[4] = 0;
    p[5] = 0;
  });
  assert.ok(parseIpv6(empty));
  assert.equal(parseUdpPacket(empty), null);
});

Deno.test("packets: bad UDP lengths and checksums are rejected", () => {
  for (const [src, dst] of [[A4, B4], [A6, B6]]) {
    const v6 = src.length === 16;
    const off = v6 ? 40 : 20;
    const good = buildUdpPacket(src, dst, 1, 2, text("12345678"));
    const edit = (f: (p: Uint8Array) => void, len = 16) => {
      const p = good.slice();
      f(p);
      fixUdpChecksum(p, off, Math.min(len, p.length - off), v6);
      return p;
    };
    assert.ok(parseUdpPacket(edit(() => {})), "the helper keeps good packets good");
    assert.equal(parseUdpPacket(edit((p) => p[off + 5] = 7, 7)), null, "UDP length < 8");
    assert.equal(parseUdpPacket(edit((p) => p[off + 5] = 17)), null, "UDP length > IP payload");
    // UDP length shorter than the IP payload: trailing bytes are ignored (as Linux trims them).
    const short = edit((p) => p[off + 5] = 12, 12);
    assert.equal(parseUdpPacket(short)!.payloadLength, 4);
    const flipped = good.slice();
    flipped[flipped.length - 1] ^= 0x40;
    assert.equal(parseUdpPacket(flipped), null, "payload corruption");
    const zero = good.slice();
    zero[off + 6] = 0;
    zero[off + 7] = 0;
    assert.equal(parseUdpPacket(zero) === null, v6, "zero checksum: none for v4, invalid for v6");
  }
  // The wrong protocol for the parser.
  const echo = buildIcmpEcho(A4, B4, true, 1, 1, new Uint8Array(8));
  assert.equal(parseUdp(echo, parseIp(echo)!), null);
  const udp = buildUdpPacket(A6, B6, 1, 1, new Uint8Array(8));
  assert.equal(parseIcmp(udp, parseIp(udp)!), null);
});

Deno.test("packets: bad ICMP checksums and protocol mismatches are rejected", () => {
  for (const p of [ICMP4_REQUEST, ICMP6_REQUEST]) {
    for (let i = p[0] >> 4 === 4 ? 20 : 40; i < p.length; i++) {
      const c = p.slice();
      c[i] ^= 0x01;
      assert.equal(parseIcmpPacket(c), null, `byte ${i}`);
    }
  }
  // ICMPv6 checksums cover the addresses; ICMPv4 ones do not.
  const v6 = ICMP6_REQUEST.slice();
  v6[39] = 2;
  assert.equal(parseIcmpPacket(v6), null);
  const v4 = ICMP4_REQUEST.slice();
  v4[19] = 2;
  fixV4Checksum(v4);
  assert.ok(parseIcmpPacket(v4));
  // ICMPv6 (58) inside IPv4 is not ICMP.
  const wrong = ICMP4_REQUEST.slice();
  wrong[9] = PROTO_ICMPV6;
  fixV4Checksum(wrong);
  assert.equal(parseIcmpPacket(wrong), null);
});

Deno.test("packets: random and mutated input never throws; what parses stays inside the packet", () => {
  const seed = 0x5eed;
  const rand = seededRandom(seed);
  const buf = new Uint8Array(128);
  const ip = newIpInfo();
  const seen = { ip: 0, udp: 0, icmp: 0, rejected: 0 };
  // Whatever a parser accepts, every offset and length it reports lies inside the packet the
  // header describes, and that packet inside the buffer: nothing downstream reads past the end.
  const check = (p: Uint8Array, what: string) => {
    if (parseIp(p, ip) === null) {
      seen.rejected++;
      return;
    }
    seen.ip++;
    const at = `${what} (seed ${seed})`;
    assert.equal(ip.version, p[0] >> 4, at);
    assert.equal(ip.addressLength, ip.version === 4 ? 4 : 16, at);
    assert.ok(ip.packetLength <= p.length, at);
    assert.ok(ip.headerLength >= (ip.version === 4 ? 20 : 40), at);
    assert.ok(ip.srcOffset + ip.addressLength <= ip.headerLength, at);
    assert.ok(ip.dstOffset + ip.addressLength <= ip.headerLength, at);
    assert.ok(ip.payloadOffset >= ip.headerLength, at);
    assert.equal(ip.payloadOffset + ip.payloadLength, ip.packetLength, at);
    const udp = parseUdp(p, ip);
    const icmp = parseIcmp(p, ip);
    assert.ok(udp === null || icmp === null, `${at}: both UDP and ICMP`);
    if (udp !== null) {
      seen.udp++;
      assert.equal(ip.protocol, PROTO_UDP, at);
      assert.equal(udp.payloadOffset, ip.payloadOffset + 8, at);
      assert.ok(udp.payloadOffset + udp.payloadLength <= ip.packetLength, at);
    }
    if (icmp !== null) {
      seen.icmp++;
      assert.equal(ip.protocol, ip.version === 4 ? PROTO_ICMP : PROTO_ICMPV6, at);
      assert.equal(icmp.dataOffset, ip.payloadOffset + 8, at);
      assert.equal(icmp.dataOffset + icmp.dataLength, ip.packetLength, at);
    }
  };
  for (let i = 0; i < 20000; i++) {
    const len = Math.floor(rand() * buf.length);
    const p = buf.subarray(0, len);
    for (let j = 0; j < len; j++) p[j] = rand() * 256;
    if (len > 0) p[0] = (rand() < 0.5 ? 0x40 : 0x60) | (p[0] & 0x0f);
    check(p, `random packet ${i}`);
  }
  for (const [name, good] of samples()) {
    for (let i = 0; i < 3000; i++) {
      const p = good.slice();
      const flips = 1 + Math.floor(rand() * 3);
      for (let f = 0; f < flips; f++) p[Math.floor(rand() * p.length)] = rand() * 256;
      check(p.subarray(0, Math.floor(rand() * (p.length + 1))), `${name} mutation ${i}`);
    }
  }
  // The seed reaches the accepting paths of all three parsers, not only the early rejections.
  assert.ok(seen.ip > 0 && seen.udp > 0 && seen.icmp > 0, JSON.stringify(seen));
  assert.ok(seen.rejected > seen.ip, JSON.stringify(seen));
});

Deno.test("packets: writeIpv4Header refuses oversize packets", () => {
  assert.throws(() => writeIpv4Header(new Uint8Array(20), A4, B4, 17, 65516), RangeError);
});
