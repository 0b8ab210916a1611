/**
 * Fuzzing of the offload paths with random and mutated headers and lengths: cutting, coalescing
 * and the TUN's read and write handling never throw, never touch bytes outside the ranges they
 * were given, and count what they refuse as a drop. And with random valid input: a TSO/USO packet
 * cut is exactly its segments; a batch of TCP streams reordered, duplicated, overlapped and
 * damaged is coalesced only where segments follow each other, and the writes cut back are the
 * batch.
 */
import assert from "node:assert/strict";
import {
  completeChecksum,
  GsoSplitter,
  TCP_ACK,
  TCP_CWR,
  TCP_ECE,
  TCP_FIN,
  TCP_PSH,
  TCP_URG,
} from "./gso_split.ts";
import { ROLE_HEAD, ROLE_MEMBER, ROLE_SINGLE, TcpCoalescer } from "./gro_coalesce.ts";
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
import {
  buildPacket,
  checksumsValid,
  ipHeaderLength,
  randomBytes,
  refPseudo,
} from "../testing/ip_packets.ts";

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

/** A random whole number of 4-byte words of TCP or IPv4 options (NOPs, then an end). */
function randomOptions(maxWords: number): number[] {
  const n = rand(maxWords + 1) * 4;
  return Array.from({ length: n }, (_, i) => (i === n - 1 ? 0 : 1));
}

Deno.test("fuzz: a valid TSO/USO packet is cut into exactly its segments", () => {
  const splitter = new GsoSplitter();
  const SLOTS = 16;
  const lens = new Int32Array(SLOTS);
  for (let round = 0; round < ROUNDS / 3; round++) {
    const version = pick([4, 6] as const);
    const proto = pick(["tcp", "udp"] as const);
    const tcp = proto === "tcp";
    const options = tcp ? randomOptions(10) : [];
    const ipOptions = version === 4 && Math.random() < 0.2 ? randomOptions(10) : [];
    const hdr = (version === 4 ? 20 + ipOptions.length : 40) + (tcp ? 20 + options.length : 8);
    const gso = Math.random() < 0.5 ? MTU - hdr : 1 + rand(MTU - hdr);
    const payloadLen = Math.random() < 0.3 ? rand(gso * 3) : rand(65535 - hdr + 1);
    const seq = Math.random() < 0.2 ? 2 ** 32 - 1 - rand(100_000) : rand(2 ** 32);
    const id = rand(65536);
    let flags = TCP_ACK;
    for (const f of [TCP_PSH, TCP_FIN, TCP_CWR, TCP_ECE, TCP_URG]) {
      if (Math.random() < 0.3) flags |= f;
    }
    const orig = buildPacket({
      version,
      proto,
      seq,
      id,
      flags,
      options,
      ipOptions,
      tos: rand(256),
      payload: randomBytes(payloadLen),
    });
    // As the kernel hands it over: the pseudo-header's sum in the checksum field.
    const hl = ipHeaderLength(orig);
    const field = hl + (tcp ? 16 : 6);
    const ps = refPseudo(orig, orig.length - hl);
    const pkt = orig.slice();
    pkt[field] = ps >> 8;
    pkt[field + 1] = ps & 0xff;
    const h = newVnetHeader();
    h.flags = VNET_F_NEEDS_CSUM;
    h.gsoType = tcp ? (version === 4 ? GSO_TCPV4 : GSO_TCPV6) : GSO_UDP_L4;
    h.gsoSize = gso;
    h.csumStart = hl;
    h.csumOffset = tcp ? 16 : 6;
    const at = 1 + rand(8);
    const slotBase = at + pkt.length + rand(8);
    const arena = new Uint8Array(slotBase + SLOTS * MTU);
    arena.set(pkt, at);
    const slots = Array.from({ length: SLOTS }, (_, i) => slotBase + i * MTU);
    const n = splitter.prepare(arena, at, pkt.length, h, MTU);
    assert.equal(n, payloadLen === 0 ? 1 : Math.ceil(payloadLen / gso), `gso ${gso} ${payloadLen}`);
    const payload = orig.subarray(hdr);
    let done = 0;
    for (let first = 0; first < n;) {
      const k = splitter.cut(first, slots, SLOTS, lens);
      assert.ok(k > 0);
      for (let j = 0; j < k; j++) {
        const i = first + j;
        const s = arena.subarray(slots[j], slots[j] + lens[j]);
        const v = new DataView(s.buffer, s.byteOffset);
        const plen = Math.min(gso, payloadLen - done);
        assert.equal(s.length, hdr + plen);
        assert.ok(s.length <= MTU);
        assert.deepEqual(s.subarray(hdr), payload.subarray(done, done + plen), `segment ${i}`);
        assert.ok(checksumsValid(s), `checksums of segment ${i}`);
        if (version === 4) {
          assert.equal(v.getUint16(2), s.length);
          assert.equal(v.getUint16(4), (id + i) & 0xffff);
          assert.equal(s[1], orig[1]);
          assert.deepEqual(s.subarray(6, 10), orig.subarray(6, 10));
          assert.deepEqual(s.subarray(12, hl), orig.subarray(12, hl));
        } else {
          assert.equal(v.getUint16(4), s.length - 40);
          assert.deepEqual(s.subarray(0, 4), orig.subarray(0, 4));
          assert.deepEqual(s.subarray(6, 40), orig.subarray(6, 40));
        }
        assert.deepEqual(s.subarray(hl, hl + 4), orig.subarray(hl, hl + 4));
        if (tcp) {
          assert.equal(v.getUint32(hl + 4), (seq + done) >>> 0);
          let want = flags;
          if (i !== n - 1) want &= ~(TCP_FIN | TCP_PSH);
          if (i !== 0) want &= ~TCP_CWR;
          assert.equal(s[hl + 13], want);
          assert.deepEqual(s.subarray(hl + 8, hl + 13), orig.subarray(hl + 8, hl + 13));
          assert.deepEqual(s.subarray(hl + 14, hl + 16), orig.subarray(hl + 14, hl + 16));
          assert.deepEqual(s.subarray(hl + 18, hdr), orig.subarray(hl + 18, hdr));
        } else {
          assert.equal(v.getUint16(hl + 4), s.length - hl);
        }
        done += plen;
      }
      first += k;
    }
    assert.equal(done, payloadLen);
  }
});

