import assert from "node:assert/strict";
import type { DatagramSink, Endpoint } from "../../lib/io/driver.ts";
import { Poller } from "./poller.ts";
import { LinuxUdpTransport } from "./udp.ts";
import { libc } from "./libc.ts";
import { DenoUdpTransport } from "../udp_deno.ts";
import { assertNoOwnSockets } from "../../tests/fixtures/own_sockets.ts";

const ignore = Deno.build.os !== "linux";

/** A sink that copies what it gets and lets a test wait for a number of datagrams. */
class CollectSink implements DatagramSink {
  readonly got: { data: Uint8Array; from: Endpoint }[] = [];
  flushes = 0;

  datagram(data: Uint8Array, from: Endpoint): void {
    this.got.push({ data: data.slice(), from });
  }

  flush(): void {
    this.flushes++;
  }

  async wait(n: number, ms = 5000): Promise<void> {
    const deadline = Date.now() + ms;
    while (this.got.length < n) {
      if (Date.now() > deadline) throw new Error(`timed out with ${this.got.length}/${n}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }
}

function numbered(seq: number, size: number): Uint8Array {
  const d = new Uint8Array(size);
  new DataView(d.buffer).setUint32(0, seq);
  d.fill(seq & 0xff, 4);
  return d;
}

function seqOf(d: Uint8Array): number {
  return new DataView(d.buffer, d.byteOffset).getUint32(0);
}

for (const [label, host, bind] of [["IPv4", "127.0.0.1", "127.0.0.1"], ["IPv6", "[::1]", "::"]]) {
  Deno.test({
    name: `LinuxUdpTransport: a batch of 1000 datagrams over ${label} loopback arrives complete`,
    ignore,
    async fn() {
      const a = await LinuxUdpTransport.open({ port: 0, hostname: bind });
      const b = await LinuxUdpTransport.open({ port: 0, hostname: bind });
      try {
        assert.equal(a.family, label === "IPv4" ? 4 : 6);
        const sa = new CollectSink();
        const sb = new CollectSink();
        a.start(sa);
        b.start(sb);
        const to = a.endpoint(`${host}:${b.port}`);
        // One reused buffer: the queue must hold copies.
        const buf = new Uint8Array(1000);
        const view = new DataView(buf.buffer);
        for (let i = 0; i < 1000; i++) {
          view.setUint32(0, i);
          buf.fill(i & 0xff, 4);
          a.send(buf, to);
        }
        a.flush();
        await sb.wait(1000);
        assert.equal(sb.got.length, 1000);
        const seen = new Set<number>();
        for (const r of sb.got) {
          const seq = seqOf(r.data);
          assert.equal(r.data.length, 1000);
          assert.ok(r.data.subarray(4).every((x) => x === (seq & 0xff)), `payload of ${seq}`);
          seen.add(seq);
        }
        assert.equal(seen.size, 1000);
        // Batched: far fewer flushes than datagrams.
        assert.ok(sb.flushes < 1000, `flushes ${sb.flushes}`);
        const from = sb.got[0].from;
        for (const r of sb.got) assert.equal(r.from, from, "one interned endpoint");
        assert.equal(String(from), `${host}:${a.port}`);
        assert.equal(b.endpoint(`${host}:${a.port}`), from);

        // Reply to where it came from.
        b.send(numbered(7, 50), from);
        b.flush();
        await sa.wait(1);
        assert.equal(seqOf(sa.got[0].data), 7);
        assert.equal(sa.got[0].from, to);

        assert.equal(a.stats.datagramsOut, 1000);
        assert.equal(a.stats.bytesOut, 1000 * 1000);
        assert.equal(b.stats.datagramsIn, 1000);
        assert.equal(b.stats.bytesIn, 1000 * 1000);
        assert.equal(a.stats.sendDrops + a.stats.sendErrors, 0);
      } finally {
        await a.close();
        await b.close();
      }
    },
  });
}

Deno.test({
  name: "LinuxUdpTransport: a dual-stack socket sees IPv4 peers as plain IPv4 endpoints",
  ignore,
  async fn() {
    const dual = await LinuxUdpTransport.open({ port: 0 });
    const v4 = await LinuxUdpTransport.open({ port: 0, hostname: "127.0.0.1" });
    try {
      assert.equal(dual.family, 6);
      const sd = new CollectSink();
      const s4 = new CollectSink();
      dual.start(sd);
      v4.start(s4);
      v4.send(numbered(1, 20), v4.endpoint(`127.0.0.1:${dual.port}`));
      v4.flush();
      await sd.wait(1);
      const from = sd.got[0].from;
      assert.equal(from.family, 4);
      assert.equal(from.address, "127.0.0.1");
      assert.equal(from, dual.endpoint(`[::ffff:127.0.0.1]:${v4.port}`));
      dual.send(numbered(2, 20), from);
      dual.flush();
      await s4.wait(1);
      assert.equal(seqOf(s4.got[0].data), 2);
      // An IPv4-only socket cannot reach IPv6: counted, not thrown.
      v4.send(numbered(3, 20), v4.endpoint(`[::1]:${dual.port}`));
      assert.equal(v4.stats.sendErrors, 1);
    } finally {
      await dual.close();
      await v4.close();
    }
  },
});

Deno.test({
  name: "LinuxUdpTransport: oversized and truncated datagrams, unreachable peers",
  ignore,
  async fn() {
    const a = await LinuxUdpTransport.open({ port: 0, hostname: "127.0.0.1" });
    const small = await LinuxUdpTransport.open({
      port: 0,
      hostname: "127.0.0.1",
      maxDatagram: 512,
    });
    const closedPort = await LinuxUdpTransport.open({ port: 0, hostname: "127.0.0.1" });
    const deadPort = closedPort.port;
    await closedPort.close();
    try {
      const sa = new CollectSink();
      const ss = new CollectSink();
      a.start(sa);
      small.start(ss);
      const to = a.endpoint(`127.0.0.1:${small.port}`);
      // Queued, then one too big for a queue slot (sent at once, after the queue), then queued.
      a.send(numbered(1, 100), to);
      a.send(numbered(2, 5000), to);
      a.send(numbered(3, 100), to);
      a.flush();
      // A last datagram marks the end: once it is in, everything sent before it was handled.
      a.send(numbered(9, 100), to);
      a.flush();
      await ss.wait(3);
      assert.deepEqual(ss.got.map((r) => seqOf(r.data)), [1, 3, 9]);
      assert.equal(small.stats.recvErrors, 1, "the 5000-byte datagram was truncated and dropped");
      assert.equal(a.stats.datagramsOut, 4);

      // A send to a closed port must not disturb the socket.
      a.send(numbered(4, 10), a.endpoint(`127.0.0.1:${deadPort}`));
      a.flush();
      await new Promise((r) => setTimeout(r, 50));
      small.send(numbered(5, 10), small.endpoint(`127.0.0.1:${a.port}`));
      small.flush();
      await sa.wait(1);
      assert.equal(seqOf(sa.got[0].data), 5);
    } finally {
      await a.close();
      await small.close();
    }
  },
});

Deno.test({
  name: "LinuxUdpTransport: two transports on one shared Poller; close is idempotent",
  ignore,
  async fn() {
    const poller = new Poller();
    const a = await LinuxUdpTransport.open({ port: 0, hostname: "::1", poller });
    const b = await LinuxUdpTransport.open({ port: 0, hostname: "::1", poller });
    const sa = new CollectSink();
    const sb = new CollectSink();
    a.start(sa);
    b.start(sb);
    assert.equal(poller.size, 2);
    for (let round = 0; round < 20; round++) {
      a.send(numbered(round, 64), a.endpoint(`[::1]:${b.port}`));
      a.flush();
      b.send(numbered(round, 64), b.endpoint(`[::1]:${a.port}`));
      b.flush();
    }
    await sa.wait(20);
    await sb.wait(20);
    const p = a.close();
    assert.equal(a.close(), p);
    await p;
    assert.equal(poller.size, 1);
    // The other transport is still served.
    a.send(numbered(99, 8), a.endpoint(`[::1]:${b.port}`));
    assert.equal(a.stats.sendDrops, 1, "sends after close are dropped");
    const c = await LinuxUdpTransport.open({ port: a.port, hostname: "::1" });
    c.send(numbered(42, 8), c.endpoint(`[::1]:${b.port}`));
    c.flush();
    await sb.wait(21);
    assert.equal(seqOf(sb.got[20].data), 42);
    await c.close();
    await b.close();
    assert.equal(poller.size, 0);
    await poller.close();
  },
});

Deno.test({
  name: "LinuxUdpTransport and DenoUdpTransport interoperate",
  ignore,
  async fn() {
    const linux = await LinuxUdpTransport.open({ port: 0 });
    const deno = await DenoUdpTransport.open({ port: 0 });
    try {
      const sl = new CollectSink();
      const sd = new CollectSink();
      linux.start(sl);
      deno.start(sd);
      deno.send(numbered(1, 300), deno.endpoint(`[::1]:${linux.port}`));
      await sl.wait(1);
      // An endpoint interned by another transport is accepted as a destination.
      linux.send(numbered(2, 300), deno.endpoint(`127.0.0.1:${deno.port}`));
      linux.flush();
      await sd.wait(1);
      assert.equal(seqOf(sd.got[0].data), 2);
      assert.equal(sd.got[0].from.address, "127.0.0.1");
    } finally {
      await linux.close();
      await deno.close();
    }
  },
});

Deno.test({
  name: "LinuxUdpTransport: bind errors are clear",
  ignore,
  async fn() {
    const a = await LinuxUdpTransport.open({ port: 0, hostname: "127.0.0.1" });
    try {
      await assert.rejects(
        () => LinuxUdpTransport.open({ port: a.port, hostname: "127.0.0.1" }),
        /EADDRINUSE/,
      );
      await assert.rejects(
        () => LinuxUdpTransport.open({ port: 0, hostname: "nope" }),
        /not an IP/,
      );
      await assert.rejects(() => LinuxUdpTransport.open({ port: 70000 }), /invalid UDP port/);
    } finally {
      await a.close();
    }
  },
});

Deno.test({
  name: "LinuxUdpTransport: buffers handed to the kernel survive garbage collection",
  ignore,
  async fn() {
    const fixture = new URL("../../tests/fixtures/udp_gc.ts", import.meta.url).pathname;
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--v8-flags=--expose-gc", fixture],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, stderr);
    const result = JSON.parse(new TextDecoder().decode(out.stdout));
    assert.deepEqual(result, { received: 1000, sent: 1000, recvErrors: 0 });
  },
});

Deno.test({
  name: "LinuxUdpTransport.driverStats: its own counters, and GSO/GRO as they are now",
  ignore,
  fn: async () => {
    const t = await LinuxUdpTransport.open({ port: 0, hostname: "127.0.0.1", gso: false });
    try {
      const r = t.driverStats();
      assert.equal(r.kind, "udp");
      assert.equal(r.counters, t.stats);
      assert.deepEqual(r.offloads, { gso: false, gro: t.gro });
    } finally {
      await t.close();
    }
  },
});

Deno.test({
  name: "LinuxUdpTransport.rebind: a new port under the same fd, polled at once; a taken one fails",
  ignore,
  fn: async () => {
    const a = await LinuxUdpTransport.open({ port: 0, hostname: "127.0.0.1" });
    const b = await LinuxUdpTransport.open({ port: 0, hostname: "127.0.0.1" });
    const taken = await LinuxUdpTransport.open({ port: 0, hostname: "127.0.0.1" });
    try {
      const sa = new CollectSink();
      const sb = new CollectSink();
      a.start(sa);
      b.start(sb);
      const send = (port: number, seq: number) => {
        a.send(numbered(seq, 100), a.endpoint(`127.0.0.1:${port}`));
        a.flush();
      };
      const first = b.port;
      send(first, 1);
      await sb.wait(1);
      const { fd, gso, gro } = b;
      // b's poller waits on the old socket now: the rebind must wake it for the new one.
      b.rebind(0);
      const second = b.port;
      assert.notEqual(second, first);
      assert.deepEqual({ fd: b.fd, gso: b.gso, gro: b.gro }, { fd, gso, gro });
      send(second, 2);
      await sb.wait(2);
      assert.deepEqual(sb.got.map((r) => seqOf(r.data)), [1, 2]);
      // The old socket is closed: nothing holds the old port.
      assertNoOwnSockets(first);
      // b sends from its new port.
      b.send(numbered(3, 100), b.endpoint(`127.0.0.1:${a.port}`));
      b.flush();
      await sa.wait(1);
      assert.equal(sa.got[0].from.port, second);
      // A port in use: an error with errno EADDRINUSE, and b stays where it was.
      assert.throws(
        () => b.rebind(taken.port),
        (e: Error & { errno?: number }) => /EADDRINUSE/.test(e.message) && e.errno === 98,
      );
      assert.equal(b.port, second);
      send(second, 4);
      await sb.wait(3);
      assert.equal(seqOf(sb.got[2].data), 4);
    } finally {
      await Promise.all([a.close(), b.close(), taken.close()]);
    }
    assert.throws(() => b.rebind(0), /closed/);
  },
});

Deno.test({
  name: "LinuxUdpTransport.setFwMark: set and cleared with CAP_NET_ADMIN, else refused unchanged",
  ignore,
  fn: async () => {
    const t = await LinuxUdpTransport.open({ port: 0, hostname: "127.0.0.1" });
    try {
      assert.equal(t.fwMark, 0);
      if (Deno.uid() === 0) {
        t.setFwMark(51820);
        assert.equal(t.fwMark, 51820);
        t.setFwMark(0);
        assert.equal(t.fwMark, 0);
      } else {
        assert.throws(() => t.setFwMark(51820), /EPERM/);
        assert.equal(t.fwMark, 0);
      }
      assert.throws(() => t.setFwMark(-1), /invalid fwmark/);
    } finally {
      await t.close();
    }
  },
});

Deno.test({
  name: "LinuxUdpTransport: a hundred idle transports in one process leave the others receiving",
  ignore,
  async fn() {
    // Each used to wait in a poll of its own on one of Deno's few blocking threads: past a few
    // dozen idle ones, a transport opened later never heard anything (200 joins in one process).
    const idle: LinuxUdpTransport[] = [];
    const a = await LinuxUdpTransport.open({ port: 0, hostname: "127.0.0.1" });
    try {
      for (let i = 0; i < 100; i++) {
        const t = await LinuxUdpTransport.open({ port: 0, hostname: "127.0.0.1" });
        t.start(new CollectSink());
        idle.push(t);
      }
      const b = await LinuxUdpTransport.open({ port: 0, hostname: "127.0.0.1" });
      idle.push(b);
      const sa = new CollectSink();
      const sb = new CollectSink();
      a.start(sa);
      b.start(sb);
      a.send(numbered(1, 100), a.endpoint(`127.0.0.1:${b.port}`));
      a.flush();
      await sb.wait(1);
      b.send(numbered(2, 100), sb.got[0].from);
      b.flush();
      await sa.wait(1);
      assert.equal(seqOf(sa.got[0].data), 2);
    } finally {
      await a.close();
      for (const t of idle) await t.close();
    }
  },
});

/** FIONREAD (SIOCINQ): on a UDP socket, the length of the first datagram queued (0: none). */
const FIONREAD = 0x541b;

for (const gro of [false, true]) {
  Deno.test({
    name: `LinuxUdpTransport: each datagram comes with its wait in the socket's queue (gro ${gro})`,
    ignore,
    async fn() {
      const a = await LinuxUdpTransport.open({ port: 0, hostname: "127.0.0.1" });
      const b = await LinuxUdpTransport.open({ port: 0, hostname: "127.0.0.1", gro });
      try {
        const waits: number[] = [];
        const sink = new CollectSink();
        const datagram = sink.datagram.bind(sink);
        sink.datagram = (data, from, waitedMs?: number) => {
          waits.push(waitedMs ?? -1);
          datagram(data, from);
        };
        const to = a.endpoint(`127.0.0.1:${b.port}`);
        const sentAt = Date.now();
        for (let i = 0; i < 4; i++) a.send(numbered(i, 100), to);
        a.flush();
        // Queued (b reads nothing until started): from here on they wait.
        const queued = new Uint8Array(new ArrayBuffer(4));
        while (
          libc().ioctl(b.fd, FIONREAD, queued) !== 0 || new Int32Array(queued.buffer)[0] === 0
        ) {
          await new Promise((r) => setTimeout(r, 5));
        }
        const queuedBy = Date.now();
        await new Promise((r) => setTimeout(r, 150));
        const startedAt = Date.now();
        b.start(sink);
        await sink.wait(4);
        const readBy = Date.now();
        assert.equal(waits.length, 4);
        for (const w of waits) {
          // Received between the send and the moment the queue showed it; read after start.
          assert.ok(
            w >= startedAt - queuedBy - 1,
            `waited ${w} ms, queued ${startedAt - queuedBy} ms`,
          );
          assert.ok(w <= readBy - sentAt + 1, `waited ${w} ms, within ${readBy - sentAt} ms`);
        }
        // One read as it comes waited no longer than it took to come.
        waits.length = 0;
        const again = Date.now();
        a.send(numbered(9, 100), to);
        a.flush();
        await sink.wait(5);
        assert.ok(waits[0] >= 0 && waits[0] <= Date.now() - again + 1, `waited ${waits[0]} ms`);
      } finally {
        await a.close();
        await b.close();
      }
    },
  });
}
