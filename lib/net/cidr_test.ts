import assert from "node:assert/strict";
import { Cidr, maskBytes } from "./cidr.ts";
import { formatAddress, parseAddress, parseAddressV4Uint32 } from "./ip.ts";

Deno.test("cidr: parses IPv4 and IPv6 prefixes", () => {
  const a = Cidr.parse("10.0.0.0/24");
  assert.equal(a.family, 4);
  assert.equal(a.bits, 24);
  assert.equal(a.toString(), "10.0.0.0/24");
  assert.equal(a.hasHostBits, false);
  const b = Cidr.parse("fd00::/64");
  assert.equal(b.family, 6);
  assert.equal(b.bits, 64);
  assert.equal(b.toString(), "fd00::/64");
  assert.equal(Cidr.parse("  0.0.0.0/0 ").toString(), "0.0.0.0/0");
  assert.equal(Cidr.parse("::/0").toString(), "::/0");
  assert.equal(Cidr.parse("FD00:0:0:0::1/128").toString(), "fd00::1/128");
});

Deno.test("cidr: host bits are kept in address and cleared in network", () => {
  const c = Cidr.parse("10.1.2.3/16");
  assert.equal(c.toString(), "10.1.0.0/16");
  assert.equal(c.addressString(), "10.1.2.3/16");
  assert.equal(c.hasHostBits, true);
  assert.equal(Cidr.parse("fd00::1:2/112").toString(), "fd00::1:0/112");
  assert.equal(Cidr.parse("10.255.255.255/9").toString(), "10.128.0.0/9");
  assert.equal(Cidr.parse("255.255.255.255/0").toString(), "0.0.0.0/0");
  assert.deepEqual(maskBytes(new Uint8Array([0xff, 0xff]), 11), new Uint8Array([0xff, 0xe0]));
});

// Moved from wgquick_test.ts when the wg-quick parser gave up its own CIDR check (isCidr).
Deno.test("cidr: what wg-quick files may hold as an address or allowed IP", () => {
  const isCidr = (t: string) => Cidr.tryParse(t) !== null;
  assert.ok(isCidr("10.0.0.0/8") && isCidr("::/0") && isCidr("192.0.2.1"));
  assert.ok(!isCidr("10.0.0.0/") && !isCidr("10.0.0.0/8/8") && !isCidr("::/-1"));
});

Deno.test("cidr: a bare address is a single host", () => {
  assert.equal(Cidr.parse("192.0.2.7").toString(), "192.0.2.7/32");
  assert.equal(Cidr.parse("fd00::7").toString(), "fd00::7/128");
});

Deno.test("cidr: parse errors say what is wrong", () => {
  const bad: Array<[string, RegExp]> = [
    ["", /bad IP address/],
    ["/24", /bad IP address/],
    ["10.0.0/24", /bad IP address/],
    ["10.0.0.256/24", /bad IP address/],
    ["fd00:::/64", /bad IP address/],
    ["10.0.0.0/", /bad prefix length/],
    ["10.0.0.0/-1", /bad prefix length/],
    ["10.0.0.0/+8", /bad prefix length/],
    ["10.0.0.0/08", /bad prefix length/],
    ["10.0.0.0/8/8", /bad prefix length/],
    ["10.0.0.0/8.5", /bad prefix length/],
    ["10.0.0.0/ 8", /bad prefix length/],
    ["10.0.0.0/1000", /bad prefix length/],
    ["10.0.0.0/33", /exceeds 32/],
    ["fd00::/129", /exceeds 128/],
  ];
  for (const [text, message] of bad) {
    assert.throws(() => Cidr.parse(text), message, text);
    assert.equal(Cidr.tryParse(text), null, text);
  }
  assert.throws(() => new Cidr(new Uint8Array(4), 33), RangeError);
  assert.throws(() => new Cidr(new Uint8Array(5), 8), RangeError);
  assert.throws(() => new Cidr(new Uint8Array(4), 1.5), RangeError);
});

