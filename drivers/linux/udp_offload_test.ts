/**
 * UDP GSO (send) and GRO (receive) in LinuxUdpTransport.
 *
 * The loopback tests need only Linux with the offloads (4.18+/5.0+): loopback keeps a GSO
 * message whole up to a socket that asked for GRO (and cuts it for one that did not), so both
 * the grouping and the splitting run for real there. The rest needs root: the test makes a
 * network namespace and re-runs this file inside it with WEFT_UDP_OFFLOAD_NS set, where the
 * "inside:" tests lower the loopback MTU (so the kernel refuses GSO runs), build a veth pair to
 * a second namespace of their own, with the far end in a child process
 * (tests/fixtures/udp_offload_peer.ts), and fill a socket's send buffer for real (datagrams held
 * by a slow tbf on a veth: sends meet EAGAIN). Every namespace is deleted afterwards.
 */
import assert from "node:assert/strict";
import type { DatagramSink, Endpoint } from "../../lib/io/driver.ts";
import { LinuxUdpTransport } from "./udp.ts";
import {
  EAGAIN,
  EINVAL,
  EIO,
  errno,
  libc,
  MSG_DONTWAIT,
  SO_SNDBUFFORCE,
  SOCKADDR_IN6_SIZE,
  SOCKADDR_IN_SIZE,
  SOL_SOCKET,
} from "./libc.ts";
import { NAME_SLOT, writeSockaddr } from "./udp_layout.ts";
import { TX_SLOT } from "./udp_send.ts";
import type { InternedEndpoint } from "../shared/endpoint.ts";
import { haveCommands, must, runInsideNamespace, sh } from "../../tests/fixtures/netns.ts";
import { isIntact, PER_ROUND, sendRounds } from "../../tests/fixtures/udp_offload_peer.ts";
import { measureBetweenMarkers } from "../../tests/fixtures/gc_count.ts";

const LINUX = Deno.build.os === "linux";
const INSIDE = Deno.env.get("WEFT_UDP_OFFLOAD_NS") !== undefined;
const CAN_RUN_NS = LINUX && Deno.uid() === 0 && !INSIDE && (await haveCommands("ip", "tc"));

/** What the kernel offers (probed the way the transport does: by asking for it). */
const offload = await (async () => {
  if (!LINUX) return { gso: false, gro: false };
  const t = await LinuxUdpTransport.open({ port: 0, hostname: "127.0.0.1" });
  const found = { gso: t.gso, gro: t.gro };
  await t.close();
  return found;
})();
const noGso = !offload.gso || INSIDE;
const noOffload = !offload.gso || !offload.gro || INSIDE;

/** A sink that copies what it gets and lets a test wait for a number of datagrams. */
class CollectSink implements DatagramSink {
  readonly got: { data: Uint8Array; from: Endpoint }[] = [];

  datagram(data: Uint8Array, from: Endpoint): void {
    this.got.push({ data: data.slice(), from });
  }

  flush(): void {}

