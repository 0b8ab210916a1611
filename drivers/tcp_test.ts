import assert from "node:assert/strict";
import { TCP_MAX_FRAME, type TcpDialer, TcpTransport } from "./tcp.ts";
import { CollectSink } from "./testing/collect_sink.ts";
import type { Endpoint } from "../lib/io/driver.ts";
import { assertNoOwnSockets } from "../tests/fixtures/own_sockets.ts";

/** `payload` with its 2-byte big-endian length in front. */
function frame(payload: Uint8Array | number[]): Uint8Array {
  const p = payload instanceof Uint8Array ? payload : new Uint8Array(payload);
  const out = new Uint8Array(p.length + 2);
  out[0] = p.length >> 8;
  out[1] = p.length & 0xff;
  out.set(p, 2);
  return out;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** Polls `cond` until it holds, or fails after `ms`. */
async function until(cond: () => boolean, what: string, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Reads from a raw connection until the other side closes it; true if it did in `ms`. */
async function closedByPeer(conn: Deno.Conn, ms = 3000): Promise<boolean> {
  const buf = new Uint8Array(4096);
  const timeout = new Promise<"timeout">((r) => {
    const t = setTimeout(() => r("timeout"), ms);
    Deno.unrefTimer(t);
  });
  while (true) {
    const n = await Promise.race([conn.read(buf).catch(() => null), timeout]);
    if (n === "timeout") return false;
    if (n === null) return true;
  }
}

/** A port nothing listens on (bound, read, released). */
function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = l.addr.port;
  l.close();
  return port;
}

/** A manual clock for the timeout tests. */
function manualClock(): { now: () => number; advance: (ms: number) => void } {
  let t = 1_000_000;
  return { now: () => t, advance: (ms) => t += ms };
}

for (const loopback of ["127.0.0.1", "[::1]"]) {
  Deno.test(`TcpTransport exchanges frames both ways over ${loopback}, one connection`, async () => {
    const a = await TcpTransport.open({ port: 0 });
    const b = await TcpTransport.open({ port: 0 });
    try {
      assert.ok(a.port > 0 && b.port > 0 && a.port !== b.port);
      assert.equal(a.name, "tcp");
      const sa = new CollectSink();
      const sb = new CollectSink();
      a.start(sa);
      b.start(sb);

      const toB = a.endpoint(`tcp://${loopback}:${b.port}`);
      assert.equal(toB.proto, "tcp");
      assert.equal(String(toB), `tcp://${loopback}:${b.port}`);
      for (let i = 0; i < 5; i++) a.send(new Uint8Array([1, 2, 3, i]), toB);
      a.flush();
      await sb.wait(5);
      // A stream keeps order, unlike UDP.
      assert.deepEqual(
        sb.got.map((r) => Array.from(r.data)),
        [0, 1, 2, 3, 4].map((i) => [1, 2, 3, i]),
      );
      const from = sb.got[0].from;
      for (const r of sb.got) assert.equal(r.from, from);
      assert.equal(from.proto, "tcp");
      assert.equal(from.address, loopback === "[::1]" ? "::1" : "127.0.0.1");
      assert.equal(from.family, loopback === "[::1]" ? 6 : 4);
      assert.match(String(from), /^tcp:\/\//);

      // The reply goes back on the accepted connection, and arrives from the dialled endpoint.
      b.send(new Uint8Array([9, 9]), from);
      b.flush();
      await sa.wait(1);
      assert.deepEqual(Array.from(sa.got[0].data), [9, 9]);
      assert.equal(sa.got[0].from, toB);

      // More batches each way: still the one connection.
      for (let round = 0; round < 10; round++) {
        a.send(new Uint8Array([round]), toB);
        b.send(new Uint8Array([round, round]), from);
        a.flush();
        b.flush();
      }
      await sb.wait(15);
      await sa.wait(11);
      assert.equal(a.stats.dials, 1);
      assert.equal(a.stats.accepts, 0);
      assert.equal(b.stats.accepts, 1);
      assert.equal(b.stats.dials, 0);
      assert.equal(a.connections, 1);
      assert.equal(b.connections, 1);
      assert.equal(a.stats.connections, 1);
      assert.equal(a.stats.datagramsOut, 15);
      assert.equal(a.stats.bytesOut, 30);
      assert.equal(b.stats.datagramsIn, 15);
      assert.equal(b.stats.bytesIn, 30);
      assert.equal(b.stats.datagramsOut, 11);
      assert.equal(a.stats.datagramsIn, 11);
      assert.equal(a.stats.sendDrops + b.stats.sendDrops, 0);
      assert.equal(a.stats.queuedBytes, 0);
    } finally {
      await a.close();
      await b.close();
    }
  });
}

Deno.test("TcpTransport: a batch is one write per connection; data may be reused after send", async () => {
  let writes = 0;
  // Counts the writes on the dialled connection.
  const dial: TcpDialer = async (o) => {
    const conn = await Deno.connect({ hostname: o.hostname, port: o.port, signal: o.signal });
    const write = conn.write.bind(conn);
    conn.write = (p: Uint8Array) => {
      writes++;
      return write(p);
    };
    return conn;
  };
  const a = await TcpTransport.open({ port: 0, hostname: "127.0.0.1", dial });
  const b = await TcpTransport.open({ port: 0, hostname: "127.0.0.1" });
  try {
    const sb = new CollectSink();
    a.start(new CollectSink());
    b.start(sb);
    const to = a.endpoint(`127.0.0.1:${b.port}`);
    assert.equal(String(to), `tcp://127.0.0.1:${b.port}`, "plain host:port is tcp here");
    const buf = new Uint8Array(1420);
    // Frames queued while dialling go out in one write once connected.
    for (let i = 0; i < 20; i++) {
      buf.fill(i);
      a.send(buf, to);
    }
    buf.fill(255);
    a.flush();
    await sb.wait(20);
    assert.equal(writes, 1);
    for (let i = 0; i < 40; i++) {
      buf.fill(100 + i);
      a.send(buf, to);
    }
    a.flush();
    await sb.wait(60);
    assert.equal(writes, 2);
    assert.deepEqual(
      sb.got.map((r) => r.data[0]),
      [...Array(20).keys(), ...Array.from({ length: 40 }, (_, i) => 100 + i)],
    );
    for (const r of sb.got) {
      assert.ok(r.data.length === 1420 && r.data.every((x) => x === r.data[0]));
    }
    // A caller that never flushes still gets its frames sent (on a microtask).
    a.send(new Uint8Array([7]), to);
    await sb.wait(61);
  } finally {
    await a.close();
    await b.close();
  }
});

Deno.test("TcpTransport: frames split across segments and many frames in one segment", async () => {
  const t = await TcpTransport.open({ port: 0, hostname: "127.0.0.1" });
  const sink = new CollectSink();
  t.start(sink);
  const raw = await Deno.connect({ hostname: "127.0.0.1", port: t.port });
  try {
    raw.setNoDelay(true);
    const big = new Uint8Array(3000).map((_, i) => i & 0xff);
    const f1 = frame(big);
    // The length prefix alone, then one byte of it, then the rest in pieces.
    await raw.write(f1.subarray(0, 1));
    await new Promise((r) => setTimeout(r, 20));
    await raw.write(f1.subarray(1, 2));
    await new Promise((r) => setTimeout(r, 20));
    await raw.write(f1.subarray(2, 1000));
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(sink.got.length, 0);
    // The end of the first frame, three whole frames and the start of a fifth in one write.
    const small = [frame([1]), frame([2, 2]), frame(new Uint8Array(20000).fill(3))];
    const f5 = frame([5, 5, 5, 5, 5]);
    await raw.write(concat(f1.subarray(1000), ...small, f5.subarray(0, 3)));
    await sink.wait(4);
    await raw.write(f5.subarray(3));
    await sink.wait(5);
    assert.deepEqual(sink.got.map((r) => r.data.length), [3000, 1, 2, 20000, 5]);
    assert.deepEqual(sink.got[0].data, big);
    assert.ok(sink.got[3].data.every((x) => x === 3));
    const local = raw.localAddr;
    assert.equal(String(sink.got[0].from), `tcp://127.0.0.1:${local.port}`);
    assert.equal(t.stats.datagramsIn, 5);
    assert.equal(t.stats.bytesIn, 3000 + 1 + 2 + 20000 + 5);
    // A frame of the largest size passes too.
    await raw.write(frame(new Uint8Array(TCP_MAX_FRAME).fill(9)));
    await sink.wait(6);
    assert.equal(sink.got[5].data.length, TCP_MAX_FRAME);
  } finally {
    raw.close();
    await t.close();
  }
});

Deno.test("TcpTransport: a zero or oversized length closes that connection only", async () => {
  const t = await TcpTransport.open({ port: 0, hostname: "127.0.0.1", maxFrame: 1500 });
  const sink = new CollectSink();
  t.start(sink);
  const good = await Deno.connect({ hostname: "127.0.0.1", port: t.port });
  const zero = await Deno.connect({ hostname: "127.0.0.1", port: t.port });
  const huge = await Deno.connect({ hostname: "127.0.0.1", port: t.port });
  try {
    await good.write(frame([1]));
    await sink.wait(1);
    // A good frame, then a zero length with bytes after it that must not be read as frames.
    await zero.write(concat(frame([2]), new Uint8Array([0, 0]), frame([66])));
    assert.ok(await closedByPeer(zero), "zero length closes");
    await huge.write(concat(frame([3]), new Uint8Array([0x05, 0xdd]), new Uint8Array(1501)));
    assert.ok(await closedByPeer(huge), "1,501 bytes past maxFrame 1,500 closes");
    await good.write(frame([4]));
    await sink.wait(4);
    assert.deepEqual(sink.got.map((r) => r.data[0]).sort(), [1, 2, 3, 4]);
    assert.equal(t.stats.badFrames, 2);
    await until(() => t.connections === 1, "one connection left");
    // And the transport still accepts new ones.
    const again = await Deno.connect({ hostname: "127.0.0.1", port: t.port });
    await again.write(frame([5]));
    await sink.wait(5);
    again.close();
  } finally {
    good.close();
    zero.close();
    huge.close();
    await t.close();
  }
});

Deno.test("TcpTransport: garbage and a peer closing mid-frame crash nothing", async () => {
  const errors: unknown[] = [];
  const t = await TcpTransport.open({
    port: 0,
    hostname: "127.0.0.1",
    onError: (e) => errors.push(e),
  });
  const sink = new CollectSink();
  t.start(sink);
  try {
    // Closed in the middle of a frame's payload, and in the middle of a prefix.
    for (
      const bytes of [concat(frame([1]), frame([2, 2, 2]).subarray(0, 3)), new Uint8Array([0])]
    ) {
      const c = await Deno.connect({ hostname: "127.0.0.1", port: t.port });
      await c.write(bytes);
      c.close();
    }
    // Random garbage: whatever lengths it happens to hold, nothing throws.
    let seed = 7;
    const rnd = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 24;
    for (let i = 0; i < 20; i++) {
      const c = await Deno.connect({ hostname: "127.0.0.1", port: t.port });
      await c.write(Uint8Array.from({ length: 5000 }, rnd)).catch(() => {});
      c.close();
    }
    await until(() => t.connections === 0, "every connection closed");
    assert.ok(t.stats.truncated >= 1);
    assert.equal(sink.got[0].data[0], 1);
    assert.deepEqual(errors, []);
  } finally {
    await t.close();
  }
});

Deno.test("TcpTransport: a burst of 1,000 full-size frames is queued whole, none dropped, and read in order", async () => {
  // What a device's batches of a bulk flow add up to before one write finishes: a queue of a
  // few batches dropped most of it, and each drop was a resend of the TCP tunnelled inside.
  const a = await TcpTransport.open({ port: 0, hostname: "127.0.0.1" });
  const b = await TcpTransport.open({ port: 0, hostname: "127.0.0.1" });
  try {
    const sb = new CollectSink();
    a.start(new CollectSink());
    b.start(sb);
    const to = a.endpoint(`127.0.0.1:${b.port}`);
    // The connection is up (frames waiting for a dial have a cap of their own).
    a.send(new Uint8Array([1]), to);
    await sb.wait(1, 10_000);
    const n = 1000;
    const buf = new Uint8Array(1420);
    // Two batches: the second queued while the first is being written.
    for (let i = 0; i < n; i++) {
      if (i === n / 2) a.flush();
      buf.fill(i & 0xff);
      buf[0] = i >> 8;
      a.send(buf, to);
    }
    a.flush();
    const full = a.stats.drops["queue-full"];
    assert.equal(full, 0, `queue-full drops: ${full}`);
    assert.equal(a.stats.sendDrops, 0);
    await sb.wait(n + 1, 10_000);
    assert.equal(sb.got.length, n + 1);
    for (let i = 0; i < n; i++) {
      const d = sb.got[i + 1].data;
      assert.ok(d.length === 1420 && d[0] === i >> 8 && d[1] === (i & 0xff), `frame ${i}`);
    }
    assert.equal(a.stats.datagramsOut, n + 1);
    assert.equal(a.stats.queuedBytes, 0);
  } finally {
    await a.close();
    await b.close();
  }
});

/** A listener on loopback that accepts connections and never reads from them. */
function neverReads(): { port: number; close: () => Promise<void> } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted: Deno.Conn[] = [];
  const acceptLoop = (async () => {
    try {
      for await (const c of listener) accepted.push(c);
    } catch { /* closed */ }
  })();
  return {
    port: listener.addr.port,
    close: async () => {
      listener.close();
      await acceptLoop;
      for (const c of accepted) c.close();
    },
  };
}

Deno.test("TcpTransport: a peer that never reads gets a bounded queue and counted drops", async () => {
  // A listener that accepts and never reads: the kernel's buffers fill, then ours.
  const sinkhole = neverReads();
  const cap = 64 * 1024;
  const t = await TcpTransport.open({
    port: 0,
    hostname: "127.0.0.1",
    maxQueuedBytes: cap,
    maxFrame: 1500,
  });
  t.start(new CollectSink());
  try {
    const to = t.endpoint(`127.0.0.1:${sinkhole.port}`);
    const buf = new Uint8Array(1420);
    let maxQueued = 0;
    const mem = () => {
      const m = Deno.memoryUsage();
      return m.heapUsed + m.external;
    };
    // Send 60 MB in all, far past what loopback buffers hold.
    const before = mem();
    let peak = before;
    for (let round = 0; round < 420; round++) {
      for (let i = 0; i < 100; i++) t.send(buf, to);
      t.flush();
      maxQueued = Math.max(maxQueued, t.stats.queuedBytes);
      await new Promise((r) => setTimeout(r, 0));
      if (round % 20 === 0) peak = Math.max(peak, mem());
    }
    assert.ok(maxQueued <= cap, `queued ${maxQueued} over the cap ${cap}`);
    assert.ok(t.stats.drops["queue-full"] > 20000, `drops ${t.stats.drops["queue-full"]}`);
    assert.equal(t.stats.sendDrops, t.stats.drops["queue-full"]);
    // What went out is what the kernel took; the rest is counted, none lost silently.
    const written = t.stats.datagramsOut;
    const queued = 42000 - written - t.stats.sendDrops;
    assert.ok(queued >= 0 && queued * 1422 <= cap, `unaccounted ${queued}`);
    assert.ok(peak - before < 16 * 1024 * 1024, `memory grew ${peak - before} bytes`);
    assert.equal(t.connections, 1);
    await t.close();
    // Closing drops what was still queued, counted.
    assert.equal(t.stats.datagramsOut + t.stats.sendDrops, 42000);
    assert.equal(t.stats.queuedBytes, 0);
  } finally {
    await t.close();
    await sinkhole.close();
  }
});

Deno.test("TcpTransport.release: frames queued or being written on the connection left count as released, not conn-lost", async () => {
  // A peer that never reads: a write stays in flight once the kernel's buffers are full.
  const sinkhole = neverReads();
  const t = await TcpTransport.open({ port: 0, hostname: "127.0.0.1", maxQueuedBytes: 256 * 1024 });
  t.start(new CollectSink());
  try {
    const to = t.endpoint(`127.0.0.1:${sinkhole.port}`);
    const buf = new Uint8Array(1420);
    let sent = 0;
    // Until a write is still in flight a turn of the event loop after its flush.
    for (let round = 0; t.stats.queuedBytes === 0; round++) {
      assert.ok(round < 10_000, "the peer's buffers never filled");
      for (let i = 0; i < 100; i++, sent++) t.send(buf, to);
      t.flush();
      await new Promise((r) => setTimeout(r, 0));
    }
    // More behind it, not flushed: queued on the connection.
    for (let i = 0; i < 10; i++, sent++) t.send(buf, to);
    const before = { ...t.stats.drops };
    // The device left this endpoint for another place of the same peer.
    t.release(to);
    assert.equal(t.connections, 0);
    await until(() => t.stats.queuedBytes === 0, "the write in flight to end");
    const d = t.stats.drops;
    assert.equal(d["conn-lost"], 0, `conn-lost ${d["conn-lost"]}: released on purpose`);
    assert.ok(d.released >= 10, `released ${d.released}`);
    assert.deepEqual({ ...d, released: 0 }, { ...before, released: 0 }, "no other reason moved");
    // Every frame sent is accounted for: written, or dropped with its reason.
    assert.equal(t.stats.datagramsOut + t.stats.sendDrops, sent);
  } finally {
    await t.close();
    await sinkhole.close();
  }
});

Deno.test("TcpTransport: a failed dial drops its queued frames, counted, and backs off", async () => {
  const clock = manualClock();
  const t = await TcpTransport.open({
    port: 0,
    hostname: "127.0.0.1",
    now: clock.now,
    sweepIntervalMs: 0,
  });
  t.start(new CollectSink());
  try {
    const to = t.endpoint(`127.0.0.1:${freePort()}`);
    for (let i = 0; i < 3; i++) t.send(new Uint8Array([i]), to);
    t.flush();
    await until(() => t.stats.dialFailures === 1, "the dial to fail");
    assert.equal(t.stats.dials, 1);
    assert.equal(t.stats.drops["dial-failed"], 3);
    assert.equal(t.connections, 0);
    assert.equal(t.stats.queuedBytes, 0);
    // Right after the failure the endpoint is not redialled at the packet rate.
    t.send(new Uint8Array([9]), to);
    assert.equal(t.stats.drops["dial-backoff"], 1);
    assert.equal(t.stats.dials, 1);
    clock.advance(1000);
    t.send(new Uint8Array([9]), to);
    assert.equal(t.stats.dials, 2);
    await until(() => t.stats.dialFailures === 2, "the second dial to fail");
    assert.equal(t.stats.sendDrops, 5);
  } finally {
    await t.close();
  }
});

Deno.test("TcpTransport: how each dial ended is told: connected, refused, timeout, unreachable", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const seen: string[] = [];
  const failWith: Record<string, Error> = {
    "192.0.2.7": new Deno.errors.NetworkUnreachable("network is unreachable"),
    "192.0.2.8": new Error("No route to host (os error 113)"),
    "192.0.2.9": new Error("something else"),
  };
  // Loopback dials are real; the documentation addresses fail as the kernel would say.
  const dial: TcpDialer = (o) =>
    failWith[o.hostname] !== undefined
      ? Promise.reject(failWith[o.hostname])
      : o.hostname === "192.0.2.6"
      ? new Promise((_, reject) =>
        o.signal.addEventListener("abort", () => reject(o.signal.reason))
      )
      : Deno.connect({ hostname: o.hostname, port: o.port, signal: o.signal });
  const t = await TcpTransport.open({
    port: 0,
    listen: false,
    dial,
    dialTimeoutMs: 100,
    onError: () => {},
    onDial: (to, outcome) => seen.push(`${to} ${outcome}`),
  });
  t.start(new CollectSink());
  try {
    const refusedAt = freePort();
    for (
      const to of [
        `127.0.0.1:${listener.addr.port}`,
        `127.0.0.1:${refusedAt}`,
        "192.0.2.6:1",
        "192.0.2.7:1",
        "192.0.2.8:1",
        "192.0.2.9:1",
      ]
    ) t.send(new Uint8Array([1]), t.endpoint(to));
    await until(() => seen.length === 6, "every dial to end");
    assert.deepEqual(
      seen.sort(),
      [
        `tcp://127.0.0.1:${listener.addr.port} connected`,
        `tcp://127.0.0.1:${refusedAt} refused`,
        "tcp://192.0.2.6:1 timeout",
        "tcp://192.0.2.7:1 unreachable",
        "tcp://192.0.2.8:1 unreachable",
        "tcp://192.0.2.9:1 failed",
      ].sort(),
    );
  } finally {
    await t.close();
    listener.close();
  }
});

