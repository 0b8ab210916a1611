import assert from "node:assert/strict";
import { DenoUdpTransport } from "./udp_deno.ts";
import { CollectSink } from "./testing/collect_sink.ts";
import { assertNoOwnSockets } from "../tests/fixtures/own_sockets.ts";

for (const loopback of ["127.0.0.1", "[::1]"]) {
  Deno.test(`DenoUdpTransport exchanges datagrams over ${loopback}`, async () => {
    const a = await DenoUdpTransport.open({ port: 0 });
    const b = await DenoUdpTransport.open({ port: 0 });
    try {
      assert.ok(a.port > 0 && b.port > 0 && a.port !== b.port);
      const sa = new CollectSink();
      const sb = new CollectSink();
      a.start(sa);
      b.start(sb);

      const toB = a.endpoint(`${loopback}:${b.port}`);
      for (let i = 0; i < 5; i++) a.send(new Uint8Array([1, 2, 3, i]), toB);
      a.flush();
      await sb.wait(5);
      assert.deepEqual(sb.got.map((r) => Array.from(r.data)).sort(), [
        [1, 2, 3, 0],
        [1, 2, 3, 1],
        [1, 2, 3, 2],
        [1, 2, 3, 3],
        [1, 2, 3, 4],
      ]);
      // Every datagram from `a` comes from one interned endpoint, with plain text addresses.
      const from = sb.got[0].from;
      for (const r of sb.got) assert.equal(r.from, from);
      assert.equal(from.port, a.port);
      assert.equal(from.address, loopback === "[::1]" ? "::1" : "127.0.0.1");
      assert.equal(from.family, loopback === "[::1]" ? 6 : 4);
      assert.equal(String(from), `${loopback}:${a.port}`);
      assert.equal(b.endpoint(`${loopback}:${a.port}`), from);

      // Reply to the endpoint the datagram came from.
      b.send(new Uint8Array([9, 9]), from);
      await sa.wait(1);
      assert.deepEqual(Array.from(sa.got[0].data), [9, 9]);
      assert.equal(sa.got[0].from, toB);

      assert.equal(a.stats.datagramsOut, 5);
      assert.equal(a.stats.bytesOut, 20);
      assert.equal(b.stats.datagramsIn, 5);
      assert.equal(b.stats.bytesIn, 20);
      assert.ok(sb.flushes >= 1);
    } finally {
      await a.close();
      await b.close();
    }
  });
}

Deno.test("DenoUdpTransport: reusing the buffer after send does not change what was sent", async () => {
  const a = await DenoUdpTransport.open({ port: 0, hostname: "127.0.0.1" });
  const b = await DenoUdpTransport.open({ port: 0, hostname: "127.0.0.1" });
  try {
    const sink = new CollectSink();
    b.start(sink);
    const to = a.endpoint(`127.0.0.1:${b.port}`);
    const buf = new Uint8Array(1400);
    const big = new Uint8Array(4000);
    // Ten at a time so the receiver's socket buffer never overflows: UDP may drop, not corrupt.
    for (let i = 0; i < 50; i++) {
      buf.fill(i);
      a.send(buf, to);
      // Oversized datagrams take the other copy path.
      big.fill(100 + i);
      a.send(big, to);
      buf.fill(255);
      big.fill(255);
      if (i % 5 === 4) await sink.wait(2 * (i + 1));
    }
    const small = sink.got.filter((r) => r.data.length === 1400);
    const large = sink.got.filter((r) => r.data.length === 4000);
    assert.equal(small.length, 50);
    assert.equal(large.length, 50);
    for (const r of small) assert.ok(r.data.every((x) => x === r.data[0]) && r.data[0] < 50);
    for (const r of large) assert.ok(r.data.every((x) => x === r.data[0]) && r.data[0] >= 100);
    assert.deepEqual(small.map((r) => r.data[0]).sort((x, y) => x - y), [...Array(50).keys()]);
  } finally {
    await a.close();
    await b.close();
  }
});

