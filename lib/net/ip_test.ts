import assert from "node:assert/strict";
import {
  bytesEqual,
  destOf,
  formatAddress,
  formatAddressV6,
  formatUint32V4,
  ipVersion,
  parseAddress,
  parseAddressV4,
  parseAddressV4Uint32,
  parseAddressV6,
  parseAddressV6Into,
  readV4Dst,
  readV4Src,
  sourceOf,
  v6DstEquals,
  v6SrcEquals,
} from "./ip.ts";
import { hex, ICMP4_REQUEST, UDP4, UDP6 } from "../../tests/fixtures/net_fixtures.ts";

Deno.test("ip: IPv4 text to bytes and back", () => {
  assert.deepEqual(parseAddressV4("10.0.0.1"), new Uint8Array([10, 0, 0, 1]));
  assert.deepEqual(parseAddressV4("255.255.255.255"), new Uint8Array([255, 255, 255, 255]));
  assert.deepEqual(parseAddressV4("0.0.0.0"), new Uint8Array(4));
  assert.equal(formatAddress(new Uint8Array([192, 0, 2, 33])), "192.0.2.33");
  assert.equal(parseAddressV4Uint32("192.0.2.1"), 0xc0000201);
  assert.equal(parseAddressV4Uint32("255.255.255.255"), 0xffffffff);
  assert.equal(formatUint32V4(0xc0000201), "192.0.2.1");
  assert.equal(formatUint32V4(0xffffffff), "255.255.255.255");
});

Deno.test("ip: bad IPv4 text is rejected", () => {
  for (
    const bad of [
      "",
      "1.2.3",
      "1.2.3.4.5",
      "256.0.0.1",
      "1.2.3.-4",
      "1..2.3",
      ".1.2.3",
      "1.2.3.4.",
      "01.2.3.4",
      "1.2.3.04",
      "1.2.3.4 ",
      " 1.2.3.4",
      "1.2.3.a",
      "1.2.3.1000",
      "0x1.2.3.4",
      "１.2.3.4",
    ]
  ) {
    assert.equal(parseAddressV4(bad), null, JSON.stringify(bad));
  }
});

Deno.test("ip: IPv6 text parses, with :: anywhere and v4 tails", () => {
  const cases: Array<[string, string]> = [
    ["::", "00000000000000000000000000000000"],
    ["::1", "00000000000000000000000000000001"],
    ["1::", "00010000000000000000000000000000"],
    ["fe80::1:2", "fe800000000000000000000000010002"],
    ["FE80::ABCD", "fe80000000000000000000000000abcd"],
    ["2001:db8:0:0:1:0:0:1", "20010db8000000000001000000000001"],
    ["1:2:3:4:5:6:7:8", "00010002000300040005000600070008"],
    ["1:2:3:4:5:6:7::", "00010002000300040005000600070000"],
    ["::2:3:4:5:6:7:8", "00000002000300040005000600070008"],
    ["::ffff:192.0.2.1", "00000000000000000000ffffc0000201"],
    ["64:ff9b::198.51.100.7", "0064ff9b0000000000000000c6336407"],
    ["1:2:3:4:5:6:1.2.3.4", "00010002000300040005000601020304"],
    ["0001:0002::0003", "00010002000000000000000000000003"],
  ];
  for (const [text, expect] of cases) {
    assert.deepEqual(parseAddressV6(text), hex(expect), text);
    assert.deepEqual(parseAddress(text), hex(expect), text);
  }
});