Deno.test("TcpTransport: frames waiting for a dial are bounded; a hung dial times out", async () => {
  let dials = 0;
  // A dial that hangs until aborted, as one to a silent host does.
  const dial: TcpDialer = (o) => {
    dials++;
    return new Promise((_, reject) => {
      o.signal.addEventListener("abort", () => reject(new Deno.errors.TimedOut("aborted")));
    });
  };
  const t = await TcpTransport.open({
    port: 0,
    hostname: "127.0.0.1",
    dial,
    maxDialQueue: 4,
    dialTimeoutMs: 100,
  });
  t.start(new CollectSink());
  try {
    const to = t.endpoint("tcp://192.0.2.9:51820");
    for (let i = 0; i < 6; i++) t.send(new Uint8Array([i]), to);
    assert.equal(dials, 1, "one dial at a time per endpoint");
    assert.equal(t.stats.drops["dial-queue"], 2);
    assert.equal(t.connections, 1);
    await until(() => t.stats.dialFailures === 1, "the dial to time out");
    assert.equal(t.stats.drops["dial-failed"], 4);
    assert.equal(t.connections, 0);

    // Closing the transport aborts a dial in progress and drops its frames as "closed".
    const other = t.endpoint("tcp://192.0.2.10:51820");
    t.send(new Uint8Array([1]), other);
    await t.close();
    assert.equal(t.stats.drops.closed, 1);
    assert.equal(t.stats.dialFailures, 1);
  } finally {
    await t.close();
  }
});

