import assert from "node:assert/strict";
import { bindUdpSocket, closeUdpSocket, isAddrInUse, NodeUdpTransport } from "./udp_node.ts";
import type { DatagramSink, Endpoint } from "../lib/io/driver.ts";
import { assertNoOwnSockets } from "../tests/fixtures/own_sockets.ts";

/** Copies what it gets; `until(n)` resolves once n datagrams came (no timers: events only). */
class Collect implements DatagramSink {
  got: { data: Uint8Array; from: Endpoint }[] = [];
  flushes = 0;
  #waiters: { n: number; resolve: () => void }[] = [];
  datagram(data: Uint8Array, from: Endpoint): void {
    this.got.push({ data: data.slice(), from });
  }
  flush(): void {
    this.flushes++;
    this.#waiters = this.#waiters.filter((w) => this.got.length < w.n || (w.resolve(), false));
  }
  until(n: number): Promise<void> {
    if (this.got.length >= n) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ n, resolve }));
  }
}

function errors(): { list: unknown[]; push: (e: unknown) => void } {
  const list: unknown[] = [];
  return { list, push: (e) => list.push(e) };
}

Deno.test("two transports on 127.0.0.1 exchange datagrams; stats count both ways", async () => {
  const ea = errors();
  const a = await NodeUdpTransport.open({ port: 0, hostname: "127.0.0.1", onError: ea.push });
  const b = await NodeUdpTransport.open({ port: 0, hostname: "127.0.0.1", onError: ea.push });
  try {
    assert.equal(a.name, "udp");
    assert.equal(a.hostname, "127.0.0.1");
    assert.ok(a.port > 0 && b.port > 0 && a.port !== b.port);
    const sa = new Collect();
    const sb = new Collect();
    a.start(sa);
    b.start(sb);
    const toB = a.endpoint(`127.0.0.1:${b.port}`);
    const buf = Uint8Array.of(1, 2, 3);
    a.send(buf, toB);
    buf[0] = 9; // send copied it
    a.send(new Uint8Array(100), toB);
    a.flush();
    await sb.until(2);
    assert.deepEqual(sb.got.map((g) => g.data.length).sort((x, y) => x - y), [3, 100]);
    const first = sb.got.find((g) => g.data.length === 3)!;
    assert.deepEqual(Array.from(first.data), [1, 2, 3]);
    assert.equal(first.from.toString(), `127.0.0.1:${a.port}`);
    // The sender is interned: replying to it twice uses one object.
    assert.equal(sb.got[0].from, sb.got[1].from);
    assert.equal(sb.got[0].from, b.endpoint(`127.0.0.1:${a.port}`));
    b.send(Uint8Array.of(42), sb.got[0].from);
    await sa.until(1);
    assert.deepEqual(Array.from(sa.got[0].data), [42]);
    assert.deepEqual(
      [b.stats.datagramsIn, b.stats.bytesIn, sb.flushes],
      [2, 103, 2],
    );
    assert.deepEqual([a.stats.datagramsIn, a.stats.bytesIn], [1, 1]);
    assert.deepEqual(ea.list, []);
  } finally {
    await a.close();
    await b.close();
  }
});

Deno.test("an IPv4 socket cannot send to IPv6: a send error, not a throw", async () => {
  const t = await NodeUdpTransport.open({ port: 0, hostname: "127.0.0.1", onError: () => {} });
  try {
    t.send(Uint8Array.of(1), t.endpoint("[::1]:9"));
    assert.equal(t.stats.sendErrors, 1);
    assert.equal(t.stats.sendDrops, 0);
  } finally {
    await t.close();
  }
});

Deno.test("beyond maxInflight, and after close, sends are dropped and counted", async () => {
  const t = await NodeUdpTransport.open({
    port: 0,
    hostname: "127.0.0.1",
    maxInflight: 0,
    onError: () => {},
  });
  t.send(Uint8Array.of(1), t.endpoint("127.0.0.1:9"));
  assert.equal(t.stats.sendDrops, 1);
  const closing = t.close();
  assert.equal(t.close(), closing); // idempotent: the same promise
  await closing;
  t.send(Uint8Array.of(1), t.endpoint("127.0.0.1:9"));
  assert.equal(t.stats.sendDrops, 2);
});

Deno.test("start: only once, and not after close", async () => {
  const t = await NodeUdpTransport.open({ port: 0, hostname: "127.0.0.1", onError: () => {} });
  t.start(new Collect());
  assert.throws(() => t.start(new Collect()), /already started/);
  await t.close();
  const u = await NodeUdpTransport.open({ port: 0, hostname: "127.0.0.1", onError: () => {} });
  await u.close();
  assert.throws(() => u.start(new Collect()), /closed/);
});

