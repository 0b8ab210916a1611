import assert from "node:assert/strict";
import { TunOffload } from "./tun_offload.ts";
import { TCP_ACK, TCP_PSH } from "./gso_split.ts";
import {
  decodeVnetHeader,
  encodeVnetHeader,
  GSO_NONE,
  GSO_TCPV4,
  GSO_UDP_L4,
  newVnetHeader,
  VNET_F_NEEDS_CSUM,
  VNET_HDR_LEN,
} from "./vnet.ts";
import type { PacketSink } from "../../lib/io/driver.ts";
import { simdSumOf } from "../../lib/net/checksum_simd.ts";
import { buildPacket, checksumsValid, randomBytes, refPseudo } from "../testing/ip_packets.ts";

const MTU = 1420;

interface Emitted {
  header: ReturnType<typeof newVnetHeader>;
  packet: Uint8Array;
}

function setup(opts: { queue?: number; fail?: boolean; gather?: boolean } = {}) {
  const emitted: Emitted[] = [];
  const counts = { written: 0, bytes: 0, errors: 0, sinkErrors: 0, gathered: 0 };
  const record = (bytes: Uint8Array) => {
    const header = newVnetHeader();
    decodeVnetHeader(bytes, 0, header);
    emitted.push({ header, packet: bytes.slice(VNET_HDR_LEN) });
    return opts.fail ? -1 : bytes.length;
  };
  const off: TunOffload = new TunOffload({
    mtu: MTU,
    queue: opts.queue,
    emit: (at, len) => record(off.arena.subarray(at, at + len)),
    emitv: opts.gather
      ? (ranges, count) => {
        counts.gathered++;
        const parts: number[] = [];
        for (let k = 0; k < count; k++) {
          parts.push(...off.arena.subarray(ranges[2 * k], ranges[2 * k] + ranges[2 * k + 1]));
        }
        return record(new Uint8Array(parts));
      }
      : undefined,
    onWritten: (p, b) => {
      counts.written += p;
      counts.bytes += b;
    },
    onWriteError: (p) => (counts.errors += p),
    onError: () => counts.sinkErrors++,
  });
  return { off, emitted, counts };
}

function collect(): PacketSink & { got: Uint8Array[] } {
  const got: Uint8Array[] = [];
  return { got, packet: (p) => void got.push(p.slice()), flush() {} };
}

/** Puts a read (header + packet) where the TUN reads; returns its length. */
function putRead(off: TunOffload, pkt: Uint8Array, h: Parameters<typeof encode>[0] = {}): number {
  encode(h, off.arena);
  off.arena.set(pkt, VNET_HDR_LEN);
  return VNET_HDR_LEN + pkt.length;
}

function encode(
  h: { flags?: number; type?: number; size?: number; start?: number; offset?: number },
  buf: Uint8Array,
): void {
  encodeVnetHeader(
    buf,
    0,
    h.flags ?? 0,
    h.type ?? GSO_NONE,
    0,
    h.size ?? 0,
    h.start ?? 0,
    h.offset ?? 0,
  );
}

/** Replaces the transport checksum with the pseudo-header's sum, as the kernel leaves it. */
function partial(pkt: Uint8Array, field: number): Uint8Array {
  const hl = pkt[0] >> 4 === 4 ? 20 : 40;
  const ps = refPseudo(pkt, pkt.length - hl);
  pkt[hl + field] = ps >> 8;
  pkt[hl + field + 1] = ps & 0xff;
  return pkt;
}

Deno.test("reads: a plain packet as it is, a partial checksum completed", () => {
  const { off } = setup();
  const sink = collect();
  const udp = buildPacket({ proto: "udp", payload: randomBytes(100) });
  assert.equal(off.handleRead(putRead(off, udp), sink), 1);
  assert.deepEqual(sink.got[0], udp);
  const tcp = buildPacket({ version: 6, payload: randomBytes(999) });
  const n = putRead(off, partial(tcp.slice(), 16), {
    flags: VNET_F_NEEDS_CSUM,
    start: 40,
    offset: 16,
  });
  assert.equal(off.handleRead(n, sink), 1);
  assert.deepEqual(sink.got[1], tcp);
  assert.equal(off.stats.checksumsCompleted, 1);
});