Deno.test("TcpTransport: at the connection cap the connection idle longest is closed", async () => {
  const clock = manualClock();
  const t = await TcpTransport.open({
    port: 0,
    hostname: "127.0.0.1",
    maxConnections: 2,
    now: clock.now,
    sweepIntervalMs: 0,
  });
  const sink = new CollectSink();
  t.start(sink);
  const conns: Deno.Conn[] = [];
  try {
    for (let i = 0; i < 2; i++) {
      const c = await Deno.connect({ hostname: "127.0.0.1", port: t.port });
      conns.push(c);
      await c.write(frame([i]));
      await sink.wait(i + 1);
      clock.advance(1000);
    }
    // The first one speaks again, so the second is now idle longest.
    await conns[0].write(frame([10]));
    await sink.wait(3);
    clock.advance(1000);
    const third = await Deno.connect({ hostname: "127.0.0.1", port: t.port });
    conns.push(third);
    assert.ok(await closedByPeer(conns[1]), "the idle one is closed");
    assert.equal(t.stats.evicted, 1);
    await third.write(frame([2]));
    await conns[0].write(frame([11]));
    await sink.wait(5);
    assert.equal(t.connections, 2);
  } finally {
    for (const c of conns) c.close();
    await t.close();
  }
});

Deno.test("TcpTransport: idle and silent connections time out", async () => {
  const ca = manualClock();
  const cb = manualClock();
  const a = await TcpTransport.open({
    port: 0,
    hostname: "127.0.0.1",
    now: ca.now,
    sweepIntervalMs: 0,
  });
  const b = await TcpTransport.open({
    port: 0,
    hostname: "127.0.0.1",
    now: cb.now,
    sweepIntervalMs: 0,
  });
  const sb = new CollectSink();
  a.start(new CollectSink());
  b.start(sb);
  const silent = await Deno.connect({ hostname: "127.0.0.1", port: b.port });
  try {
    a.send(new Uint8Array([1]), a.endpoint(`127.0.0.1:${b.port}`));
    await sb.wait(1);
    // The device found the message a peer's.
    b.authenticated(sb.got[0].from);
    await until(() => b.connections === 2, "both connections accepted");
    // 10 s: the connection that never sent a frame goes; the live one stays.
    cb.advance(10_000);
    b.sweep();
    assert.ok(await closedByPeer(silent), "the silent connection is closed");
    assert.equal(b.connections, 1);
    ca.advance(179_999);
    cb.advance(169_999);
    a.sweep();
    b.sweep();
    assert.equal(a.connections, 1);
    assert.equal(b.connections, 1);
    ca.advance(1);
    a.sweep();
    assert.equal(a.connections, 0);
    assert.equal(a.stats.idleClosed, 1);
    // b sees the close as the peer hanging up.
    await until(() => b.connections === 0, "b to see the close");
    assert.equal(b.stats.idleClosed, 1, "only the silent one timed out at b");
  } finally {
    silent.close();
    await a.close();
    await b.close();
  }
});

