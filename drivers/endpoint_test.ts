import assert from "node:assert/strict";
import {
  EndpointTable,
  formatIPv6,
  InternedEndpoint,
  parseIPv4,
  parseIPv6,
  splitHostPort,
} from "./endpoint.ts";

Deno.test("parseIPv4 accepts dotted quads only", () => {
  assert.equal(parseIPv4("0.0.0.0"), 0);
  assert.equal(parseIPv4("255.255.255.255"), 0xffffffff);
  assert.equal(parseIPv4("192.0.2.1"), 0xc0000201);
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
    assert.equal(parseIPv4(bad), null, bad);
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
    ["::ffff:192.0.2.1", "::ffff:192.0.2.1"], // RFC 5952 section 5: mapped keep the dotted tail
    ["64:ff9b::192.0.2.33", "64:ff9b::c000:221"],
  ];
  for (const [input, canonical] of cases) {
    const words = parseIPv6(input);
    assert.ok(words, input);
    assert.equal(formatIPv6(words), canonical, input);
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
    assert.equal(parseIPv6(bad), null, bad);
  }
});

Deno.test("splitHostPort handles brackets and rejects bad ports", () => {
  assert.deepEqual(splitHostPort("192.0.2.1:51820"), { host: "192.0.2.1", port: 51820 });
  assert.deepEqual(splitHostPort("[2001:db8::1]:443"), { host: "2001:db8::1", port: 443 });
  for (const bad of ["192.0.2.1", "[::1]", "[::1]:", "::1:5", "h:0", "h:65536", "h:-1", "h:1e3"]) {
    assert.throws(() => splitHostPort(bad), /invalid endpoint/, bad);
  }
});

Deno.test("EndpointTable interns across spellings and raw words", () => {
  const t = new EndpointTable();
  const a = t.parse("192.0.2.1:51820");
  assert.ok(a instanceof InternedEndpoint);
  assert.equal(t.fromWords(0, 0, 0xffff, 0xc0000201, 51820), a);
  assert.equal(t.fromText("::ffff:192.0.2.1", 51820), a);
  assert.equal(t.fromText("192.0.2.1", 51820), a);
  assert.deepEqual([...a.words], [0, 0, 0xffff, 0xc0000201]);
  const b = t.fromWords(0x20010db8, 0, 0, 1, 443);
  assert.equal(String(b), "[2001:db8::1]:443");
  assert.equal(t.parse("[2001:db8:0::1]:443"), b);
  assert.equal(t.fromText("2001:DB8::1", 443), b);
  // Many addresses hashing over the cache: every lookup is still the interned object.
  const eps = [];
  for (let i = 0; i < 3000; i++) eps.push(t.fromWords(0x20010db8, i, 0, i * 7, 1000 + (i % 50)));
  for (let i = 0; i < 3000; i++) {
    assert.equal(t.fromWords(0x20010db8, i, 0, i * 7, 1000 + (i % 50)), eps[i]);
  }
  // Another table's endpoint is adopted into this one by value.
  const other = new EndpointTable().parse("192.0.2.1:51820");
  assert.notEqual(other, a);
  assert.equal(t.adopt(other), a);
  assert.equal(t.adopt({ address: "192.0.2.1", port: 51820, family: 4 }), a);
});

Deno.test("EndpointTable clears itself past its limit", () => {
  const t = new EndpointTable(100);
  for (let i = 0; i < 1000; i++) t.fromWords(0, 0, 0xffff, 0xc6336400 + i, 9);
  assert.ok(t.size <= 100, `size ${t.size}`);
  const x = t.parse("198.51.100.1:9");
  assert.equal(t.fromWords(0, 0, 0xffff, 0xc6336401, 9), x);
});
