import assert from "node:assert/strict";
import { EndpointTable, InternedEndpoint, splitScheme } from "./endpoint.ts";

Deno.test("parse handles brackets and rejects bad ports", () => {
  const t = new EndpointTable();
  assert.equal(String(t.parse("192.0.2.1:51820")), "192.0.2.1:51820");
  assert.equal(String(t.parse("[2001:db8::1]:443")), "[2001:db8::1]:443");
  for (const bad of ["192.0.2.1", "[::1]", "[::1]:", "::1:5", "h:0", "h:65536", "h:-1", "h:1e3"]) {
    assert.throws(() => t.parse(bad), /invalid endpoint/, bad);
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

Deno.test("EndpointTable stays bounded under a flood of new endpoints", () => {
  const counts = { endpointsEvicted: 0 };
  const t = new EndpointTable(100, "udp", counts);
  for (let i = 0; i < 100_000; i++) t.fromWords(0, 0, 0xffff, 0xc6330000 + i, 9);
  assert.ok(t.size <= 2 * 100, `size ${t.size}`);
  // Every key is held or was let go, and counted so.
  assert.equal(counts.endpointsEvicted + t.size, 100_000);
  const x = t.parse("198.51.100.1:9");
  assert.equal(t.fromWords(0, 0, 0xffff, 0xc6336401, 9), x);
});

Deno.test("EndpointTable: an endpoint in use keeps its identity however many others pass", () => {
  // Many more endpoints pass than a generation holds, and the peers' are looked up between
  // them, as a mesh's are: the device detects roaming by identity, and a new object for the
  // same address would be a false roam.
  const t = new EndpointTable(1400);
  const peer = (i: number) => [0, 0, 0xffff, 0xc0000200 + i] as const; // 192.0.2.0/23
  const peers = Array.from({ length: 600 }, (_, i) => t.fromWords(...peer(i), 51820));
  for (let round = 0; round < 20; round++) {
    // 350 new senders (two keys each: their spelling and the canonical one).
    // Between two lookups of a peer, 700 + 599 keys: fewer than a generation.
    for (let i = 0; i < 350; i++) {
      t.fromText(`::ffff:198.51.100.${i & 255}`, 10_000 + round * 350 + i);
    }
    for (const [i, ep] of peers.entries()) {
      assert.equal(t.fromWords(...peer(i), 51820), ep, `peer ${i}, round ${round}`);
      assert.equal(t.parse(`${ep.address}:51820`), ep);
    }
    assert.ok(t.size <= 2800, `size ${t.size}`);
  }
  // One not seen for two generations may come back as a new object, with the same value.
  const gone = t.parse("203.0.113.1:1");
  for (let i = 0; i < 1000; i++) t.fromText("198.18.0.1", 20_000 + i);
  assert.equal(String(t.parse("203.0.113.1:1")), String(gone));
});

Deno.test("a TCP table makes tcp endpoints that print with their scheme", () => {
  const udp = new EndpointTable();
  const tcp = new EndpointTable(100, "tcp");
  const u = udp.parse("192.0.2.1:51820");
  const t = tcp.parse("tcp://192.0.2.1:51820");
  assert.equal(u.proto, "udp");
  assert.equal(String(u), "192.0.2.1:51820", "UDP text unchanged");
  assert.equal(t.proto, "tcp");
  assert.equal(String(t), "tcp://192.0.2.1:51820");
  assert.notEqual(t, u);
  assert.equal(tcp.parse("192.0.2.1:51820"), t, "no scheme: the table's own");
  assert.equal(tcp.parse("TCP://192.0.2.1:51820"), t);
  assert.equal(tcp.adopt(u), t, "adopted by address and port");
  assert.equal(udp.adopt(t), u);
  assert.equal(udp.parse("udp://192.0.2.1:51820"), u);
  assert.equal(String(tcp.parse("tcp://[2001:db8::1]:443")), "tcp://[2001:db8::1]:443");
  assert.equal(String(tcp.fromText("::ffff:10.0.0.1", 7)), "tcp://10.0.0.1:7");
  assert.throws(() => udp.parse("tcp://192.0.2.1:1"), /carries udp/);
  assert.throws(() => tcp.parse("udp://192.0.2.1:1"), /carries tcp/);
  assert.throws(() => tcp.parse("ws://192.0.2.1:1"), /carries tcp/);
  assert.throws(() => tcp.parse("http://192.0.2.1:1"), /unknown scheme/);
  const ws = new EndpointTable(16, "ws");
  assert.equal(String(ws.parse("WS://192.0.2.1:80")), "ws://192.0.2.1:80");
  assert.equal(
    String(new EndpointTable(16, "wss").fromText("::ffff:10.0.0.1", 443)),
    "wss://10.0.0.1:443",
  );
  assert.throws(() => tcp.parse("tcp://"), /invalid endpoint/);
});

Deno.test("splitScheme", () => {
  assert.deepEqual(splitScheme("1.2.3.4:5"), { proto: undefined, rest: "1.2.3.4:5" });
  assert.deepEqual(splitScheme("tcp://[::1]:5"), { proto: "tcp", rest: "[::1]:5" });
  assert.deepEqual(splitScheme("Udp://h:5"), { proto: "udp", rest: "h:5" });
  assert.throws(() => splitScheme("sctp://h:5"), /unknown scheme/);
});

Deno.test("fromWords takes signed and unsigned words alike (the receive path reads them signed)", () => {
  const t = new EndpointTable();
  const unsigned = t.fromWords(0, 0, 0xffff, 0xc0000201, 51820);
  assert.equal(t.fromWords(0, 0, 0xffff, 0xc0000201 | 0, 51820), unsigned);
  assert.deepEqual([...unsigned.words], [0, 0, 0xffff, 0xc0000201]);
  const v6 = t.fromWords(0x20010db8 | 0, 0, 0, 0xfffffffe | 0, 443);
  assert.equal(String(v6), "[2001:db8::ffff:fffe]:443");
  assert.equal(t.fromWords(0x20010db8, 0, 0, 0xfffffffe, 443), v6);
  // A fresh table given signed words first: the same endpoint as the text.
  const u = new EndpointTable();
  assert.equal(u.fromWords(0, 0, 0xffff, 0xc0000201 | 0, 51820), u.parse("192.0.2.1:51820"));
});