Deno.test("TcpTransport: release closes a connection we dialled; one the peer dialled stays open", async () => {
  const a = await TcpTransport.open({ port: 0, hostname: "127.0.0.1" });
  const b = await TcpTransport.open({ port: 0, hostname: "127.0.0.1" });
  try {
    const sa = new CollectSink();
    const sb = new CollectSink();
    a.start(sa);
    b.start(sb);
    const toB = a.endpoint(`127.0.0.1:${b.port}`);
    a.send(new Uint8Array([1]), toB);
    a.flush();
    await sb.wait(1);
    const fromA = sb.got[0].from;
    b.authenticated(fromA);
    // b's sending moved off a's connection (a's route, not b's, chose it): a still sends on it,
    // on the same connection, and b's replies there still reach a.
    b.release(fromA);
    assert.equal(b.connections, 1, "the connection a dialled is still open at b");
    a.send(new Uint8Array([2]), toB);
    a.flush();
    await sb.wait(2);
    assert.equal(sb.got[1].from, fromA, "the same connection");
    b.send(new Uint8Array([3]), fromA);
    b.flush();
    await sa.wait(1);
    assert.equal(a.stats.dials, 1);
    assert.equal(b.connections, 1);
    assert.equal(b.stats.accepts, 1);
    // a leaves its own connection: it is closed, and b sees it go.
    a.release(toB);
    assert.equal(a.connections, 0);
    await until(() => b.connections === 0, "b to see the close");
    // A send there dials anew.
    a.send(new Uint8Array([4]), toB);
    a.flush();
    await sb.wait(3);
    assert.equal(a.stats.dials, 2);
    assert.notEqual(sb.got[2].from, fromA, "a new connection, from another port");
  } finally {
    await a.close();
    await b.close();
  }
});

