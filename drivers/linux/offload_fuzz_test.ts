/**
 * Fuzzing of the offload paths with random and mutated headers and lengths: cutting, coalescing
 * and the TUN's read and write handling never throw, never touch bytes outside the ranges they
 * were given, and count what they refuse as a drop.
 */
import assert from "node:assert/strict";
import { completeChecksum, GsoSplitter } from "./gso_split.ts";
import { ROLE_HEAD, TcpCoalescer } from "./gro_coalesce.ts";
import { TunOffload } from "./tun_offload.ts";
import {
  encodeVnetHeader,
  GSO_ECN,
  GSO_NONE,
  GSO_TCPV4,
  GSO_TCPV6,
  GSO_UDP,
  GSO_UDP_L4,
  newVnetHeader,
  VNET_F_NEEDS_CSUM,
  VNET_HDR_LEN,
  type VnetHeader,
} from "./vnet.ts";
import { buildPacket, checksumsValid, randomBytes } from "../testing/ip_packets.ts";

const ROUNDS = Number(Deno.env.get("WEFT_FUZZ_ROUNDS") ?? 3000);
const MTU = 1420;

function rand(n: number): number {
  return Math.floor(Math.random() * n);
}

function pick<T>(xs: readonly T[]): T {
  return xs[rand(xs.length)];
}

/** A packet that is often almost right: a real one, cut short, grown, or with bytes flipped. */
function fuzzPacket(): Uint8Array {
  if (Math.random() < 0.1) return randomBytes(rand(200));
  const p = buildPacket({
    version: pick([4, 6] as const),
    proto: pick(["tcp", "udp"] as const),
    payload: randomBytes(pick([0, 1, 7, 100, 1380, 3000, 20000, 65000 - 60])),
    options: Math.random() < 0.3 ? [1, 1, 8, 10, 1, 2, 3, 4, 5, 6, 7, 8] : [],
    ipOptions: Math.random() < 0.1 ? [1, 1, 1, 0] : [],
  });
  let q = p;
  const r = Math.random();
  if (r < 0.2) q = p.subarray(0, rand(p.length + 1));
  else if (r < 0.3) {
    q = new Uint8Array(Math.min(65535, p.length + rand(100)));
    q.set(p.subarray(0, q.length));
  }
  for (let k = rand(4); k > 0 && q.length > 0; k--) q[rand(Math.min(q.length, 80))] = rand(256);
  return q;
}

/** A header that is often almost right for `p`. */
function fuzzHeader(p: Uint8Array): VnetHeader {
  const h = newVnetHeader();
  const v6 = p.length > 0 && p[0] >> 4 === 6;
  const hl = v6 ? 40 : p.length > 0 ? (p[0] & 15) * 4 : 20;
  const udp = p.length > 9 && (v6 ? p[6] : p[9]) === 17;
  h.flags = Math.random() < 0.8 ? VNET_F_NEEDS_CSUM : rand(256);
  h.gsoType = Math.random() < 0.7
    ? (udp ? GSO_UDP_L4 : v6 ? GSO_TCPV6 : GSO_TCPV4) | (Math.random() < 0.1 ? GSO_ECN : 0)
    : pick([GSO_NONE, GSO_UDP, GSO_TCPV4, GSO_TCPV6, GSO_UDP_L4, rand(256)]);
  h.gsoSize = Math.random() < 0.8 ? pick([1, 8, 536, 1000, 1380, MTU - 40]) : rand(65536);
  h.csumStart = Math.random() < 0.8 ? hl : rand(65536);
  h.csumOffset = Math.random() < 0.8 ? (udp ? 6 : 16) : rand(65536);
  h.hdrLen = rand(65536);
  return h;
}