Deno.test("ip: bad IPv6 text is rejected", () => {
  for (
    const bad of [
      "",
      ":",
      ":::",
      "1::2::3",
      "1:2:3:4:5:6:7",
      "1:2:3:4:5:6:7:8:9",
      "1:2:3:4:5:6:7:8::",
      "::1:2:3:4:5:6:7:8",
      "1:2:3:4::5:6:7:8",
      ":1::",
      "1:",
      ":1",
      "12345::",
      "g::",
      "::1.2.3",
      "::1.2.3.4:5",
      "1.2.3.4::",
      "::256.1.1.1",
      "1:2:3:4:5:6:7:1.2.3.4",
      "fe80::1%eth0",
      "[::1]",
      " ::1",
    ]
  ) {
    assert.equal(parseAddressV6(bad), null, JSON.stringify(bad));
  }
  // A failed parse leaves the output untouched.
  const out = new Uint8Array(16).fill(7);
  assert.equal(parseAddressV6Into("1::2::3", out), false);
  assert.deepEqual(out, new Uint8Array(16).fill(7));
});

Deno.test("ip: IPv6 is printed in RFC 5952 form", () => {
  const cases: Array<[string, string]> = [
    ["00000000000000000000000000000000", "::"],
    ["00000000000000000000000000000001", "::1"],
    ["00010000000000000000000000000000", "1::"],
    ["fe800000000000000000000000010002", "fe80::1:2"],
    ["20010db8000000000001000000000001", "2001:db8::1:0:0:1"], // first of equal runs
    ["20010db8000000010000000000000001", "2001:db8:0:1::1"], // longest run wins
    ["20010db8000000010001000100010001", "2001:db8:0:1:1:1:1:1"], // one zero group stays
    ["00010002000300040005000600070008", "1:2:3:4:5:6:7:8"],
    ["00000000000000000000ffffc0000201", "::ffff:192.0.2.1"],
    ["fd00000000000000000000000000abcd", "fd00::abcd"],
    ["00000000000000000000000100000000", "::1:0:0"],
  ];
  for (const [bytes, text] of cases) {
    assert.equal(formatAddressV6(hex(bytes)), text, bytes);
    assert.deepEqual(parseAddressV6(text), hex(bytes), text);
  }
  assert.throws(() => formatAddress(new Uint8Array(5)), RangeError);
});

Deno.test("ip: random IPv6 addresses round-trip through text", () => {
  const b = new Uint8Array(16);
  for (let i = 0; i < 2000; i++) {
    crypto.getRandomValues(b);
    // Zero some groups so compression is exercised.
    for (let g = 0; g < 8; g++) if (Math.random() < 0.4) b[2 * g] = b[2 * g + 1] = 0;
    const text = formatAddressV6(b);
    assert.deepEqual(parseAddressV6(text), b, text);
    assert.equal(text, text.toLowerCase());
    assert.ok(!text.includes(":::"), text);
  }
});

Deno.test("ip: packet address helpers read in place", () => {
  assert.equal(ipVersion(ICMP4_REQUEST), 4);
  assert.equal(ipVersion(UDP6), 6);
  assert.equal(ipVersion(new Uint8Array(0)), 0);
  assert.equal(ipVersion(new Uint8Array([0x50])), 0);
  assert.equal(readV4Src(UDP4), 0xc0000201);
  assert.equal(readV4Dst(UDP4), 0xc0000202);
  assert.ok(v6SrcEquals(UDP6, parseAddressV6("fd00::1")!));
  assert.ok(v6DstEquals(UDP6, parseAddressV6("fd00::2")!));
  assert.ok(!v6DstEquals(UDP6, parseAddressV6("fd00::1")!));
  assert.ok(!v6DstEquals(UDP6.subarray(0, 30), parseAddressV6("fd00::2")!), "short packet");
  assert.ok(bytesEqual(UDP4, 12, new Uint8Array([192, 0, 2, 1]), 0, 4));
  assert.equal(sourceOf(UDP4), "192.0.2.1");
  assert.equal(destOf(UDP4), "192.0.2.2");
  assert.equal(sourceOf(UDP6), "fd00::1");
  assert.equal(destOf(UDP6), "fd00::2");
  assert.equal(sourceOf(UDP6.subarray(0, 39)), null);
  assert.equal(destOf(new Uint8Array([0x45])), null);
});