Deno.test("a sink that throws is reported through onError; the transport keeps receiving", async () => {
  let reported!: () => void;
  const wasReported = new Promise<void>((r) => (reported = r));
  const seen: unknown[] = [];
  const rx = await NodeUdpTransport.open({
    port: 0,
    hostname: "127.0.0.1",
    onError: (e) => {
      seen.push(e);
      reported();
    },
  });
  const tx = await NodeUdpTransport.open({ port: 0, hostname: "127.0.0.1", onError: () => {} });
  try {
    const sink = new Collect();
    const inner = sink.datagram.bind(sink);
    let broken = true;
    sink.datagram = (d, f) => {
      if (broken) throw new Error("sink broke");
      inner(d, f);
    };
    rx.start(sink);
    const to = tx.endpoint(`127.0.0.1:${rx.port}`);
    tx.send(Uint8Array.of(1), to);
    await wasReported;
    assert.equal(seen.length, 1);
    assert.match(String(seen[0]), /sink broke/);
    broken = false;
    tx.send(Uint8Array.of(2), to);
    await sink.until(1);
    assert.deepEqual(Array.from(sink.got[0].data), [2]);
    assert.equal(rx.stats.datagramsIn, 2);
  } finally {
    await rx.close();
    await tx.close();
  }
});

Deno.test("open: invalid ports rejected; a taken port rejects with address-in-use", async () => {
  for (const port of [-1, 65536, 1.5, NaN]) {
    await assert.rejects(NodeUdpTransport.open({ port }), /invalid UDP port/);
  }
  const first = await NodeUdpTransport.open({ port: 0, hostname: "127.0.0.1", onError: () => {} });
  try {
    let err: unknown = null;
    try {
      const second = await NodeUdpTransport.open({ port: first.port, hostname: "127.0.0.1" });
      await second.close();
    } catch (e) {
      err = e;
    }
    assert.ok(isAddrInUse(err), String(err));
  } finally {
    await first.close();
  }
  // Nothing of it holds the port once closed.
  assertNoOwnSockets(first.port);
});

Deno.test("isAddrInUse: node's code and Deno's error class", () => {
  assert.equal(isAddrInUse(Object.assign(new Error("x"), { code: "EADDRINUSE" })), true);
  assert.equal(isAddrInUse(new Deno.errors.AddrInUse("x")), true);
  assert.equal(isAddrInUse(Object.assign(new Error("x"), { code: "EACCES" })), false);
  assert.equal(isAddrInUse(null), false);
  assert.equal(isAddrInUse(undefined), false);
});

Deno.test("bindUdpSocket: bound on the asked address, or rejected with the bind error", async () => {
  const s = await bindUdpSocket("127.0.0.1", 0);
  const addr = s.address();
  assert.equal(addr.address, "127.0.0.1");
  assert.equal(addr.family, "IPv4");
  assert.ok(addr.port > 0);
  await closeUdpSocket(s);
  // A failed bind rejects with the socket's error (and closes it).
  let err: unknown = null;
  await bindUdpSocket("192.0.2.123", 0).then((x) => closeUdpSocket(x), (e) => (err = e));
  assert.equal((err as { code?: string } | null)?.code, "EADDRNOTAVAIL");
});

Deno.test({
  name: "closeUdpSocket on a socket already closed resolves",
  fn: async () => {
    const s = await bindUdpSocket("127.0.0.1", 0);
    await closeUdpSocket(s);
    await closeUdpSocket(s);
  },
});

Deno.test({
  name: "an IPv6 transport on ::1 exchanges datagrams",
  ignore: !Deno.networkInterfaces().some((i) => i.address === "::1"),
  fn: async () => {
    const a = await NodeUdpTransport.open({ port: 0, hostname: "::1", onError: () => {} });
    const b = await NodeUdpTransport.open({ port: 0, hostname: "::1", onError: () => {} });
    try {
      const sb = new Collect();
      b.start(sb);
      a.send(Uint8Array.of(6), a.endpoint(`[::1]:${b.port}`));
      await sb.until(1);
      assert.equal(sb.got[0].from.family, 6);
      assert.equal(sb.got[0].from.toString(), `[::1]:${a.port}`);
    } finally {
      await a.close();
      await b.close();
    }
  },
});