Deno.test("TcpTransport: close is idempotent; sends after it are counted", async () => {
  const t = await TcpTransport.open({ port: 0, hostname: "127.0.0.1" });
  t.start(new CollectSink());
  const p1 = t.close();
  const p2 = t.close();
  assert.equal(p1, p2);
  await p1;
  await t.close();
  t.send(new Uint8Array([1]), t.endpoint("127.0.0.1:9"));
  assert.equal(t.stats.drops.closed, 1);
  assert.throws(() => t.start(new CollectSink()), /already started|closed/);
  // Nothing of it holds the port.
  assertNoOwnSockets(t.port);
});

Deno.test("TcpTransport: a transport that only dials; endpoints parse and intern", async () => {
  const server = await TcpTransport.open({ port: 0, hostname: "127.0.0.1" });
  const client = await TcpTransport.open({ port: 0, listen: false });
  const ss = new CollectSink();
  const cs = new CollectSink();
  server.start(ss);
  client.start(cs);
  try {
    assert.equal(client.port, 0);
    const to = client.endpoint(`TCP://127.0.0.1:${server.port}`);
    assert.equal(client.endpoint(`127.0.0.1:${server.port}`), to);
    assert.equal(client.endpoint(`[::ffff:127.0.0.1]:${server.port}`), to);
    client.send(new Uint8Array([1, 2]), to);
    await ss.wait(1);
    server.send(new Uint8Array([3]), ss.got[0].from);
    await cs.wait(1);
    assert.equal(cs.got[0].from, to);

    const e6 = client.endpoint("tcp://[2001:DB8::1]:443");
    assert.equal(String(e6), "tcp://[2001:db8::1]:443");
    assert.equal(e6.family, 6);
    for (
      const bad of ["udp://127.0.0.1:1", "http://127.0.0.1:1", "tcp://host.example:1", "1.2.3.4"]
    ) {
      assert.throws(() => client.endpoint(bad), /invalid endpoint/, bad);
    }
    // Frames the prefix cannot carry are refused, counted.
    client.send(new Uint8Array(0), to);
    client.send(new Uint8Array(TCP_MAX_FRAME + 1), to);
    assert.equal(client.stats.drops["bad-size"], 2);
  } finally {
    await client.close();
    await server.close();
  }
});