Deno.test("DenoUdpTransport: endpoints are interned and normalised", async () => {
  const t = await DenoUdpTransport.open({ port: 0 });
  try {
    const e1 = t.endpoint("192.0.2.7:51820");
    assert.equal(t.endpoint("192.0.2.7:51820"), e1);
    assert.equal(t.endpoint("[::ffff:192.0.2.7]:51820"), e1);
    assert.equal(t.endpoint("[::ffff:c000:207]:51820"), e1);
    assert.notEqual(t.endpoint("192.0.2.7:51821"), e1);
    assert.equal(e1.address, "192.0.2.7");
    assert.equal(e1.family, 4);
    assert.ok(Object.isFrozen(e1));

    const e6 = t.endpoint("[2001:DB8:0:0:0:0:0:1]:443");
    assert.equal(e6.address, "2001:db8::1");
    assert.equal(e6.family, 6);
    assert.equal(String(e6), "[2001:db8::1]:443");
    assert.equal(t.endpoint("[2001:db8::1]:443"), e6);
  } finally {
    await t.close();
  }
});

Deno.test("DenoUdpTransport: bad endpoint text throws a clear error", async () => {
  const t = await DenoUdpTransport.open({ port: 0 });
  try {
    const bad = [
      "",
      "1.2.3.4",
      "1.2.3.4:",
      "1.2.3.4:0",
      "1.2.3.4:65536",
      "1.2.3.4:12x",
      "256.1.1.1:5",
      "1.2.3:5",
      "01.2.3.4:5",
      "example.com:5",
      "::1:5",
      "[::1:5",
      "[::1]5",
      "[1::2::3]:5",
      "[1:2:3:4:5:6:7:8:9]:5",
      "[fe80::1%eth0]:5",
      "[12345::]:5",
    ];
    for (const text of bad) {
      assert.throws(() => t.endpoint(text), (err: unknown) => {
        assert.ok(err instanceof Error);
        assert.match(err.message, /invalid endpoint/);
        return true;
      }, text);
    }
    assert.equal(t.endpoint("1.2.3.4:1").port, 1);
    assert.equal(t.endpoint("[::]:65535").address, "::");
  } finally {
    await t.close();
  }
});

Deno.test("DenoUdpTransport: close ends the loop and is idempotent", async () => {
  const t = await DenoUdpTransport.open({ port: 0, hostname: "127.0.0.1" });
  const sink = new CollectSink();
  t.start(sink);
  const p1 = t.close();
  const p2 = t.close();
  assert.equal(p1, p2);
  await p1;
  // Sends after close are dropped, not thrown.
  t.send(new Uint8Array(4), t.endpoint("127.0.0.1:9"));
  assert.equal(t.stats.sendDrops, 1);
  assert.throws(() => t.start(sink));
  // Nothing of it holds the port.
  assertNoOwnSockets(t.port);
});

Deno.test("DenoUdpTransport: the port is free once close resolves, even with sends in flight", async () => {
  // Deno keeps the socket open while an operation holds it: close waits for the sends too.
  for (let round = 0; round < 20; round++) {
    const t = await DenoUdpTransport.open({ port: 0, hostname: "127.0.0.1" });
    t.start(new CollectSink());
    const to = t.endpoint("127.0.0.1:9");
    for (let i = 0; i < 50; i++) t.send(new Uint8Array(100), to);
    await t.close();
    assertNoOwnSockets(t.port);
  }
});

Deno.test("DenoUdpTransport: the endpoint table is bounded and stays consistent", async () => {
  const t = await DenoUdpTransport.open({ port: 0, endpointLimit: 64 });
  try {
    const first = t.endpoint("192.0.2.1:1000");
    for (let i = 0; i < 200; i++) t.endpoint(`198.51.100.${i}:${1000 + i}`);
    const later = t.endpoint("192.0.2.1:1000");
    // After a clear the object may be new, but it is again stable.
    assert.equal(t.endpoint("192.0.2.1:1000"), later);
    assert.equal(later.toString(), first.toString());
  } finally {
    await t.close();
  }
});

Deno.test("DenoUdpTransport.driverStats: its own counters, no offloads", async () => {
  const t = await DenoUdpTransport.open({ port: 0, hostname: "127.0.0.1" });
  try {
    assert.deepEqual(t.driverStats(), { kind: "udp", counters: t.stats, offloads: null });
    assert.equal(t.driverStats().counters, t.stats);
  } finally {
    await t.close();
  }
});