Deno.test("reads: a 64 KB TSO packet is cut into MTU-sized packets, a USO one into datagrams", () => {
  const { off } = setup();
  const sink = collect();
  const payload = randomBytes(65535 - 40);
  const big = partial(buildPacket({ payload, flags: 0x18 }), 16);
  const n = putRead(off, big, {
    flags: VNET_F_NEEDS_CSUM,
    type: GSO_TCPV4,
    size: MTU - 40,
    start: 20,
    offset: 16,
  });
  assert.equal(off.handleRead(n, sink), Math.ceil(payload.length / (MTU - 40)));
  assert.ok(sink.got.every((p) => p.length <= MTU && checksumsValid(p)));
  const joined = new Uint8Array(payload.length);
  let at = 0;
  for (const p of sink.got) {
    joined.set(p.subarray(40), at);
    at += p.length - 40;
  }
  assert.deepEqual(joined, payload);
  assert.equal(off.stats.gsoReads, 1);
  assert.equal(off.stats.segments, sink.got.length);
  const udpSink = collect();
  const dgrams = partial(buildPacket({ proto: "udp", version: 6, payload: randomBytes(5000) }), 6);
  const m = putRead(off, dgrams, {
    flags: VNET_F_NEEDS_CSUM,
    type: GSO_UDP_L4,
    size: 1200,
    start: 40,
    offset: 6,
  });
  assert.equal(off.handleRead(m, udpSink), 5);
  assert.deepEqual(udpSink.got.map((p) => p.length), [1248, 1248, 1248, 1248, 248]);
  assert.ok(udpSink.got.every(checksumsValid));
});

Deno.test("reads: what cannot be right is dropped and counted; a throwing sink is reported", () => {
  const { off, counts } = setup();
  const sink = collect();
  assert.equal(off.handleRead(VNET_HDR_LEN, sink), 0);
  assert.equal(off.handleRead(3, sink), 0);
  assert.equal(off.handleRead(off.rxSize + 1, sink), 0);
  const pkt = buildPacket({ payload: randomBytes(3000) });
  assert.equal(off.handleRead(putRead(off, pkt, { type: GSO_TCPV4, size: 0 }), sink), 0);
  assert.equal(off.handleRead(putRead(off, pkt, { type: 9, size: 1000 }), sink), 0);
  assert.equal(
    off.handleRead(putRead(off, pkt, { flags: VNET_F_NEEDS_CSUM, start: 3030, offset: 16 }), sink),
    0,
  );
  assert.equal(off.stats.readDrops, 6);
  assert.equal(sink.got.length, 0);
  const throwing: PacketSink = {
    packet() {
      throw new Error("sink");
    },
    flush() {},
  };
  const n = putRead(off, pkt, {
    type: GSO_TCPV4,
    size: 1000,
    flags: VNET_F_NEEDS_CSUM,
    start: 20,
    offset: 16,
  });
  assert.equal(off.handleRead(n, throwing), 3);
  assert.equal(counts.sinkErrors, 3);
});

Deno.test("reads: segments larger than the MTU (the MTU was raised) still go, one at a time", () => {
  const { off } = setup();
  const sink = collect();
  const payload = randomBytes(9000);
  const pkt = partial(buildPacket({ payload }), 16);
  const n = putRead(off, pkt, {
    flags: VNET_F_NEEDS_CSUM,
    type: GSO_TCPV4,
    size: 4000,
    start: 20,
    offset: 16,
  });
  assert.equal(off.handleRead(n, sink), 3);
  assert.deepEqual(sink.got.map((p) => p.length), [4040, 4040, 1040]);
  assert.ok(sink.got.every(checksumsValid));
  assert.deepEqual(sink.got[2].subarray(40), payload.subarray(8000));
});

