import assert from "node:assert/strict";
import { newIpInfo, parseAddress, PROTO_ICMPV6, PROTO_UDP } from "./ip.ts";
import {
  DEFAULT_HOP_LIMIT,
  EXT_FRAGMENT,
  EXT_OFFSET,
  EXT_PROTOCOL,
  IPV6_HEADER_LENGTH,
  parseIpv6,
  walkIpv6Extensions,
  writeIpv6Header,
} from "./ipv6.ts";

const SRC = parseAddress("fd00::1")!;
const DST = parseAddress("2001:db8::ffff:1")!;
const HOP_BY_HOP = 0;
const ROUTING = 43;
const FRAGMENT = 44;
const AUTH = 51;
const NO_NEXT_HEADER = 59;
const DEST_OPTIONS = 60;

/** An extension header of `type`'s shape pointing at `next`: 8 bytes, or (1 + ext) * 8. */
function ext(type: number, next: number, extraWords = 0, fragField = 0): Uint8Array {
  const h = new Uint8Array(type === FRAGMENT ? 8 : (extraWords + 1) * 8);
  h[0] = next;
  if (type === FRAGMENT) {
    h[2] = fragField >> 8;
    h[3] = fragField & 0xff;
  } else {
    h[1] = extraWords;
  }
  return h;
}

/** An IPv6 packet: the fixed header, then `chain` (headers whose types are `types`), then
 * `upper` bytes of upper-layer payload. */
function packet(types: number[], chain: Uint8Array[], last: number, upper = 8): Uint8Array {
  const extLength = chain.reduce((n, h) => n + h.length, 0);
  const p = new Uint8Array(IPV6_HEADER_LENGTH + extLength + upper);
  writeIpv6Header(p, SRC, DST, types.length > 0 ? types[0] : last, extLength + upper);
  let at = IPV6_HEADER_LENGTH;
  for (const h of chain) {
    p.set(h, at);
    at += h.length;
  }
  return p;
}

/** A chain of the given header types ending at `last`. */
function chainOf(types: number[], last: number): Uint8Array[] {
  return types.map((t, i) => ext(t, i + 1 < types.length ? types[i + 1] : last));
}

Deno.test("ipv6: the written header has every field where RFC 8200 puts it", () => {
  const p = new Uint8Array(40 + 3);
  assert.equal(writeIpv6Header(p, SRC, DST, PROTO_UDP, 3, 5, 0xabcde), 40);
  assert.deepEqual([...p.subarray(0, 8)], [0x60, 0x0a, 0xbc, 0xde, 0, 3, PROTO_UDP, 5]);
  assert.deepEqual(p.subarray(8, 24), SRC);
  assert.deepEqual(p.subarray(24, 40), DST);
  // The flow label is 20 bits; the traffic class stays 0 whatever the caller passes.
  writeIpv6Header(p, SRC, DST, PROTO_UDP, 3, 5, 0xfffffff);
  assert.deepEqual([...p.subarray(0, 4)], [0x60, 0x0f, 0xff, 0xff]);
  // Defaults: hop limit 64, flow label 0.
  writeIpv6Header(p, SRC, DST, PROTO_UDP, 3);
  assert.deepEqual([...p.subarray(0, 8)], [0x60, 0, 0, 0, 0, 3, PROTO_UDP, DEFAULT_HOP_LIMIT]);
  assert.equal(DEFAULT_HOP_LIMIT, 64);
});

Deno.test("ipv6: written headers parse back; the largest payload fits, one more byte not", () => {
  for (const size of [0, 1, 8, 1280, 65535]) {
    const p = new Uint8Array(40 + size);
    writeIpv6Header(p, SRC, DST, PROTO_ICMPV6, size, 255);
    assert.deepEqual(parseIpv6(p), {
      version: 6,
      headerLength: 40,
      packetLength: 40 + size,
      protocol: PROTO_ICMPV6,
      payloadOffset: 40,
      payloadLength: size,
      srcOffset: 8,
      dstOffset: 24,
      addressLength: 16,
      ttl: 255,
      fragment: false,
    });
  }
  assert.throws(
    () => writeIpv6Header(new Uint8Array(40), SRC, DST, PROTO_UDP, 65536),
    /65536 bytes exceeds 65535/,
  );
});