Deno.test("cidr: contains", () => {
  const c = Cidr.parse("10.1.0.0/16");
  assert.ok(c.containsText("10.1.0.0"));
  assert.ok(c.containsText("10.1.255.255"));
  assert.ok(!c.containsText("10.2.0.0"));
  assert.ok(!c.containsText("10.0.255.255"));
  assert.ok(!c.containsText("fd00::1"));
  assert.ok(!c.containsText("garbage"));
  assert.ok(c.containsV4(parseAddressV4Uint32("10.1.2.3")!));
  assert.ok(!c.containsV4(parseAddressV4Uint32("10.3.2.3")!));
  assert.ok(Cidr.parse("0.0.0.0/0").containsV4(0xffffffff));
  assert.ok(Cidr.parse("255.255.255.255/32").containsV4(0xffffffff));
  assert.ok(!Cidr.parse("fd00::/8").containsV4(0));
  const odd = Cidr.parse("10.0.0.0/13"); // a prefix ending mid-byte
  assert.ok(odd.containsText("10.7.255.255"));
  assert.ok(!odd.containsText("10.8.0.0"));
  const v6 = Cidr.parse("fd00:1234::/33");
  assert.ok(v6.containsText("fd00:1234:7fff::1"));
  assert.ok(!v6.containsText("fd00:1234:8000::"));
  // Offset into a packet: bytes 16..19 of a buffer.
  const buf = new Uint8Array(20);
  buf.set(parseAddress("10.1.9.9")!, 16);
  assert.ok(c.contains(buf, 16));
});

Deno.test("cidr: overlaps and equals", () => {
  const p = (t: string) => Cidr.parse(t);
  assert.ok(p("10.0.0.0/8").overlaps(p("10.1.0.0/16")));
  assert.ok(p("10.1.0.0/16").overlaps(p("10.0.0.0/8")));
  assert.ok(!p("10.1.0.0/16").overlaps(p("10.2.0.0/16")));
  assert.ok(!p("0.0.0.0/0").overlaps(p("::/0")));
  assert.ok(p("10.0.0.1/24").equals(p("10.0.0.0/24")));
  assert.ok(!p("10.0.0.0/24").equals(p("10.0.0.0/25")));
});

Deno.test("cidr: first and last hosts, size, addressAt", () => {
  const host = (c: string, which: "first" | "last") =>
    formatAddress(which === "first" ? Cidr.parse(c).firstHost() : Cidr.parse(c).lastHost());
  assert.equal(host("10.0.0.0/24", "first"), "10.0.0.1");
  assert.equal(host("10.0.0.0/24", "last"), "10.0.0.254");
  assert.equal(host("10.0.0.0/31", "first"), "10.0.0.0");
  assert.equal(host("10.0.0.0/31", "last"), "10.0.0.1");
  assert.equal(host("10.0.0.9/32", "first"), "10.0.0.9");
  assert.equal(host("10.0.0.9/32", "last"), "10.0.0.9");
  assert.equal(host("0.0.0.0/0", "last"), "255.255.255.254");
  assert.equal(host("fd00::/64", "first"), "fd00::1");
  assert.equal(host("fd00::/64", "last"), "fd00::ffff:ffff:ffff:ffff");
  assert.equal(host("fd00::/127", "first"), "fd00::");
  assert.equal(Cidr.parse("10.0.0.0/24").size, 256n);
  assert.equal(Cidr.parse("::/0").size, 1n << 128n);
  const c = Cidr.parse("10.0.0.0/16");
  assert.equal(formatAddress(c.addressAt(258)), "10.0.1.2");
  assert.equal(formatAddress(c.addressAt(65535)), "10.0.255.255");
  assert.throws(() => c.addressAt(65536), RangeError);
  assert.throws(() => c.addressAt(-1), RangeError);
  assert.equal(formatAddress(Cidr.parse("fd00::ff00/120").addressAt(0x1ff - 0x100)), "fd00::ffff");
});