Deno.test("writes: queued, coalesced at flush, each write with its header; the queue flushes when full", () => {
  const { off, emitted, counts } = setup({ queue: 16 });
  const segs: Uint8Array[] = [];
  for (let i = 0; i < 10; i++) {
    segs.push(buildPacket({ seq: 5000 + i * 1380, id: 9 + i, payload: randomBytes(1380) }));
  }
  const udp = buildPacket({ proto: "udp", payload: randomBytes(10) });
  for (const s of segs.slice(0, 5)) off.write(s);
  off.write(udp);
  for (const s of segs.slice(5)) off.write(s);
  assert.equal(off.queued, 11);
  assert.equal(emitted.length, 0);
  off.flush();
  assert.equal(off.queued, 0);
  // The ten segments merged (the UDP packet between them is another flow), then the UDP packet.
  assert.equal(emitted.length, 2);
  assert.equal(emitted[0].header.gsoType, GSO_TCPV4);
  assert.equal(emitted[0].header.gsoSize, 1380);
  assert.equal(emitted[0].packet.length, 40 + 10 * 1380);
  assert.deepEqual(emitted[1].header, newVnetHeader());
  assert.deepEqual(emitted[1].packet, udp);
  assert.equal(counts.written, 11);
  assert.equal(counts.bytes, 10 * 1420 + udp.length);
  assert.equal(off.stats.coalescedWrites, 1);
  assert.equal(off.stats.coalescedPackets, 10);
  off.flush(); // nothing queued: nothing written
  assert.equal(emitted.length, 2);
  // A full queue flushes itself.
  for (let i = 0; i < 17; i++) off.write(udp);
  assert.equal(emitted.length, 2 + 16);
  assert.equal(off.queued, 1);
  // A packet larger than the MTU goes at once, after what was queued.
  const big = buildPacket({ proto: "udp", payload: randomBytes(3000) });
  off.write(big);
  assert.equal(off.queued, 0);
  assert.deepEqual(emitted.at(-1)!.packet, big);
  assert.deepEqual(emitted.at(-2)!.packet, udp);
  // Empty and over 64 KB: refused.
  off.write(new Uint8Array(0));
  off.write(new Uint8Array(65536));
  assert.equal(counts.errors, 2);
});

Deno.test("writes: a failed write counts every packet it carried", () => {
  for (const gather of [false, true]) {
    const { off, counts } = setup({ fail: true, gather });
    for (let i = 0; i < 4; i++) {
      off.write(buildPacket({ seq: i * 1380, id: i, payload: randomBytes(1380) }));
    }
    off.write(buildPacket({ proto: "udp" }));
    off.flush();
    assert.equal(counts.errors, 5);
    assert.equal(counts.written, 0);
    assert.equal(counts.gathered, gather ? 1 : 0);
  }
});

Deno.test("writes: gathered (emitv), each write carries the bytes the copying path writes", () => {
  const copying = setup({ queue: 64 });
  const gathering = setup({ queue: 64, gather: true });
  let seqA = 1000, seqB = 7000, id = 1;
  for (let round = 0; round < 40; round++) {
    const n = 1 + Math.floor(Math.random() * 80);
    for (let i = 0; i < n; i++) {
      const r = Math.random();
      let pkt: Uint8Array;
      if (r < 0.1) pkt = buildPacket({ proto: "udp", payload: randomBytes(1 + (i % 300)) });
      else if (r < 0.5) {
        const size = Math.random() < 0.1 ? 1 + Math.floor(Math.random() * 1380) : 1380;
        pkt = buildPacket({ seq: seqA, id: id++ & 0xffff, payload: randomBytes(size) });
        seqA = (seqA + size) >>> 0;
      } else {
        const size = Math.random() < 0.05 ? 700 : 1360;
        const flags = Math.random() < 0.05 ? TCP_ACK | TCP_PSH : TCP_ACK;
        pkt = buildPacket({ version: 6, sport: 2, seq: seqB, flags, payload: randomBytes(size) });
        seqB = (seqB + size) >>> 0;
      }
      copying.off.write(pkt);
      gathering.off.write(pkt);
    }
    copying.off.flush();
    gathering.off.flush();
  }
  assert.ok(gathering.counts.gathered > 0);
  assert.equal(gathering.counts.gathered, gathering.off.stats.coalescedWrites);
  assert.deepEqual(gathering.emitted, copying.emitted);
  assert.deepEqual(gathering.counts.bytes, copying.counts.bytes);
  assert.deepEqual(gathering.off.stats, copying.off.stats);
});

