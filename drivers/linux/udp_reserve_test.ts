/**
 * LinuxUdpTransport's zero-copy send: `reserve` lends a queue slot, `commit` queues it as `send`
 * would a copy. Over loopback (Linux only; the GSO cases where the kernel has UDP GSO).
 */
import assert from "node:assert/strict";
import type { Endpoint } from "../../lib/io/driver.ts";
import { type LinuxUdpOptions, LinuxUdpTransport } from "./udp.ts";
import { CollectSink } from "../testing/collect_sink.ts";

const LINUX = Deno.build.os === "linux";

const gsoHere = await (async () => {
  if (!LINUX) return false;
  const t = await LinuxUdpTransport.open({ port: 0, hostname: "127.0.0.1" });
  const found = t.gso;
  await t.close();
  return found;
})();

type Opened = LinuxUdpTransport & { sink: CollectSink };

async function open(extra: Partial<LinuxUdpOptions> = {}): Promise<Opened> {
  const t = await LinuxUdpTransport.open({ port: 0, hostname: "127.0.0.1", ...extra }) as Opened;
  t.sink = new CollectSink();
  t.start(t.sink);
  return t;
}

/** Builds datagram `seq` of `size` bytes in `into`: the number (u32), then its low byte. */
function fill(into: Uint8Array, seq: number, size: number): void {
  new DataView(into.buffer, into.byteOffset).setUint32(0, seq);
  into.fill(seq & 0xff, 4, size);
}

/** Reserves a slot for `size` bytes to `to`, builds datagram `seq` there and commits it. */
function commitOne(t: LinuxUdpTransport, seq: number, size: number, to: Endpoint): Uint8Array {
  const slot = t.reserve(size, to);
  assert.ok(slot !== null, `no slot for ${seq}`);
  fill(slot, seq, size);
  t.commit(size, to);
  return slot;
}

function seqOf(d: Uint8Array): number {
  return new DataView(d.buffer, d.byteOffset).getUint32(0);
}

/** Each received datagram has the length `lengths` gives its number and its number's bytes. */
function assertIntact(sink: CollectSink, lengths: Map<number, number>): void {
  for (const { data } of sink.got) {
    const seq = seqOf(data);
    assert.equal(data.length, lengths.get(seq), `length of ${seq}`);
    assert.ok(data.subarray(4).every((x) => x === (seq & 0xff)), `payload of ${seq}`);
  }
}

Deno.test({
  name: "udp reserve: slots are lent in queue order, the same objects again after a flush",
  ignore: !LINUX,
  async fn() {
    const a = await open({ batch: 8, gso: false });
    const b = await open({ gro: false });
    try {
      const to = a.endpoint(`127.0.0.1:${b.port}`);
      const first: Uint8Array[] = [];
      const lengths = new Map<number, number>();
      for (let i = 0; i < 8; i++) {
        first.push(commitOne(a, i, 100 + i, to));
        lengths.set(i, 100 + i);
      }
      // Distinct slots of one buffer, each a whole slot.
      assert.equal(new Set(first).size, 8);
      assert.ok(first.every((s) => s.buffer === first[0].buffer && s.length === 2048));
      a.flush();
      for (let i = 8; i < 16; i++) {
        assert.equal(commitOne(a, i, 200, to), first[i - 8], `slot ${i - 8} is reused`);
        lengths.set(i, 200);
      }
      a.flush();
      await b.sink.wait(16);
      assert.deepEqual(b.sink.got.map((g) => seqOf(g.data)), [...Array(16).keys()]);
      assertIntact(b.sink, lengths);
      assert.equal(a.stats.datagramsOut, 16);
    } finally {
      await a.close();
      await b.close();
    }
  },
});

Deno.test({
  name: "udp reserve: a full queue is flushed to make room, as send does",
  ignore: !LINUX,
  async fn() {
    const a = await open({ batch: 4, gso: false });
    const b = await open({ gro: false });
    try {
      const to = a.endpoint(`127.0.0.1:${b.port}`);
      const lengths = new Map<number, number>();
      for (let i = 0; i < 10; i++) {
        commitOne(a, i, 64, to);
        lengths.set(i, 64);
      }
      a.flush();
      await b.sink.wait(10);
      assert.deepEqual(b.sink.got.map((g) => seqOf(g.data)), [...Array(10).keys()]);
      assertIntact(b.sink, lengths);
    } finally {
      await a.close();
      await b.close();
    }
  },
});

