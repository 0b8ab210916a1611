import assert from "node:assert/strict";
import {
  bytesEqual,
  formatAddress,
  formatAddressV6,
  formatAddressWords,
  formatUint32V4,
  isIP,
  isIPv4,
  isIPv6,
  parseAddress,
  parseAddressV4,
  parseAddressV4Uint32,
  parseAddressV6,
  parseAddressWords,
  readV4Dst,
} from "./ip.ts";
import { hex, UDP4 } from "../../tests/fixtures/net_fixtures.ts";

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
  assert.equal(readV4Dst(UDP4), 0xc0000202);
  assert.ok(bytesEqual(UDP4, 12, new Uint8Array([192, 0, 2, 1]), 0, 4));
  assert.ok(!bytesEqual(UDP4, 12, new Uint8Array([192, 0, 2, 2]), 0, 4));
  assert.ok(!bytesEqual(UDP4.subarray(0, 14), 12, new Uint8Array(4), 0, 4), "short packet");
});

// Moved from wgquick_test.ts when the wg-quick parser gave up its own IP validators.
Deno.test("address validators", () => {
  for (const ok of ["0.0.0.0", "192.0.2.1", "255.255.255.255"]) assert.ok(isIPv4(ok), ok);
  for (const bad of ["1.2.3", "1.2.3.4.5", "01.2.3.4", "256.0.0.1", "1.2.3.", "a.b.c.d", ""]) {
    assert.ok(!isIPv4(bad), bad);
  }
  for (
    const ok of [
      "::",
      "::1",
      "fd00::",
      "2001:db8::7",
      "2001:0db8:0000:0000:0000:ff00:0042:8329",
      "::ffff:192.0.2.1",
      "64:ff9b::198.51.100.7",
      "1:2:3:4:5:6:7::",
      "FE80::ABCD",
    ]
  ) assert.ok(isIPv6(ok), ok);
  for (
    const bad of [
      ":",
      ":::",
      "1::2::3",
      "1:2:3:4:5:6:7:8:9",
      "1:2:3:4:5:6:7",
      "12345::",
      ":1:2:3:4:5:6:7",
      "::ffff:192.0.2",
      "::192.0.2.1:1",
      "fe80::1%eth0",
      "g::1",
      "1:2:3:4:5:6:7:8::",
    ]
  ) assert.ok(!isIPv6(bad), bad);
});

Deno.test("ip: isIP takes either family and agrees with parseAddress", () => {
  for (const t of ["10.0.0.1", "::1", "::ffff:10.0.0.1", "", "10.0.0", "::g", "1.2.3.4:5"]) {
    assert.equal(isIP(t), parseAddress(t) !== null, t);
  }
});

// Moved from drivers/endpoint_test.ts when the drivers gave up their own IP parsers.
Deno.test("parseIPv4 accepts dotted quads only", () => {
  assert.equal(parseAddressV4Uint32("0.0.0.0"), 0);
  assert.equal(parseAddressV4Uint32("255.255.255.255"), 0xffffffff);
  assert.equal(parseAddressV4Uint32("192.0.2.1"), 0xc0000201);
  for (
    const bad of [
      "",
      "1.2.3",
      "1.2.3.4.5",
      "256.0.0.1",
      "01.2.3.4",
      "1.2.3.-4",
      "a.b.c.d",
      "1..2.3",
    ]
  ) {
    assert.equal(parseAddressV4Uint32(bad), null, bad);
  }
});

Deno.test("parseIPv6 and formatIPv6 follow RFC 4291 / RFC 5952", () => {
  const cases: [string, string][] = [
    ["::", "::"],
    ["::1", "::1"],
    ["2001:DB8:0:0:0:0:0:1", "2001:db8::1"],
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"], // first of two equal runs
    ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"], // a single zero group is not compressed
    ["2001:0db8::0001", "2001:db8::1"],
    ["fe80::", "fe80::"],
    ["1:0:0:2:0:0:0:3", "1:0:0:2::3"], // the longest run wins
    // As words, a mapped address is IPv4: the transports show it as a dotted quad.
    ["::ffff:192.0.2.1", "192.0.2.1"],
    ["64:ff9b::192.0.2.33", "64:ff9b::c000:221"],
  ];
  for (const [input, canonical] of cases) {
    const words = parseAddressWords(input);
    assert.ok(words, input);
    assert.equal(formatAddressWords(words), canonical, input);
  }
  for (
    const bad of [
      ":",
      ":::",
      "1:::2",
      "1::2::3",
      "12345::",
      "g::",
      "1:2:3:4:5:6:7:8:9",
      "1:2:3:4:5:6:7",
      "::1.2.3",
      "1.2.3.4::",
      "fe80::1%eth0",
      ":1::",
    ]
  ) {
    assert.equal(parseAddressWords(bad), null, bad);
  }
});

Deno.test("ip: address words map IPv4 into IPv6 and back", () => {
  assert.deepEqual(parseAddressWords("192.0.2.1"), [0, 0, 0xffff, 0xc0000201]);
  assert.deepEqual(parseAddressWords("::ffff:192.0.2.1"), [0, 0, 0xffff, 0xc0000201]);
  assert.deepEqual(parseAddressWords("2001:db8::1"), [0x20010db8, 0, 0, 1]);
  assert.equal(formatAddressWords([0, 0, 0xffff, 0x0a000001]), "10.0.0.1");
  assert.equal(formatAddressWords([0, 0, 0, 1]), "::1");
  assert.equal(parseAddressWords("01.2.3.4"), null);
});