Deno.test("fuzz: cutting never throws and writes only into its slots", () => {
  const splitter = new GsoSplitter();
  const SLOTS = 8;
  const lens = new Int32Array(SLOTS);
  let cut = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const p = fuzzPacket();
    const h = fuzzHeader(p);
    const at = 1 + rand(64);
    // The packet, a gap, the slots, a tail: every byte outside packet and slots stays 0x5a.
    const slotBase = at + p.length + 1 + rand(16);
    const arena = new Uint8Array(slotBase + SLOTS * MTU + 64).fill(0x5a);
    const slots = Array.from({ length: SLOTS }, (_, i) => slotBase + i * MTU);
    arena.set(p, at);
    const n = splitter.prepare(arena, at, p.length, h, MTU);
    if (n > 0) {
      cut++;
      for (let first = 0; first < n;) {
        const k = splitter.cut(first, slots, SLOTS, lens);
        assert.ok(k > 0 && k <= SLOTS);
        for (let j = 0; j < k; j++) {
          assert.ok(lens[j] > 0 && lens[j] <= MTU);
          assert.ok(checksumsValid(arena.subarray(slots[j], slots[j] + lens[j])));
        }
        first += k;
      }
    } else {
      assert.ok(arena.subarray(slotBase).every((x) => x === 0x5a), "refused, yet written");
    }
    // The input is untouched and nothing outside the input and the slots was written.
    assert.deepEqual(arena.subarray(at, at + p.length), p);
    assert.ok(arena.subarray(0, at).every((x) => x === 0x5a));
    assert.ok(arena.subarray(at + p.length, slotBase).every((x) => x === 0x5a));
    assert.ok(arena.subarray(slotBase + SLOTS * MTU).every((x) => x === 0x5a));
  }
  assert.ok(cut > ROUNDS / 10, `${cut} of ${ROUNDS} packets were cut`);
});

Deno.test("fuzz: completing a checksum writes only the checksum field, within the packet", () => {
  for (let round = 0; round < ROUNDS; round++) {
    const p = fuzzPacket();
    const h = fuzzHeader(p);
    const buf = new Uint8Array(p.length + 16).fill(0x5a);
    buf.set(p, 8);
    const ok = completeChecksum(buf, 8, p.length, h);
    for (let i = 0; i < buf.length; i++) {
      const field = 8 + h.csumStart + h.csumOffset;
      if (ok && (i === field || i === field + 1)) continue;
      assert.equal(buf[i], i >= 8 && i < 8 + p.length ? p[i - 8] : 0x5a);
    }
  }
});

Deno.test("fuzz: coalescing never throws, reads only the batch, builds within its output", () => {
  const co = new TcpCoalescer(64);
  const splitter = new GsoSplitter();
  let heads = 0;
  for (let round = 0; round < ROUNDS / 10; round++) {
    // Mostly a real stream, with random damage.
    const n = 1 + rand(64);
    const pkts: Uint8Array[] = [];
    let seq = rand(2 ** 32);
    let id = rand(65536);
    const version = pick([4, 6] as const);
    for (let i = 0; i < n; i++) {
      let p: Uint8Array;
      if (Math.random() < 0.8) {
        p = buildPacket({ version, seq, id, payload: randomBytes(pick([1380, 1380, 500, 0])) });
        seq = (seq + p.length - (version === 4 ? 40 : 60)) >>> 0;
        id = (id + 1) & 0xffff;
        if (Math.random() < 0.1) p[rand(p.length)] ^= 1 << rand(8);
      } else {
        p = fuzzPacket();
      }
      pkts.push(p);
    }
    let size = 0;
    for (const p of pkts) size += p.length + 1;
    const out = size + 8;
    const buf = new Uint8Array(out + VNET_HDR_LEN + 65535 + 16);
    const offs = new Int32Array(n);
    const lens = new Int32Array(n);
    let at = 1;
    for (const [i, p] of pkts.entries()) {
      offs[i] = at;
      lens[i] = p.length;
      buf.set(p, at);
      at += p.length + 1;
    }
    const before = buf.slice();
    co.plan(buf, offs, lens, n);
    assert.deepEqual(buf, before);
    for (let i = 0; i < n; i++) {
      if (co.role[i] !== ROLE_HEAD) continue;
      heads++;
      buf.fill(0x5a, out);
      const len = co.build(buf, offs, lens, i, out);
      assert.ok(len <= VNET_HDR_LEN + 65535);
      assert.deepEqual(buf.subarray(0, out), before.subarray(0, out));
      assert.ok(buf.subarray(out + len).every((x) => x === 0x5a));
      // What was merged is a valid GSO packet that cuts into valid packets.
      const h = newVnetHeader();
      h.flags = buf[out];
      h.gsoType = buf[out + 1];
      h.gsoSize = buf[out + 4] | (buf[out + 5] << 8);
      h.csumStart = buf[out + 6] | (buf[out + 7] << 8);
      h.csumOffset = buf[out + 8] | (buf[out + 9] << 8);
      const segs = splitter.prepare(buf, out + VNET_HDR_LEN, len - VNET_HDR_LEN, h, 65535);
      assert.equal(segs, co.count[i]);
    }
  }
  assert.ok(heads > ROUNDS / 100, `${heads} merged packets`);
});

