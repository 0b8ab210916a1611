import assert from "node:assert/strict";
import { ipv4HeaderChecksum } from "./checksum.ts";
import { newIpInfo, parseAddress, PROTO_TCP, PROTO_UDP } from "./ip.ts";
import { DEFAULT_TTL, IPV4_HEADER_LENGTH, parseIpv4, writeIpv4Header } from "./ipv4.ts";
import { seededRandom } from "../../tests/fixtures/prng.ts";

const SRC = parseAddress("10.1.2.3")!;
const DST = parseAddress("203.0.113.254")!;

/** A whole IPv4 packet with `payloadLength` seeded payload bytes. */
function packet(payloadLength: number, ttl?: number, id?: number, protocol = PROTO_UDP) {
  const p = new Uint8Array(IPV4_HEADER_LENGTH + payloadLength);
  const rand = seededRandom(payloadLength + 1);
  for (let i = IPV4_HEADER_LENGTH; i < p.length; i++) p[i] = Math.floor(rand() * 256);
  assert.equal(writeIpv4Header(p, SRC, DST, protocol, payloadLength, ttl, id), 20);
  return p;
}

/** Sets the 16-bit flags/fragment-offset field and fixes the header checksum. */
function withFlags(p: Uint8Array, flagsFrag: number): Uint8Array {
  const q = p.slice();
  q[6] = flagsFrag >> 8;
  q[7] = flagsFrag & 0xff;
  q[10] = 0;
  q[11] = 0;
  const ck = ipv4HeaderChecksum(q);
  q[10] = ck >> 8;
  q[11] = ck & 0xff;
  return q;
}

Deno.test("ipv4: the written header has every field where RFC 791 puts it", () => {
  const p = packet(12, 17, 0xbeef, PROTO_TCP);
  assert.deepEqual([...p.subarray(0, 12)], [
    0x45, // version 4, IHL 5
    0, // DSCP/ECN
    0,
    32, // total length
    0xbe,
    0xef, // identification
    0,
    0, // no flags (DF clear), offset 0
    17, // TTL
    PROTO_TCP,
    p[10],
    p[11],
  ]);
  assert.deepEqual(p.subarray(12, 16), SRC);
  assert.deepEqual(p.subarray(16, 20), DST);
  // The stored checksum makes the header sum to all ones.
  assert.equal(ipv4HeaderChecksum(p), (p[10] << 8) | p[11]);
  assert.notEqual((p[10] << 8) | p[11], 0);
});

Deno.test("ipv4: written headers parse back, TTL and id defaults included", () => {
  for (const size of [0, 1, 8, 1480, 65535 - 20]) {
    const p = packet(size);
    const ip = parseIpv4(p)!;
    assert.ok(ip, `size ${size}`);
    assert.deepEqual(ip, {
      version: 4,
      headerLength: 20,
      packetLength: 20 + size,
      protocol: PROTO_UDP,
      payloadOffset: 20,
      payloadLength: size,
      srcOffset: 12,
      dstOffset: 16,
      addressLength: 4,
      ttl: DEFAULT_TTL,
      fragment: false,
    });
    assert.equal(p[4], 0);
    assert.equal(p[5], 0, "id 0 by default");
  }
  assert.equal(DEFAULT_TTL, 64);
  // The largest packet fits; one byte more does not.
  assert.throws(() => writeIpv4Header(new Uint8Array(20), SRC, DST, 17, 65516), /65536 bytes/);
});

Deno.test("ipv4: the writer touches only the 20 header bytes and the first 4 address bytes", () => {
  const out = new Uint8Array(40).fill(0xaa);
  const longSrc = new Uint8Array([10, 1, 2, 3, 99, 99]);
  writeIpv4Header(out, longSrc, DST, PROTO_UDP, 20, 1, 0x12345);
  assert.deepEqual(out.subarray(12, 16), SRC);
  assert.ok(out.subarray(20).every((b) => b === 0xaa), "payload untouched");
  assert.deepEqual([out[4], out[5]], [0x23, 0x45], "the id is cut to 16 bits");
  assert.ok(parseIpv4(out));
});

Deno.test("ipv4: a fragment is MF or a non-zero offset; DF and the reserved bit are not", () => {
  const whole = packet(16);
  const cases: Array<[string, number, boolean]> = [
    ["no flags", 0x0000, false],
    ["DF", 0x4000, false],
    ["reserved (evil) bit", 0x8000, false],
    ["DF and reserved", 0xc000, false],
    ["MF, first fragment", 0x2000, true],
    ["MF and DF", 0x6000, true],
    ["offset 1 (8 bytes), last fragment", 0x0001, true],
    ["offset in the high byte", 0x0100, true],
    ["largest offset", 0x1fff, true],
    ["DF with an offset", 0x4001, true],
    ["MF with an offset", 0x2abc, true],
  ];
  for (const [what, flags, fragment] of cases) {
    const ip = parseIpv4(withFlags(whole, flags));
    assert.ok(ip, what);
    assert.equal(ip.fragment, fragment, what);
    // A fragment still parses as an IP packet with its own payload.
    assert.equal(ip.payloadLength, 16, what);
    assert.equal(ip.protocol, PROTO_UDP, what);
  }
});

Deno.test("ipv4: a maximal header (IHL 15, 40 option bytes) is accepted", () => {
  const p = new Uint8Array(60 + 4);
  writeIpv4Header(p, SRC, DST, PROTO_UDP, 44);
  p[0] = 0x4f;
  p.fill(1, 20, 60); // NOP options
  p[10] = 0;
  p[11] = 0;
  const ck = ipv4HeaderChecksum(p);
  p[10] = ck >> 8;
  p[11] = ck & 0xff;
  const ip = parseIpv4(p)!;
  assert.equal(ip.headerLength, 60);
  assert.equal(ip.payloadOffset, 60);
  assert.equal(ip.payloadLength, 4);
  // Total length equal to the header: valid, empty payload.
  const bare = p.slice(0, 60);
  bare[3] = 60;
  bare[10] = 0;
  bare[11] = 0;
  const ck2 = ipv4HeaderChecksum(bare);
  bare[10] = ck2 >> 8;
  bare[11] = ck2 & 0xff;
  assert.equal(parseIpv4(bare)!.payloadLength, 0);
});

Deno.test("ipv4: the caller's info object is filled on success and left alone on failure", () => {
  const out = newIpInfo();
  const p = packet(4, 9);
  assert.equal(parseIpv4(p, out), out);
  const snapshot = { ...out };
  const bad = p.slice();
  bad[8] ^= 0xff; // TTL changes, checksum does not
  assert.equal(parseIpv4(bad, out), null);
  assert.deepEqual(out, snapshot);
  // Without verification the same packet is read as it is.
  assert.equal(parseIpv4(bad, out, false)!.ttl, 9 ^ 0xff);
});