Deno.test("ipv6: at most 8 extension headers are walked, of any kinds", () => {
  const kinds = [DEST_OPTIONS, ROUTING, FRAGMENT, DEST_OPTIONS, ROUTING, FRAGMENT, 60, 43];
  // Hop-by-hop may lead the chain.
  for (const first of [HOP_BY_HOP, DEST_OPTIONS]) {
    const eight = [first, ...kinds.slice(1)];
    const ip = parseIpv6(packet(eight, chainOf(eight, PROTO_UDP), PROTO_UDP))!;
    assert.ok(ip, `8 headers starting with ${first}`);
    assert.equal(ip.protocol, PROTO_UDP);
    assert.equal(ip.headerLength, 40 + 8 * 8);
    assert.equal(ip.payloadOffset, 40 + 64);
    assert.equal(ip.payloadLength, 8);
    assert.equal(ip.fragment, false, "atomic fragment headers only");
    // A ninth is refused, even with room for it in the packet.
    const nine = [...eight, DEST_OPTIONS];
    assert.equal(parseIpv6(packet(nine, chainOf(nine, PROTO_UDP), PROTO_UDP)), null);
  }
  // The count is of headers, not bytes: 8 long headers (each 16 bytes) are fine.
  const long = Array.from({ length: 8 }, (_, i) => ext(60, i === 7 ? PROTO_UDP : 60, 1));
  assert.equal(parseIpv6(packet(Array(8).fill(60), long, PROTO_UDP))!.headerLength, 40 + 128);
});

Deno.test("ipv6: 'no next header' ends the chain; a header with no room for it does not parse", () => {
  const ip = parseIpv6(packet([DEST_OPTIONS], [ext(60, NO_NEXT_HEADER)], NO_NEXT_HEADER, 0))!;
  assert.equal(ip.protocol, NO_NEXT_HEADER);
  assert.equal(ip.payloadLength, 0);
  // A header whose length field runs exactly to the end is fine; one word more is not.
  const exact = packet([DEST_OPTIONS], [ext(60, PROTO_UDP, 1)], PROTO_UDP, 0);
  assert.equal(parseIpv6(exact)!.payloadOffset, 56);
  exact[41] = 2;
  assert.equal(parseIpv6(exact), null);
  // Next header says "extension" but the payload ends first.
  assert.equal(parseIpv6(packet([FRAGMENT], [], FRAGMENT, 7)), null);
  assert.equal(parseIpv6(packet([ROUTING], [], ROUTING, 0)), null);
});

Deno.test("ipv6: the fragment header's offset and M flag make a fragment; its reserved bits do not", () => {
  const cases: Array<[string, number, boolean]> = [
    ["atomic", 0x0000, false],
    ["reserved bits only", 0x0006, false],
    ["M flag", 0x0001, true],
    ["offset 1", 0x0008, true],
    ["largest offset", 0xfff8, true],
    ["offset with M and reserved", 0x1237, true],
  ];
  for (const [what, field, fragment] of cases) {
    const p = packet([FRAGMENT], [ext(FRAGMENT, PROTO_UDP, 0, field)], PROTO_UDP);
    const ip = parseIpv6(p)!;
    assert.ok(ip, what);
    assert.equal(ip.fragment, fragment, what);
    assert.equal(ip.protocol, PROTO_UDP, what);
    assert.equal(ip.payloadOffset, 48, what);
  }
  // The flag sticks even when the fragment header is followed by more extensions.
  const types = [FRAGMENT, DEST_OPTIONS];
  const p = packet(types, [ext(FRAGMENT, DEST_OPTIONS, 0, 1), ext(60, PROTO_UDP)], PROTO_UDP);
  assert.equal(parseIpv6(p)!.fragment, true);
});

Deno.test("ipv6: the caller's info object is filled on success and left alone on failure", () => {
  const out = newIpInfo();
  const good = packet([], [], PROTO_UDP);
  assert.equal(parseIpv6(good, out), out);
  const snapshot = { ...out };
  const nine = Array(9).fill(60);
  assert.equal(parseIpv6(packet(nine, chainOf(nine, PROTO_UDP), PROTO_UDP), out), null);
  assert.deepEqual(out, snapshot);
});

Deno.test("ipv6: an authentication header is walked past (its length is in 4-byte units)", () => {
  // AH (RFC 4302): next header, payload length = 4-byte words - 2; here 24 bytes (a 12-byte ICV).
  const ah = new Uint8Array(24);
  ah[0] = PROTO_UDP;
  ah[1] = 24 / 4 - 2;
  const p = packet([AUTH], [ah], PROTO_UDP);
  const ip = parseIpv6(p)!;
  assert.ok(ip, "parsed");
  assert.equal(ip.protocol, PROTO_UDP);
  assert.equal(ip.payloadOffset, 40 + 24);
  // The walk the policy uses says the same.
  const out = new Int32Array(3);
  assert.ok(walkIpv6Extensions(p, p.length, out));
  assert.deepEqual([out[EXT_PROTOCOL], out[EXT_OFFSET], out[EXT_FRAGMENT]], [PROTO_UDP, 64, 0]);
  // An AH running past the payload is refused.
  ah[1] = 200;
  assert.equal(parseIpv6(packet([AUTH], [ah], PROTO_UDP)), null);
});