Deno.test("fuzz: the TUN's read path never throws; every refused read is a counted drop", () => {
  const written: number[] = [];
  const off = new TunOffload({ mtu: MTU, emit: (_, len) => (written.push(len), len) });
  const arena = off.arena;
  const readEnd = off.rxSize;
  const ringStart = ((off.rxSize + 1 + 7) & ~7) + ((off.rxSize + 7) & ~7);
  const ringEnd = ringStart + 64 * ((MTU + 7) & ~7);
  let handed = 0;
  const sink = {
    packet: (p: Uint8Array) => {
      handed++;
      assert.ok(p.length >= 1 && p.length <= 65535);
      const start = p.byteOffset - arena.byteOffset;
      const inRead = start >= VNET_HDR_LEN && start + p.length <= readEnd;
      const inRing = start >= ringStart && start + p.length <= ringEnd && p.length <= MTU;
      const inJumbo = start === ringEnd && p.length <= 65535;
      assert.ok(inRead || inRing || inJumbo, `packet at ${start}+${p.length}`);
    },
    flush() {},
  };
  const jumboEnd = ringEnd + 65536;
  const outStart = (off.rxSize + 1 + 7) & ~7;
  arena.fill(0x77, jumboEnd);
  arena.fill(0x77, outStart, ringStart);
  for (let round = 0; round < ROUNDS; round++) {
    const p = fuzzPacket();
    const h = fuzzHeader(p);
    encodeVnetHeader(arena, 0, h.flags, h.gsoType, h.hdrLen, h.gsoSize, h.csumStart, h.csumOffset);
    arena.set(p, VNET_HDR_LEN);
    const n = Math.random() < 0.05 ? rand(VNET_HDR_LEN + 1) : VNET_HDR_LEN + p.length;
    const drops = off.stats.readDrops;
    const before = handed;
    const got = off.handleRead(n, sink);
    assert.equal(handed - before, got);
    assert.equal(off.stats.readDrops - drops, got === 0 ? 1 : 0);
  }
  // The write queue and the coalescing output were never touched by reads.
  assert.ok(arena.subarray(jumboEnd).every((x) => x === 0x77));
  assert.ok(arena.subarray(outStart, ringStart).every((x) => x === 0x77));
  assert.equal(written.length, 0);
});

Deno.test("fuzz: the TUN's write path never throws and writes every packet once", () => {
  let packets = 0;
  let errors = 0;
  const off: TunOffload = new TunOffload({
    mtu: MTU,
    queue: 32,
    emit: (at, len) => {
      assert.ok(at >= 0 && at + len <= off.arena.length && len <= VNET_HDR_LEN + 65535);
      return len;
    },
    onWritten: (p) => (packets += p),
    onWriteError: (p) => (errors += p),
  });
  let queued = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const p = Math.random() < 0.5
      ? buildPacket({ seq: round * 1380, id: round & 0xffff, payload: randomBytes(1380) })
      : fuzzPacket();
    off.write(p);
    queued++;
    if (Math.random() < 0.05) off.flush();
  }
  off.flush();
  assert.equal(packets + errors, queued);
});