  async wait(n: number, ms = 5000): Promise<void> {
    const deadline = Date.now() + ms;
    while (this.got.length < n) {
      if (Date.now() > deadline) throw new Error(`timed out with ${this.got.length}/${n}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /** Waits until datagram `seq` came (everything sent before it on one path came first). */
  async until(seq: number, ms = 5000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!this.got.some((r) => seqOf(r.data) === seq)) {
      if (Date.now() > deadline) throw new Error(`timed out without ${seq}: got ${this.seqs()}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /** The sequence numbers received, in order. */
  seqs(): number[] {
    return this.got.map((r) => seqOf(r.data));
  }
}

/** Datagram `seq` of `size` bytes: the number (u32), then its low byte repeated. */
function numbered(seq: number, size: number): Uint8Array {
  const d = new Uint8Array(size);
  new DataView(d.buffer).setUint32(0, seq);
  d.fill(seq & 0xff, 4);
  return d;
}

function seqOf(d: Uint8Array): number {
  return new DataView(d.buffer, d.byteOffset).getUint32(0);
}

/** Asserts every datagram of `sink` is intact and has the length `lengths` says. */
function assertIntact(sink: CollectSink, lengths: Map<number, number>): void {
  for (const r of sink.got) {
    const seq = seqOf(r.data);
    assert.equal(r.data.length, lengths.get(seq), `length of ${seq}`);
    assert.ok(r.data.subarray(4).every((x) => x === (seq & 0xff)), `payload of ${seq}`);
  }
}

type Opened = LinuxUdpTransport & { sink: CollectSink };

async function open(
  hostname: string | undefined,
  extra: Partial<Parameters<typeof LinuxUdpTransport.open>[0]> = {},
): Promise<Opened> {
  const t = await LinuxUdpTransport.open({ port: 0, hostname, ...extra }) as Opened;
  t.sink = new CollectSink();
  t.start(t.sink);
  return t;
}

async function closeAll(...ts: LinuxUdpTransport[]): Promise<void> {
  for (const t of ts) await t.close();
}

for (const [label, bind, host] of [["IPv4", "127.0.0.1", "127.0.0.1"], ["IPv6", "::1", "[::1]"]]) {
  Deno.test({
    name: `GSO (${label}): a run of equal datagrams and a shorter last one arrive one by one`,
    ignore: noGso,
    async fn() {
      const a = await open(bind);
      const b = await open(bind, { gro: false });
      try {
        assert.equal(a.gso, true);
        assert.equal(b.gro, false);
        const to = a.endpoint(`${host}:${b.port}`);
        const lengths = new Map<number, number>();
        // One buffer reused for every send: the queue must hold copies.
        const buf = new Uint8Array(1200);
        for (let i = 0; i < 40; i++) {
          buf.set(numbered(i, 1200));
          a.send(buf, to);
          lengths.set(i, 1200);
        }
        a.send(numbered(40, 300), to);
        lengths.set(40, 300);
        a.flush();
        await b.sink.wait(41);
        assert.deepEqual(b.sink.seqs(), [...Array(41).keys()]);
        assertIntact(b.sink, lengths);
        const from = b.endpoint(`${host}:${a.port}`);
        for (const r of b.sink.got) assert.equal(r.from, from);
        assert.equal(a.stats.gsoMessages, 1, "one GSO message");
        assert.equal(a.stats.gsoSegments, 41);
        assert.equal(a.stats.datagramsOut, 41);
        assert.equal(a.stats.bytesOut, 40 * 1200 + 300);
        assert.equal(a.stats.gsoFallbacks, 0);
        assert.equal(b.stats.groMessages, 0, "a socket without GRO gets them cut apart");
        assert.equal(b.stats.datagramsIn, 41);
      } finally {
        await closeAll(a, b);
      }
    },
  });
}

Deno.test({
  name: "GSO: a send queue of sendBatch holds whole runs: 135 MTU-sized datagrams go as 3",
  ignore: noGso,
  async fn() {
    // The agent's case: the receive batch stays 64, the send queue is larger, so runs of 45
    // (the 65,507-byte cap) are not cut where a queue of 64 would have been flushed.
    const a = await open("127.0.0.1", { sendBatch: 256 });
    const b = await open("127.0.0.1", { gro: false });
    try {
      const to = a.endpoint(`127.0.0.1:${b.port}`);
      for (let i = 0; i < 135; i++) a.send(numbered(i, 1452), to);
      a.flush();
      await b.sink.wait(135);
      assert.equal(a.stats.gsoSegments, 135);
      assert.equal(a.stats.gsoMessages, 3, "three runs of 45, no queue flush between");
      assert.deepEqual(b.sink.seqs(), [...Array(135).keys()]);
    } finally {
      await closeAll(a, b);
    }
  },
});

Deno.test({
  name: "GSO: runs stop at 64 datagrams and at 65,507 bytes",
  ignore: noGso,
  async fn() {
    const a = await open("127.0.0.1", { batch: 256 });
    const b = await open("127.0.0.1", { gro: false });
    try {
      const to = a.endpoint(`127.0.0.1:${b.port}`);
      // 100 of 1000 bytes: 64 + 36 (the segment cap).
      for (let i = 0; i < 100; i++) a.send(numbered(i, 1000), to);
      a.flush();
      await b.sink.wait(100);
      assert.equal(a.stats.gsoMessages, 2);
      // 100 of 1452 bytes: 45 + 45 + 10 (45 * 1452 = 65,340 bytes; one more would pass 65,507).
      for (let i = 100; i < 200; i++) a.send(numbered(i, 1452), to);
      a.flush();
      await b.sink.wait(200);
      assert.equal(a.stats.gsoMessages, 5);
      assert.equal(a.stats.gsoSegments, 200);
      assert.deepEqual(b.sink.seqs(), [...Array(200).keys()]);
      const lengths = new Map([...Array(200).keys()].map((i) => [i, i < 100 ? 1000 : 1452]));
      assertIntact(b.sink, lengths);
    } finally {
      await closeAll(a, b);
    }
  },
});

/** `lengths` numbered datagrams laid end to end in one buffer, from `first`, at `offset`. */
function laidOut(first: number, lengths: number[], offset = 0): Uint8Array {
  const buf = new Uint8Array(offset + lengths.reduce((n, l) => n + l, 0));
  let off = offset;
  for (const [i, l] of lengths.entries()) {
    buf.set(numbered(first + i, l), off);
    off += l;
  }
  return buf.subarray(offset, offset + 1);
}

Deno.test({
  name: "GSO: sendRun sends a run laid out in the caller's buffer as one message, after the queue",
  ignore: noGso,
  async fn() {
    const a = await open("127.0.0.1");
    const b = await open("127.0.0.1", { gro: false });
    try {
      const to = a.endpoint(`127.0.0.1:${b.port}`);
      a.send(numbered(0, 200), to);
      a.send(numbered(1, 300), to);
      // 10 of 1,000 bytes and a last of 400, starting 7 bytes into the buffer (a receive's view).
      const lengths = [...Array(10).fill(1000), 400];
      const data = laidOut(2, lengths, 7);
      assert.equal(a.sendRun(data, 10_400, 1000, to), true);
      data.fill(0xee); // sent before the return: the buffer is the caller's again
      await b.sink.wait(13);
      assert.deepEqual(b.sink.seqs(), [...Array(13).keys()], "the queue first, then the run");
      const expect: [number, number][] = [
        [0, 200],
        [1, 300],
        ...lengths.map((l, i): [number, number] => [i + 2, l]),
      ];
      assertIntact(b.sink, new Map(expect));
      assert.equal(a.stats.gsoMessages, 1, "the run, one message");
      assert.equal(a.stats.gsoSegments, 11);
      assert.equal(a.stats.datagramsOut, 13);
      // Longer than one GSO send may be: refused, nothing sent.
      assert.equal(a.sendRun(data, 65 * 1000, 1000, to), false);
      assert.equal(a.stats.datagramsOut, 13);
    } finally {
      await closeAll(a, b);
    }
  },
});

Deno.test({
  name: "GSO: a sendRun the kernel refuses goes datagram by datagram, counted as a fallback",
  ignore: noGso,
  async fn() {
    const a = await open("127.0.0.1", { gsoFaults: [EINVAL] });
    const b = await open("127.0.0.1", { gro: false });
    try {
      const to = a.endpoint(`127.0.0.1:${b.port}`);
      const lengths = [...Array(5).fill(800), 100];
      assert.equal(a.sendRun(laidOut(0, lengths), 4100, 800, to), true);
      await b.sink.wait(6);
      assert.deepEqual(b.sink.seqs(), [...Array(6).keys()]);
      assertIntact(b.sink, new Map(lengths.map((l, i) => [i, l])));
      assert.equal(a.stats.gsoFallbacks, 1);
      assert.equal(a.stats.gsoMessages, 0);
      assert.equal(a.stats.datagramsOut, 6);
    } finally {
      await closeAll(a, b);
    }
  },
});

/**
 * One flush to two endpoints, as [endpoint, count, length] steps. The GSO messages it makes
 * (runs of 2 or more): b 5×800; c 3×800; b 2×800 + 400 (the short one ends the run); b 3×900;
 * c 100 (alone); b 4×500; b 600 + 2×600 (longer than 500: a new run); c 10×64.
 */
const MIXED: ["b" | "c", number, number][] = [
  ["b", 5, 800],
  ["c", 3, 800],
  ["b", 2, 800],
  ["b", 1, 400],
  ["b", 3, 900],
  ["c", 1, 100],
  ["b", 4, 500],
  ["b", 3, 600],
  ["c", 10, 64],
];

for (const gro of [false, true]) {
  Deno.test({
    name: `GSO: mixed lengths and endpoints in one flush keep their order per endpoint ` +
      `(receivers with GRO ${gro ? "on" : "off"})`,
    ignore: noOffload,
    async fn() {
      const a = await open("127.0.0.1");
      const b = await open("127.0.0.1", { gro });
      const c = await open("127.0.0.1", { gro });
      try {
        const to = { b: a.endpoint(`127.0.0.1:${b.port}`), c: a.endpoint(`127.0.0.1:${c.port}`) };
        const want = { b: [] as number[], c: [] as number[] };
        const lengths = new Map<number, number>();
        let seq = 0;
        for (const [dest, count, length] of MIXED) {
          for (let i = 0; i < count; i++, seq++) {
            a.send(numbered(seq, length), to[dest]);
            want[dest].push(seq);
            lengths.set(seq, length);
          }
        }
        a.flush();
        await b.sink.wait(want.b.length);
        await c.sink.wait(want.c.length);
        assert.deepEqual(b.sink.seqs(), want.b);
        assert.deepEqual(c.sink.seqs(), want.c);
        assertIntact(b.sink, lengths);
        assertIntact(c.sink, lengths);
        assert.equal(a.stats.gsoMessages, 7);
        assert.equal(a.stats.gsoSegments, 31);
        assert.equal(a.stats.datagramsOut, 32);
        if (gro) {
          // Each GSO run reaches its GRO socket whole and is split there.
          assert.equal(b.stats.groMessages + c.stats.groMessages, 7);
          assert.equal(b.stats.groSegments + c.stats.groSegments, 31);
        }
      } finally {
        await closeAll(a, b, c);
      }
    },
  });
}

Deno.test({
  name: "GRO: coalesced runs from two senders are split into their datagrams, intact and in " +
    "order, each with its sender's endpoint",
  ignore: noOffload,
  async fn() {
    const s1 = await open("::1");
    const s2 = await open("::1");
    const r = await open("::", { gro: true });
    try {
      assert.equal(r.gro, true);
      const lengths = new Map<number, number>();
      const want = new Map<number, number[]>([[s1.port, []], [s2.port, []]]);
      let seq = 0;
      // Bursts of several lengths (each a new set of views), interleaved between the senders;
      // each burst ends with a short datagram, except every third.
      for (let round = 0; round < 30; round++) {
        for (const s of [s1, s2]) {
          const to = s.endpoint(`[::1]:${r.port}`);
          const length = [1452, 1000, 333, 1452, 64][(round + s.port) % 5];
          const count = 10 + (round % 7) * 5;
          for (let i = 0; i < count; i++, seq++) {
            const len = i === count - 1 && round % 3 !== 0 ? length - 16 : length;
            s.send(numbered(seq, len), to);
            lengths.set(seq, len);
            want.get(s.port)!.push(seq);
          }
          s.flush();
        }
        await new Promise((res) => setTimeout(res, 1));
      }
      await r.sink.wait(seq);
      assertIntact(r.sink, lengths);
      const from1 = r.endpoint(`[::1]:${s1.port}`);
      const from2 = r.endpoint(`[::1]:${s2.port}`);
      const by = (from: Endpoint) =>
        r.sink.got.filter((g) => g.from === from).map((g) => seqOf(g.data));
      assert.deepEqual(by(from1), want.get(s1.port));
      assert.deepEqual(by(from2), want.get(s2.port));
      assert.ok(r.stats.groMessages > 0, "the receiver got coalesced messages");
      assert.equal(r.stats.groSegments, s1.stats.gsoSegments + s2.stats.gsoSegments);
      assert.equal(r.stats.datagramsIn, seq);
      assert.equal(r.stats.recvErrors, 0);
    } finally {
      await closeAll(s1, s2, r);
    }
  },
});

Deno.test({
  name: "GRO: with a small maxDatagram, longer segments are dropped and counted, shorter pass",
  ignore: noOffload,
  async fn() {
    const a = await open("127.0.0.1");
    const r = await open("127.0.0.1", { maxDatagram: 512 });
    try {
      const to = a.endpoint(`127.0.0.1:${r.port}`);
      for (let i = 0; i < 5; i++) a.send(numbered(i, 600), to); // all too long
      a.send(numbered(5, 400), to); // the run's short last one: it fits
      for (let i = 6; i < 11; i++) a.send(numbered(i, 512), to); // fits
      a.send(numbered(11, 5000), to); // sent alone (too big for a queue slot), too long
      a.send(numbered(12, 20), to);
      a.flush();
      await r.sink.wait(7);
      await new Promise((res) => setTimeout(res, 50));
      assert.deepEqual(r.sink.seqs(), [5, 6, 7, 8, 9, 10, 12]);
      assert.equal(r.stats.recvErrors, 6);
    } finally {
      await closeAll(a, r);
    }
  },
});

Deno.test({
  name: "GSO: empty datagrams stay datagrams of their own",
  ignore: noGso,
  async fn() {
    const a = await open("127.0.0.1");
    const b = await open("127.0.0.1", { gro: false });
    try {
      const to = a.endpoint(`127.0.0.1:${b.port}`);
      for (let i = 0; i < 3; i++) a.send(new Uint8Array(0), to);
      a.send(numbered(3, 40), to);
      a.flush();
      await b.sink.wait(4);
      assert.deepEqual(b.sink.got.map((g) => g.data.length), [0, 0, 0, 40]);
      assert.equal(a.stats.gsoMessages, 0);
    } finally {
      await closeAll(a, b);
    }
  },
});

Deno.test({
  name: "gso: false and gro: false keep one datagram per message",
  ignore: !LINUX || INSIDE,
  async fn() {
    const a = await open("127.0.0.1", { gso: false, gro: false });
    const b = await open("127.0.0.1", { gso: false, gro: false });
    try {
      assert.equal(a.gso, false);
      assert.equal(b.gro, false);
      const to = a.endpoint(`127.0.0.1:${b.port}`);
      for (let i = 0; i < 50; i++) a.send(numbered(i, 1000), to);
      a.flush();
      await b.sink.wait(50);
      assert.deepEqual(b.sink.seqs(), [...Array(50).keys()]);
      assert.deepEqual(
        [a.stats.gsoMessages, a.stats.gsoSegments, a.stats.gsoFallbacks, a.stats.datagramsOut],
        [0, 0, 0, 50],
      );
      assert.deepEqual([b.stats.groMessages, b.stats.groSegments], [0, 0]);
    } finally {
      await closeAll(a, b);
    }
  },
});

Deno.test({
  name: "GSO: EIO turns GSO off and resends the run datagram by datagram; EINVAL only resends",
  ignore: noGso,
  async fn() {
    for (const e of [EINVAL, EIO]) {
      const faults = [e];
      const a = await open("127.0.0.1", { gsoFaults: faults });
      const b = await open("127.0.0.1", { gro: false });
      try {
        const to = a.endpoint(`127.0.0.1:${b.port}`);
        const lengths = new Map<number, number>();
        const send = (seq: number, length: number) => {
          a.send(numbered(seq, length), to);
          lengths.set(seq, length);
        };
        // A lone datagram goes first (sent before the failing run), then two runs (700 bytes
        // with a short last one, then 300 bytes): from the failing run on, the queue is resent
        // one datagram per message.
        send(0, 100);
        for (let i = 1; i <= 10; i++) send(i, 700);
        send(11, 50);
        for (let i = 12; i < 20; i++) send(i, 300);
        a.flush();
        assert.deepEqual(faults, [], "the fault was used");
        await b.sink.wait(20);
        assert.deepEqual(b.sink.seqs(), [...Array(20).keys()]);
        assertIntact(b.sink, lengths);
        assert.equal(a.stats.gsoFallbacks, 1);
        assert.equal(a.stats.gsoMessages, 0);
        assert.equal(a.stats.datagramsOut, 20);
        assert.equal(a.stats.sendErrors, 0);
        assert.equal(a.gso, e !== EIO, "EIO turns GSO off, EINVAL does not");
        // The next run (shorter than the refused one): GSO still, or plain once turned off.
        for (let i = 20; i < 40; i++) send(i, 500);
        a.flush();
        await b.sink.wait(40);
        assert.deepEqual(b.sink.seqs(), [...Array(40).keys()]);
        assert.equal(a.stats.gsoMessages, e === EIO ? 0 : 1);
        assert.equal(a.stats.datagramsOut, 40);
      } finally {
        await closeAll(a, b);
      }
    }
  },
});

const allocChild = new URL("../../tests/fixtures/udp_alloc_child.ts", import.meta.url);

/** Runs the allocation fixture; returns its counters and the collections between its markers. */
async function allocRun(
  mode: string,
): Promise<{ collections: number; result: Record<string, number> }> {
  const { collections, report } = await measureBetweenMarkers(allocChild, mode);
  return { collections, result: JSON.parse(report) };
}

Deno.test({
  name: "GSO and GRO: sending and receiving runs allocates nothing per datagram",
  ignore: noOffload,
  async fn() {
    const control = await allocRun("allocating");
    assert.ok(control.collections > 0, "the control registered no collection");
    for (const mode of ["offload", "plain"]) {
      const { collections, result } = await allocRun(mode);
      assert.equal(result.bad, 0, mode);
      assert.ok(result.received >= result.sent * 0.99, `${mode}: ${JSON.stringify(result)}`);
      if (mode === "offload") assert.ok(result.gsoMessages > 0 && result.groMessages > 0);
      assert.equal(collections, 0, `${mode} allocated: ${JSON.stringify(result)}`);
    }
  },
});

Deno.test({
  name: "GSO and GRO in network namespaces of their own (runs the inside: tests there)",
  ignore: !CAN_RUN_NS || !offload.gso || !offload.gro,
  async fn() {
    const { success, text } = await runInsideNamespace(
      new URL(import.meta.url).pathname,
      "WEFT_UDP_OFFLOAD_NS",
      "weft-gso",
    );
    assert.ok(success, text);
    assert.match(text, /ok \| 7 passed \| 0 failed/, text);
  },
});

Deno.test({
  name: "inside: runs too long for the route's MTU are refused by the kernel and resent one by one",
  ignore: !INSIDE,
  async fn() {
    await must("ip", "link", "set", "lo", "mtu", "1280");
    const a = await open("127.0.0.1");
    const b = await open("127.0.0.1", { gro: false });
    try {
      const to = a.endpoint(`127.0.0.1:${b.port}`);
      const lengths = new Map<number, number>();
      // 1400 bytes do not fit 1280 without fragmenting: GSO refuses the run, plain sends fragment.
      for (let i = 0; i < 20; i++) {
        const length = i < 10 ? 1400 : 1000;
        a.send(numbered(i, length), to);
        lengths.set(i, length);
        if (i === 9) a.flush();
      }
      a.flush();
      await b.sink.wait(20);
      assert.deepEqual(b.sink.seqs(), [...Array(20).keys()]);
      assertIntact(b.sink, lengths);
      assert.equal(a.stats.gsoFallbacks, 1);
      assert.equal(a.stats.gsoMessages, 1, "the 1000-byte run still went as one message");
      assert.equal(a.gso, true, "GSO stays on for runs that fit");
      // The refused size is not tried again for that endpoint: no second failed send.
      for (let i = 20; i < 30; i++) {
        a.send(numbered(i, 1400), to);
        lengths.set(i, 1400);
      }
      a.flush();
      await b.sink.wait(30);
      assert.deepEqual(b.sink.seqs(), [...Array(30).keys()]);
      assertIntact(b.sink, lengths);
      assert.equal(a.stats.gsoFallbacks, 1);
      assert.equal(a.stats.gsoMessages, 1);
    } finally {
      await closeAll(a, b);
      await must("ip", "link", "set", "lo", "mtu", "65536");
    }
  },
});

/**
 * Runs `fn` with a route that holds what is sent on it: 198.51.100.2 over a veth whose tbf lets
 * 8 kbit/s through. Datagrams waiting there are still charged to the socket that sent them, so
 * its send buffer fills and sends meet EAGAIN, as on a slow uplink. The veth goes afterwards.
 */
async function withHoldingRoute(fn: (dead: string) => Promise<void>): Promise<void> {
  await must("ip", "link", "add", "f8hold0", "type", "veth", "peer", "name", "f8hold1");
  try {
    await must("ip", "addr", "add", "198.51.100.1/24", "dev", "f8hold0");
    await must("ip", "link", "set", "f8hold0", "up");
    await must("ip", "link", "set", "f8hold1", "up");
    const lladdr = "02:00:00:00:00:02";
    await must("ip", "neigh", "replace", "198.51.100.2", "lladdr", lladdr, "dev", "f8hold0");
    await must(
      "tc",
      ...["qdisc", "add", "dev", "f8hold0", "root", "tbf", "rate", "8kbit", "burst", "2000"],
      ...["limit", "10000000"],
    );
    await fn("198.51.100.2:9");
  } finally {
    await sh("ip", "link", "del", "f8hold0");
  }
}

/** Sets the socket's send buffer (SO_SNDBUFFORCE): a larger one makes a full socket writable. */
function setSendBuffer(t: LinuxUdpTransport, bytes: number): void {
  const v = new Uint8Array(new Int32Array([bytes]).buffer);
  assert.equal(libc().setsockopt(t.fd, SOL_SOCKET, SO_SNDBUFFORCE, v, 4), 0, "SO_SNDBUFFORCE");
}

/** Sends 1,000-byte datagrams to `dead` with sendto, around the queue, until the socket is full. */
function fillSocket(t: LinuxUdpTransport, dead: Endpoint): void {
  const name = new Uint8Array(NAME_SLOT);
  writeSockaddr(new DataView(name.buffer), 0, dead as InternedEndpoint, t.family);
  const nameLen = t.family === 6 ? SOCKADDR_IN6_SIZE : SOCKADDR_IN_SIZE;
  const filler = new Uint8Array(1000);
  for (let i = 0; i < 100_000; i++) {
    if (libc().sendto(t.fd, filler, filler.length, MSG_DONTWAIT, name, nameLen) < 0) {
      assert.equal(errno(), EAGAIN);
      return;
    }
  }
  assert.fail("the send buffer never filled");
}

/** Sends through `t`'s queue to `dead` until a flush meets EAGAIN: the queue then waits. */
function fillQueue(t: LinuxUdpTransport, dead: Endpoint): void {
  const filler = new Uint8Array(1000);
  for (let i = 0; !t.wantsWrite; i++) {
    assert.ok(i < 100_000, "the send buffer never filled");
    t.send(filler, dead);
    t.flush();
  }
}

/**
 * Makes `a`'s queue wait for its full socket with datagrams 0 to 2 (1,000 bytes, to `to`) in it,
 * then lets the socket take more without the poller having said so (no await since): the queue
 * still waits.
 */
function waitingQueue(a: LinuxUdpTransport, dead: Endpoint, to: Endpoint): void {
  fillQueue(a, dead);
  for (let seq = 0; seq < 3; seq++) a.send(numbered(seq, 1000), to);
  setSendBuffer(a, 8 << 20);
}

/** A sender and a receiver for the tests of a send queue that waits for a full socket. */
interface HeldPair {
  /** Whether `a` sends runs with GSO. */
  gso: boolean;
  /** The sender, with a 64 KiB send buffer that the held route fills. */
  a: Opened;
  /** The receiver on loopback, GRO off, collecting what reaches it. */
  b: Opened;
  /** `b` as `a` reaches it. */
  to: Endpoint;
  /** The held route's address as `a` names it: what is sent there fills `a`'s socket. */
  dead: Endpoint;
}

/** Runs `fn` over the held route on a fresh pair, once with GSO and once without; both closed. */
async function withHeldPair(fn: (p: HeldPair) => Promise<void>): Promise<void> {
  await withHoldingRoute(async (deadText) => {
    for (const gso of [true, false]) {
      const a = await open(undefined, { gso, socketBuffer: 65536 });
      const b = await open("127.0.0.1", { gro: false });
      try {
        const to = a.endpoint(`127.0.0.1:${b.port}`);
        await fn({ gso, a, b, to, dead: a.endpoint(deadText) });
      } finally {
        await closeAll(a, b);
      }
    }
  });
}

/** Sends a run as the relay server does: by sendRun, or datagram by datagram when it says false. */
function sendRunOrEach(
  t: LinuxUdpTransport,
  run: Uint8Array,
  length: number,
  size: number,
  to: Endpoint,
): boolean {
  if (t.sendRun(run, length, size, to)) return true;
  const buf = new Uint8Array(run.buffer, run.byteOffset, length);
  for (let off = 0; off < length; off += size) {
    t.send(buf.subarray(off, Math.min(off + size, length)), to);
  }
  return false;
}

Deno.test({
  name: "inside: a sendRun does not overtake a queue that waits for the socket to become writable",
  ignore: !INSIDE,
  async fn() {
    await withHeldPair(async ({ gso, a, b, to, dead }) => {
      waitingQueue(a, dead, to);
      // What is queued must go first.
      const taken = sendRunOrEach(a, laidOut(3, [1000, 1000, 1000, 1000]), 4000, 1000, to);
      a.send(numbered(7, 1000), to);
      a.flush();
      await b.sink.wait(8);
      assert.deepEqual(
        b.sink.seqs(),
        [...Array(8).keys()],
        `gso ${gso}: the queue, then the run`,
      );
      assert.equal(taken, false, "while the queue waits, sendRun sends nothing");
      assert.equal(a.stats.sendDrops, 0);
    });
  },
});

Deno.test({
  name: "inside: a datagram too large for a queue slot does not overtake a queue that waits for " +
    "the socket to become writable: dropped and counted",
  ignore: !INSIDE,
  async fn() {
    await withHeldPair(async ({ gso, a, b, to, dead }) => {
      waitingQueue(a, dead, to);
      // The large datagram (no slot to wait in) must not go now.
      const drops = a.stats.sendDrops;
      a.send(numbered(3, TX_SLOT + 1000), to);
      a.send(numbered(4, 1000), to);
      a.flush();
      await b.sink.until(4);
      assert.deepEqual(b.sink.seqs(), [0, 1, 2, 4], `gso ${gso}: the queue, in order`);
      assert.equal(a.stats.sendDrops - drops, 1, `gso ${gso}: the large datagram counted`);
      // With the queue sent, a large datagram goes again, after what was queued.
      a.send(numbered(5, 1000), to);
      a.send(numbered(6, TX_SLOT + 1000), to);
      await b.sink.until(6);
      assert.deepEqual(b.sink.seqs(), [0, 1, 2, 4, 5, 6], `gso ${gso}: then the rest`);
      assertIntact(
        b.sink,
        new Map([[0, 1000], [1, 1000], [2, 1000], [4, 1000], [5, 1000], [6, TX_SLOT + 1000]]),
      );
    });
  },
});

Deno.test({
  name: "inside: a sendRun that meets a full socket waits in the queue, in order, and is not lost",
  ignore: !INSIDE,
  async fn() {
    await withHeldPair(async ({ gso, a, b, to, dead }) => {
      // The socket full, the queue empty and not waiting: the run's own send meets EAGAIN.
      fillSocket(a, dead);
      assert.equal(a.wantsWrite, false);
      const lengths = [1000, 1000, 1000, 1000, 400];
      sendRunOrEach(a, laidOut(0, lengths), 4400, 1000, to);
      a.send(numbered(5, 100), to);
      a.flush();
      setSendBuffer(a, 8 << 20);
      await b.sink.until(5);
      assert.deepEqual(
        b.sink.seqs(),
        [...Array(6).keys()],
        `gso ${gso}: the run, then the rest`,
      );
      assertIntact(b.sink, new Map([...lengths, 100].map((l, i) => [i, l])));
      assert.equal(a.stats.sendDrops, 0, `gso ${gso}: nothing dropped`);
    });
  },
});

/** Runs `fn` with a second namespace joined to this one by a veth pair (192.0.2.1 here, .2 there). */
async function withPeerNamespace(fn: (ns: string) => Promise<void>): Promise<void> {
  const ns = `weft-gso-peer-${crypto.randomUUID().slice(0, 8)}`;
  await must("ip", "netns", "add", ns);
  try {
    await must("ip", "-n", ns, "link", "set", "lo", "up");
    await must("ip", "link", "add", "gso0", "type", "veth", "peer", "name", "gso1", "netns", ns);
    await must("ip", "addr", "add", "192.0.2.1/24", "dev", "gso0");
    await must("ip", "link", "set", "gso0", "up");
    await must("ip", "-n", ns, "addr", "add", "192.0.2.2/24", "dev", "gso1");
    await must("ip", "-n", ns, "link", "set", "gso1", "up");
    // Neighbours fixed up front: a run must not wait in an ARP queue (it holds a few only).
    const mac = async (args: string[]) => JSON.parse(await must("ip", ...args))[0].address;
    const here = await mac(["-j", "link", "show", "gso0"]);
    const there = await mac(["-n", ns, "-j", "link", "show", "gso1"]);
    await must("ip", "neigh", "replace", "192.0.2.2", "lladdr", there, "dev", "gso0");
    await must("ip", "-n", ns, "neigh", "replace", "192.0.2.1", "lladdr", here, "dev", "gso1");
    await fn(ns);
  } finally {
    // The pair first, at once: a namespace's devices go some time after it is deleted, and
    // the next test makes gso0 again (under load it found it still there: "File exists").
    await sh("ip", "link", "del", "gso0");
    await sh("ip", "netns", "del", ns);
  }
}

/** Starts the peer fixture in `ns`; its JSON lines come from `next()`. */
function peer(ns: string, ...args: string[]) {
  const fixture = new URL("../../tests/fixtures/udp_offload_peer.ts", import.meta.url).pathname;
  const child = new Deno.Command("ip", {
    args: ["netns", "exec", ns, Deno.execPath(), "run", "-A", fixture, ...args],
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  const stderr = new Response(child.stderr).text();
  return {
    async next(): Promise<Record<string, unknown>> {
      for (;;) {
        const nl = buf.indexOf("\n");
        if (nl >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          return JSON.parse(line);
        }
        const { value, done } = await reader.read();
        if (done) throw new Error(`peer ended: ${await stderr}`);
        buf += value;
      }
    },
    async done(): Promise<void> {
      reader.releaseLock();
      await child.stdout.cancel().catch(() => {});
      const status = await child.status;
      assert.ok(status.success, await stderr);
    },
  };
}

Deno.test({
  name: "inside: over a veth pair, GSO runs from another namespace arrive coalesced and are split",
  ignore: !INSIDE,
  async fn() {
    await withPeerNamespace(async (ns) => {
      // Dual-stack, as the agent's socket: IPv4 senders come as IPv4-mapped addresses.
      const r = await open(undefined, { gro: true });
      try {
        const rounds = 40;
        const p = peer(ns, "send", "192.0.2.1", String(r.port), String(rounds), "on");
        const sent = await p.next();
        await p.done();
        assert.equal(sent.sent, rounds * PER_ROUND);
        assert.ok((sent.gsoMessages as number) > 0);
        await r.sink.wait(rounds * PER_ROUND);
        const from = r.sink.got[0].from;
        assert.equal(String(from), `192.0.2.2:${from.port}`);
        for (const [i, g] of r.sink.got.entries()) {
          assert.equal(g.from, from);
          assert.equal(seqOf(g.data), i, "in order");
        }
        for (const [i, g] of r.sink.got.entries()) assert.ok(isIntact(g.data, i), `datagram ${i}`);
        assert.ok(r.stats.groMessages > 0, "coalesced across the veth");
        assert.equal(r.stats.groSegments, sent.gsoSegments);
      } finally {
        await r.close();
      }
    });
  },
});

Deno.test({
  name: "inside: over a veth pair, GSO sends reach a plain receiver as separate datagrams",
  ignore: !INSIDE,
  async fn() {
    await withPeerNamespace(async (ns) => {
      const rounds = 40;
      const p = peer(ns, "recv", "9999", String(rounds * PER_ROUND), "off");
      assert.deepEqual(await p.next(), { ready: true });
      // Dual-stack, as the agent's socket: GSO to an IPv4-mapped address.
      const a = await open(undefined);
      try {
        await sendRounds(a, a.endpoint("192.0.2.2:9999"), rounds);
        const got = await p.next();
        await p.done();
        assert.equal(got.received, rounds * PER_ROUND);
        assert.equal(got.outOfOrder, 0);
        assert.equal(got.damaged, 0);
        assert.equal(got.groMessages, 0);
        assert.deepEqual(got.from, [`192.0.2.1:${a.port}`]);
        assert.ok(a.stats.gsoMessages > 0);
        assert.equal(a.stats.datagramsOut, rounds * PER_ROUND);
      } finally {
        await a.close();
      }
    });
  },
});

/** Counters of DSCP rules put on OUTPUT for UDP to `port`: {dscp: [packets, bytes]}. */
async function dscpCounters(
  cmd: "iptables" | "ip6tables",
  port: number,
  dscps: number[],
): Promise<() => Promise<Map<number, [number, number]>>> {
  for (const d of dscps) {
    await must(
      cmd,
      "-A",
      "OUTPUT",
      "-p",
      "udp",
      "--dport",
      String(port),
      "-m",
      "dscp",
      "--dscp",
      String(d),
    );
  }
  return async () => {
    const out = new Map<number, [number, number]>();
    for (const line of (await must(cmd, "-L", "OUTPUT", "-v", "-n", "-x")).split("\n")) {
      const m = /^\s*(\d+)\s+(\d+)\s.*dpt:(\d+) DSCP match 0x([0-9a-f]+)/.exec(line);
      if (m && Number(m[3]) === port) out.set(parseInt(m[4], 16), [Number(m[1]), Number(m[2])]);
    }
    return out;
  };
}

Deno.test({
  name:
    "inside: datagrams carry the TOS they are sent with (IP_TOS, IPV6_TCLASS), GSO runs and the fallback alike",
  ignore: !INSIDE,
  async fn() {
    const marks = [0, 44, 10]; // DSCPs: none, interactive, bulk (lib/policy/qos.ts)
    for (
      const [label, bind, host, cmd, header] of [
        ["IPv4", "127.0.0.1", "127.0.0.1", "iptables", 28],
        ["IPv6", "::1", "[::1]", "ip6tables", 48],
      ] as const
    ) {
      for (const gso of [true, false]) {
        // Dual-stack, as the agent's socket: IPv4 goes IPv4-mapped, and takes IP_TOS.
        const a = await open(undefined, { gso });
        const b = await open(bind, { gro: false });
        try {
          const read = await dscpCounters(cmd, b.port, marks);
          const to = a.endpoint(`${host}:${b.port}`);
          // Runs of equal datagrams to one endpoint, and one alone: a mark that changes starts
          // a new message.
          const groups: [number, number][] = [[0, 5], [44, 5], [10, 5], [44, 1], [0, 5]];
          let seq = 0;
          for (const [dscp, n] of groups) {
            for (let i = 0; i < n; i++) a.send(numbered(seq++, 200), to, dscp << 2);
          }
          a.flush();
          await b.sink.wait(seq);
          assert.deepEqual(b.sink.seqs(), [...Array(seq).keys()], `${label} gso ${gso}`);
          const got = await read();
          for (const dscp of marks) {
            const n = groups.reduce((sum, [d, k]) => sum + (d === dscp ? k : 0), 0);
            const [, bytes] = got.get(dscp) ?? [0, 0];
            // Whole runs or their datagrams, counted where the mark put them.
            assert.ok(
              bytes >= n * 200 && bytes <= n * (200 + header),
              `${label} gso ${gso}: DSCP ${dscp} counted ${bytes} bytes for ${n} datagrams`,
            );
          }
          if (gso) assert.ok(a.stats.gsoMessages > 0, "the runs went as GSO sends");
        } finally {
          await closeAll(a, b);
          await sh(cmd, "-F", "OUTPUT");
        }
      }
    }
    // A run the kernel refuses (too long for the route's MTU) goes again datagram by datagram,
    // each with the run's mark.
    await must("ip", "link", "set", "lo", "mtu", "1280");
    const a = await open("127.0.0.1");
    const b = await open("127.0.0.1", { gro: false });
    try {
      const read = await dscpCounters("iptables", b.port, [0, 44]);
      const to = a.endpoint(`127.0.0.1:${b.port}`);
      for (let i = 0; i < 10; i++) a.send(numbered(i, 1400), to, 44 << 2);
      a.flush();
      await b.sink.wait(10);
      assert.ok(a.stats.gsoFallbacks >= 1, "the run was refused");
      const got = await read();
      assert.deepEqual(got.get(44), [10, 10 * 1428], "every datagram marked");
      assert.deepEqual(got.get(0), [0, 0]);
    } finally {
      await closeAll(a, b);
      await sh("iptables", "-F", "OUTPUT");
      await must("ip", "link", "set", "lo", "mtu", "65536");
    }
  },
});