Deno.test("TcpTransport: options are checked", async () => {
  await assert.rejects(TcpTransport.open({ port: 70000 }), /invalid TCP port/);
  await assert.rejects(TcpTransport.open({ port: 0, maxFrame: 70000 }), /maxFrame/);
  await assert.rejects(
    TcpTransport.open({ port: 0, maxFrame: 2000, maxQueuedBytes: 1000 }),
    /maxQueuedBytes/,
  );
  await assert.rejects(TcpTransport.open({ port: 0, redialDelayMs: -1 }), /redialDelayMs/);
  await assert.rejects(TcpTransport.open({ port: 0, maxConnections: 0 }), /maxConnections/);
});

/** A sink standing in for the device: frames starting with 1 are a peer's (authenticated). */
class VouchingSink extends CollectSink {
  transport: TcpTransport | null = null;
  override datagram(data: Uint8Array, from: Endpoint): void {
    super.datagram(data, from);
    if (data[0] === 1) this.transport!.authenticated(from);
  }
}

/** Connects `n` raw clients that each send one junk frame; returns them. */
async function junkClients(port: number, n: number): Promise<Deno.TcpConn[]> {
  const out: Deno.TcpConn[] = [];
  for (let i = 0; i < n; i++) {
    const c = await Deno.connect({ hostname: "127.0.0.1", port });
    out.push(c);
    await c.write(frame([0xde, 0xad, i & 0xff])).catch(() => 0);
  }
  return out;
}