Deno.test("reads: the room given after each packet is its own: padding there spoils nothing", () => {
  const { off } = setup();
  const got: Uint8Array[] = [];
  const rooms: number[] = [];
  // Pads every packet over all the room it was given, as far as a sink may write.
  const padding: PacketSink = {
    packet(p, room = 0) {
      rooms.push(room);
      got.push(p.slice());
      new Uint8Array(p.buffer, p.byteOffset + p.length, room).fill(0xaa);
    },
    flush() {},
  };
  const payload = randomBytes(65535 - 40);
  const big = partial(buildPacket({ payload, flags: 0x18 }), 16);
  const n = putRead(off, big, {
    flags: VNET_F_NEEDS_CSUM,
    type: GSO_TCPV4,
    size: MTU - 40,
    start: 20,
    offset: 16,
  });
  const count = off.handleRead(n, padding);
  assert.equal(count, Math.ceil(payload.length / (MTU - 40)));
  // Segments already cut into the next slots came through intact.
  assert.ok(got.every(checksumsValid));
  const joined = new Uint8Array(payload.length);
  let at = 0;
  for (const p of got) {
    joined.set(p.subarray(40), at);
    at += p.length - 40;
  }
  assert.deepEqual(joined, payload);
  // Enough for WireGuard's padding to 16 bytes, whatever the length.
  assert.ok(rooms.every((r, i) => r >= ((got[i].length + 15) & ~15) - got[i].length));
  // A plain read has the rest of the read area.
  const small = buildPacket({ proto: "udp", payload: randomBytes(33) });
  assert.equal(off.handleRead(putRead(off, small), padding), 1);
  assert.deepEqual(got.at(-1), small);
  assert.ok(rooms.at(-1)! >= 65535 - small.length);
});

Deno.test("writes: a lent slot takes a packet built in place; committed slots coalesce as written", () => {
  const { off, emitted, counts } = setup({ queue: 8 });
  const segs: Uint8Array[] = [];
  for (let i = 0; i < 6; i++) {
    segs.push(buildPacket({ seq: 7000 + i * 1380, id: 3 + i, payload: randomBytes(1380) }));
  }
  const slots: Uint8Array[] = [];
  for (const [i, s] of segs.entries()) {
    if (i === 2) {
      off.write(s); // copied, between lent ones
      continue;
    }
    const slot = off.reserve(s.length)!;
    assert.ok(slot.length >= MTU);
    slot.set(s);
    off.commit(s.length);
    slots.push(slot);
  }
  assert.equal(new Set(slots).size, slots.length, "each commit took the next slot");
  assert.equal(off.queued, 6);
  off.flush();
  assert.equal(emitted.length, 1, "all six coalesced");
  assert.equal(emitted[0].packet.length, 40 + 6 * 1380);
  assert.deepEqual(
    emitted[0].packet.subarray(40),
    new Uint8Array(segs.flatMap((s) => [...s.subarray(40)])),
  );
  assert.equal(counts.written, 6);
  // After a flush the same slots are lent again, in order.
  assert.equal(off.reserve(100), slots[0]);
});

Deno.test("writes: a reservation not committed is dropped by reserve, write and flush", () => {
  const { off, emitted } = setup({ queue: 4 });
  const udp = (n: number) => buildPacket({ proto: "udp", payload: new Uint8Array(n).fill(n) });
  const first = off.reserve(200)!;
  first.set(udp(99)); // abandoned
  assert.equal(off.reserve(200), first, "reserve again: the same slot");
  first.set(udp(50));
  off.commit(udp(50).length);
  off.reserve(100);
  off.write(udp(7));
  assert.throws(() => off.commit(50), /without a reserved slot/);
  off.reserve(100);
  off.flush();
  assert.throws(() => off.commit(50), /without a reserved slot/);
  assert.throws(() => off.commit(50), /without a reserved slot/);
  assert.deepEqual(emitted.map((e) => e.packet), [udp(50), udp(7)]);
  // Nothing over the MTU, nothing empty; a commit must fit the MTU.
  assert.equal(off.reserve(MTU + 1), null);
  assert.equal(off.reserve(0), null);
  off.reserve(MTU);
  assert.throws(() => off.commit(MTU + 1), RangeError);
  // A full queue is flushed to lend a slot.
  for (let i = 0; i < 4; i++) off.write(udp(20 + i));
  assert.equal(off.queued, 4);
  const slot = off.reserve(64)!;
  assert.equal(off.queued, 0);
  assert.equal(emitted.length, 6);
  slot.set(udp(30));
  off.commit(udp(30).length);
  off.flush();
  assert.deepEqual(emitted.at(-1)!.packet, udp(30));
});

Deno.test("tun offload: the arena is a SIMD checksum buffer, so cutting and coalescing sum in SIMD", () => {
  const a = setup().off;
  const b = setup().off;
  assert.notEqual(simdSumOf(a.arena.buffer), null, "the arena is in the SIMD pool");
  assert.equal(a.arena.buffer, b.arena.buffer, "one memory for every arena: one call target");
  const overlap = a.arena.byteOffset < b.arena.byteOffset + b.arena.length &&
    b.arena.byteOffset < a.arena.byteOffset + a.arena.length;
  assert.ok(!overlap, "two arenas never share bytes");
});