Deno.test({
  name: "udp reserve: null when the caller must fall back to send (full, too large, closed, v6)",
  ignore: !LINUX,
  async fn() {
    const a = await open({ batch: 2, gso: false });
    const b = await open({ gro: false });
    try {
      const to = a.endpoint(`127.0.0.1:${b.port}`);
      assert.equal(a.reserve(2049, to), null, "larger than a slot");
      assert.ok(a.reserve(2048, to) !== null, "exactly a slot");
      // The socket is full (as when sendmmsg met EAGAIN): the queue cannot drain.
      commitOne(a, 0, 64, to);
      commitOne(a, 1, 64, to);
      a.wantsWrite = true;
      assert.equal(a.reserve(64, to), null, "queue full and the socket not writable");
      const drops = a.stats.sendDrops;
      a.send(new Uint8Array(64), to);
      assert.equal(a.stats.sendDrops, drops + 1, "send counts the drop");
      // Writable again: the queue goes, and slots are lent again.
      a.onWritable();
      assert.equal(a.wantsWrite, false);
      commitOne(a, 2, 64, to);
      a.flush();
      await b.sink.wait(3);
      assert.deepEqual(b.sink.got.map((g) => seqOf(g.data)), [0, 1, 2]);
      // An IPv4-only socket lends nothing for an IPv6 endpoint; send counts the error.
      const v6 = a.endpoint("[2001:db8::1]:9");
      assert.equal(a.reserve(64, v6), null);
      const errors = a.stats.sendErrors;
      a.send(new Uint8Array(64), v6);
      assert.equal(a.stats.sendErrors, errors + 1);
    } finally {
      await a.close();
      await b.close();
    }
    assert.equal(a.reserve(64, a.endpoint(`127.0.0.1:${b.port}`)), null, "closed");
  },
});

Deno.test({
  name: "udp reserve: a slot reserved and not committed is dropped by the next reserve or send",
  ignore: !LINUX,
  async fn() {
    const a = await open({ batch: 8, gso: false });
    const b = await open({ gro: false });
    try {
      const to = a.endpoint(`127.0.0.1:${b.port}`);
      const lent = a.reserve(500, to)!;
      fill(lent, 99, 500); // abandoned (say the seal failed)
      const again = a.reserve(300, to)!;
      assert.equal(again, lent, "the same slot is lent again");
      fill(again, 0, 300);
      a.commit(300, to);
      // A send between reserve and commit takes the slot: the reservation is gone.
      a.reserve(100, to);
      a.send(Uint8Array.of(0, 0, 0, 1), to);
      assert.throws(() => a.commit(100, to), /without a reserved slot/);
      // So does a flush; and a commit with nothing reserved at all is refused.
      a.reserve(100, to);
      a.flush();
      assert.throws(() => a.commit(100, to), /without a reserved slot/);
      assert.throws(() => a.commit(10, to), /without a reserved slot/);
      a.reserve(100, to);
      assert.throws(() => a.commit(2049, to), RangeError);
      await b.sink.wait(2);
      assert.deepEqual(b.sink.got.map((g) => [seqOf(g.data), g.data.length]), [[0, 300], [1, 4]]);
      assert.equal(a.stats.datagramsOut, 2);
    } finally {
      await a.close();
      await b.close();
    }
  },
});

Deno.test({
  name: "udp reserve: committed slots form GSO runs as sent copies do, mixed with sends",
  ignore: !gsoHere,
  async fn() {
    const a = await open();
    const b = await open({ gro: false });
    const c = await open({ gro: false });
    try {
      const tb = a.endpoint(`127.0.0.1:${b.port}`);
      const tc = a.endpoint(`127.0.0.1:${c.port}`);
      const lengths = new Map<number, number>();
      const want = { b: [] as number[], c: [] as number[] };
      let seq = 0;
      const copy = new Uint8Array(1452);
      const put = (to: Endpoint, size: number, viaSend: boolean) => {
        if (viaSend) {
          fill(copy, seq, size);
          a.send(copy.subarray(0, size), to);
        } else commitOne(a, seq, size, to);
        lengths.set(seq, size);
        want[to === tb ? "b" : "c"].push(seq++);
      };
      // Run 1 to b: 20 full datagrams, committed and sent alternately, and a shorter last.
      for (let i = 0; i < 20; i++) put(tb, 1452, i % 3 === 0);
      put(tb, 400, false);
      // An abandoned reservation in the middle of run 2 changes nothing.
      for (let i = 0; i < 10; i++) {
        if (i === 5) fill(a.reserve(1452, tc)!, 12345, 1452);
        put(tc, 1200, false);
      }
      // Run 3 to b again; a longer datagram starts run 4.
      for (let i = 0; i < 5; i++) put(tb, 1000, false);
      put(tb, 1100, false);
      put(tb, 1100, true);
      a.flush();
      await b.sink.wait(want.b.length);
      await c.sink.wait(want.c.length);
      assert.deepEqual(b.sink.got.map((g) => seqOf(g.data)), want.b);
      assert.deepEqual(c.sink.got.map((g) => seqOf(g.data)), want.c);
      assertIntact(b.sink, lengths);
      assertIntact(c.sink, lengths);
      assert.equal(a.stats.gsoMessages, 4);
      assert.equal(a.stats.gsoSegments, 21 + 10 + 5 + 2);
      assert.equal(a.stats.datagramsOut, seq);
    } finally {
      await a.close();
      await b.close();
      await c.close();
    }
  },
});