/**
 * Eight members connect and are vouched for, then `junk` raw clients send a junk frame each;
 * `settled` says when the transport is done with them. Resolves once every member's next frame
 * has arrived (so all eight connections survived; a closed one never delivers and the wait fails).
 */
async function membersSurviveJunk(
  t: TcpTransport,
  junk: number,
  settled: () => boolean,
): Promise<void> {
  const sink = new VouchingSink();
  sink.transport = t;
  t.start(sink);
  const members: Deno.TcpConn[] = [];
  let flood: Deno.TcpConn[] = [];
  try {
    for (let i = 0; i < 8; i++) {
      const c = await Deno.connect({ hostname: "127.0.0.1", port: t.port });
      members.push(c);
      await c.write(frame([1, i]));
    }
    await sink.wait(8);
    // Junk arrives after the members' last frames: by activity alone the members would go first.
    flood = await junkClients(t.port, junk);
    await until(() => t.stats.accepts >= 8 + junk && settled(), "the flood handled", 30_000);
    for (let i = 0; i < members.length; i++) {
      await members[i].write(frame([1, 200 + i])).catch(() => 0);
    }
    const arrived = () => sink.got.filter((g) => g.data[0] === 1 && g.data[1] >= 200).length;
    await until(() => arrived() === 8, "a frame from every member", 30_000);
  } finally {
    for (const c of [...members, ...flood]) {
      try {
        c.close();
      } catch { /* closed by the transport */ }
    }
    await t.close();
  }
}

Deno.test("TcpTransport: 1,100 junk connections from one address evict no member's connection", async () => {
  const t = await TcpTransport.open({ port: 0, hostname: "127.0.0.1", sweepIntervalMs: 0 });
  // Only a few unauthenticated connections per address are held; the rest are closed at once.
  await membersSurviveJunk(t, 1100, () => t.stats.refusedPerAddress >= 1100 - 32);
  assert.equal(t.stats.evicted, 0);
});

Deno.test("TcpTransport: at the cap, connections with junk only go before members' quieter ones", async () => {
  const t = await TcpTransport.open({
    port: 0,
    hostname: "127.0.0.1",
    sweepIntervalMs: 0,
    maxConnections: 40,
    maxPendingPerAddress: 10_000,
  });
  await membersSurviveJunk(t, 100, () => t.stats.evicted >= 68);
});