/** TCP sequence number of a packet built by buildPacket (no IPv6 extension headers). */
function seqOf(p: Uint8Array): number {
  const hl = ipHeaderLength(p);
  return ((p[hl + 4] << 24) | (p[hl + 5] << 16) | (p[hl + 6] << 8) | p[hl + 7]) >>> 0;
}

/** TCP payload length of a packet built by buildPacket. */
function payloadOf(p: Uint8Array): number {
  const hl = ipHeaderLength(p);
  return p.length - hl - (p[hl + 12] >> 4) * 4;
}

/** The flow of a TCP packet (addresses and ports) as text. */
function flowOf(p: Uint8Array): string {
  const hl = ipHeaderLength(p);
  const addrs = p[0] >> 4 === 4 ? p.subarray(12, 20) : p.subarray(8, 40);
  return `${addrs.join(".")}:${p.subarray(hl, hl + 4).join(".")}`;
}

Deno.test("fuzz: reordered, duplicated, overlapping segments are never merged; writes cut back are the batch", () => {
  const CAP = 128;
  const SLOT = 2048;
  const co = new TcpCoalescer(CAP);
  const splitter = new GsoSplitter();
  const lens = new Int32Array(64);
  let merged = 0;
  let disorder = 0;
  for (let round = 0; round < ROUNDS / 10; round++) {
    // One to three flows' in-order segments, interleaved.
    const flows = Array.from({ length: 1 + rand(3) }, (_, f) => ({
      version: pick([4, 6] as const),
      sport: 2000 + f,
      seq: rand(2 ** 32),
      id: rand(65536),
      mss: pick([1380, 1360, 536, 100]),
    }));
    const inOrder: Uint8Array[] = [];
    for (let k = 0, n = 1 + rand(CAP / 2); k < n; k++) {
      const f = pick(flows);
      const size = Math.random() < 0.9 ? f.mss : 1 + rand(f.mss);
      inOrder.push(buildPacket({
        version: f.version,
        sport: f.sport,
        seq: f.seq,
        id: f.id,
        payload: randomBytes(size),
      }));
      f.seq = (f.seq + size) >>> 0;
      f.id = (f.id + 1) & 0xffff;
    }
    // Damage: neighbours swapped, a segment sent twice, a later one resent overlapping an
    // earlier one's end, a segment lost, a bit flipped.
    const pkts = inOrder.slice();
    for (let d = rand(6); d > 0 && pkts.length > 1; d--) {
      const i = rand(pkts.length - 1);
      const r = Math.random();
      if (r < 0.3) [pkts[i], pkts[i + 1]] = [pkts[i + 1], pkts[i]];
      else if (r < 0.5 && pkts.length < CAP) pkts.splice(i + 1, 0, pkts[i].slice());
      else if (r < 0.7 && pkts.length < CAP) {
        const p = pkts[i];
        const back = 1 + rand(Math.max(1, payloadOf(p) - 1));
        const hl = ipHeaderLength(p);
        pkts.splice(
          i + 1,
          0,
          buildPacket({
            version: p[0] >> 4 === 4 ? 4 : 6,
            sport: (p[hl] << 8) | p[hl + 1],
            seq: (seqOf(p) + payloadOf(p) - back) >>> 0,
            id: p[0] >> 4 === 4 ? ((p[4] << 8) | p[5]) + 1 : 0,
            payload: randomBytes(payloadOf(p)),
          }),
        );
      } else if (r < 0.85) pkts.splice(i, 1);
      else {
        pkts[i] = pkts[i].slice();
        pkts[i][20 + rand(pkts[i].length - 20)] ^= 1 << rand(8);
      }
      disorder++;
    }
    // Laid out in one buffer at odd offsets, the output area after them.
    let size = 3;
    for (const p of pkts) size += p.length + 1;
    const out = size + 8;
    // Segments cut back go in slots of SLOT bytes (an IPv6 segment of 1,380 bytes is over the MTU).
    const buf = new Uint8Array(out + VNET_HDR_LEN + 65535 + 64 * SLOT);
    const offs = new Int32Array(pkts.length);
    const plens = new Int32Array(pkts.length);
    for (let i = 0, at = 3; i < pkts.length; i++) {
      offs[i] = at;
      plens[i] = pkts[i].length;
      buf.set(pkts[i], at);
      at += pkts[i].length + 1;
    }
    co.plan(buf, offs, plens, pkts.length);
    // Expand the writes: each single as it is, each merged packet cut back.
    const written: number[] = [];
    for (let i = 0; i < pkts.length; i++) {
      if (co.role[i] === ROLE_MEMBER) continue;
      if (co.role[i] === ROLE_SINGLE) {
        written.push(i);
        continue;
      }
      assert.equal(co.role[i], ROLE_HEAD);
      const members: number[] = [];
      for (let m = i; m >= 0; m = co.next[m]) members.push(m);
      merged += members.length - 1;
      // The members follow each other: sequence numbers (and IPv4 ids) without gap or overlap,
      // every one valid, every one but the last of the first's size.
      for (let j = 0; j < members.length; j++) {
        const p = pkts[members[j]];
        assert.ok(checksumsValid(p), "a damaged segment was merged");
        assert.ok(payloadOf(p) > 0);
        if (j < members.length - 1) assert.equal(payloadOf(p), payloadOf(pkts[members[0]]));
        if (j === 0) continue;
        const prev = pkts[members[j - 1]];
        assert.ok(members[j] > members[j - 1]);
        assert.equal(flowOf(p), flowOf(prev));
        assert.equal(seqOf(p), (seqOf(prev) + payloadOf(prev)) >>> 0, "merged out of order");
        if (p[0] >> 4 === 4) {
          assert.equal((p[4] << 8) | p[5], (((prev[4] << 8) | prev[5]) + 1) & 0xffff);
        }
      }
      const len = co.build(buf, offs, plens, i, out);
      const h = newVnetHeader();
      h.flags = buf[out];
      h.gsoType = buf[out + 1];
      h.gsoSize = buf[out + 4] | (buf[out + 5] << 8);
      h.csumStart = buf[out + 6] | (buf[out + 7] << 8);
      h.csumOffset = buf[out + 8] | (buf[out + 9] << 8);
      const slotBase = out + len;
      const slots = Array.from({ length: 64 }, (_, k) => slotBase + k * SLOT);
      const n = splitter.prepare(buf, out + VNET_HDR_LEN, len - VNET_HDR_LEN, h, SLOT);
      assert.equal(n, members.length);
      for (let first = 0; first < n;) {
        const k = splitter.cut(first, slots, 64, lens);
        for (let j = 0; j < k; j++) {
          const seg = buf.subarray(slots[j], slots[j] + lens[j]);
          assert.deepEqual(seg, pkts[members[first + j]], "a cut segment differs from its packet");
        }
        first += k;
      }
      written.push(...members);
    }
    // Every packet written once, each flow's packets in the order they came.
    assert.deepEqual([...written].sort((a, b) => a - b), pkts.map((_, i) => i));
    const last = new Map<string, number>();
    for (const i of written) {
      const key = flowOf(pkts[i]);
      assert.ok(i > (last.get(key) ?? -1), "a flow's packets were reordered");
      last.set(key, i);
    }
  }
  assert.ok(merged > ROUNDS, `${merged} packets merged`);
  assert.ok(disorder > ROUNDS / 10, `${disorder} perturbations`);
});
