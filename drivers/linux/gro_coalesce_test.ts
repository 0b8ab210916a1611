import assert from "node:assert/strict";
import { ROLE_HEAD, ROLE_MEMBER, ROLE_SINGLE, TcpCoalescer } from "./gro_coalesce.ts";
import {
  GsoSplitter,
  TCP_ACK,
  TCP_CWR,
  TCP_ECE,
  TCP_FIN,
  TCP_PSH,
  TCP_RST,
  TCP_SYN,
  TCP_URG,
} from "./gso_split.ts";
import {
  decodeVnetHeader,
  GSO_TCPV4,
  GSO_TCPV6,
  newVnetHeader,
  VNET_F_NEEDS_CSUM,
  VNET_HDR_LEN,
} from "./vnet.ts";
import {
  buildPacket,
  checksumsValid,
  fixChecksums,
  type PacketSpec,
  randomBytes,
  refPseudo,
  refSum,
} from "../testing/ip_packets.ts";

const MSS = 1380;
const CAP = 256;
const OUT_SIZE = VNET_HDR_LEN + 65535;

/** A batch laid out as the TUN lays it out: packets at odd offsets in one buffer, then `out`. */
class Batch {
  readonly pkts: Uint8Array[] = [];
  buf = new Uint8Array(0);
  offs = new Int32Array(CAP);
  lens = new Int32Array(CAP);
  out = 0;

  add(p: Uint8Array): this {
    this.pkts.push(p);
    return this;
  }

  layout(): void {
    let size = 5;
    for (const p of this.pkts) size += p.length + 3;
    this.buf = new Uint8Array(size + OUT_SIZE + 7);
    let at = 5;
    for (const [i, p] of this.pkts.entries()) {
      this.offs[i] = at;
      this.lens[i] = p.length;
      this.buf.set(p, at);
      at += p.length + 3;
    }
    this.out = at;
  }
}

const checking = new TcpCoalescer(CAP);

interface Write {
  /** The packets (indices) it carries, in order. */
  members: number[];
  /** What is written, without the virtio-net header. */
  bytes: Uint8Array;
  /** The virtio-net header (null: all zero, a plain packet). */
  header: ReturnType<typeof newVnetHeader> | null;
}

/** Plans the batch and returns the writes in order, checking that planning wrote nothing. */
function coalesce(b: Batch, co: TcpCoalescer = checking): Write[] {
  b.layout();
  const before = b.buf.slice(0, b.out);
  const writes = co.plan(b.buf, b.offs, b.lens, b.pkts.length);
  assert.deepEqual(b.buf.subarray(0, b.out), before, "plan must not write");
  const out: Write[] = [];
  for (let i = 0; i < b.pkts.length; i++) {
    const role = co.role[i];
    if (role === ROLE_MEMBER) continue;
    if (role === ROLE_SINGLE) {
      out.push({ members: [i], bytes: b.pkts[i], header: null });
      continue;
    }
    assert.equal(role, ROLE_HEAD);
    const members = [i];
    for (let m = co.next[i]; m >= 0; m = co.next[m]) members.push(m);
    assert.equal(members.length, co.count[i]);
    b.buf.fill(0xa5, b.out);
    const n = co.build(b.buf, b.offs, b.lens, i, b.out);
    assert.equal(n, VNET_HDR_LEN + co.total[i]);
    // Nothing before `out` changed, nothing after the merged packet was touched.
    assert.deepEqual(b.buf.subarray(0, b.out), before);
    assert.ok(b.buf.subarray(b.out + n).every((x) => x === 0xa5));
    checkGather(b, co, i, b.buf.subarray(b.out, b.out + n));
    const header = newVnetHeader();
    decodeVnetHeader(b.buf, b.out, header);
    out.push({ members, bytes: b.buf.slice(b.out + VNET_HDR_LEN, b.out + n), header });
  }
  assert.equal(out.length, writes);
  return out;
}

/**
 * Gathers run `head` of the planned batch `b` from a copy of it laid out with room for a header
 * before each packet (as the TUN's queue slots have), and checks that the ranges hold `built`
 * and that nothing outside the first packet and the header before it changed.
 */
function checkGather(b: Batch, co: TcpCoalescer, head: number, built: Uint8Array): void {
  const n = b.pkts.length;
  const offs = new Int32Array(n);
  let size = 3;
  for (const p of b.pkts) size += VNET_HDR_LEN + 5 + p.length;
  const buf = new Uint8Array(size);
  let at = 3;
  for (let i = 0; i < n; i++) {
    offs[i] = at + VNET_HDR_LEN + 5;
    buf.set(b.pkts[i], offs[i]);
    at = offs[i] + b.pkts[i].length;
  }
  const before = buf.slice();
  const ranges = new Int32Array(2 * n);
  const k = co.gather(buf, offs, b.lens, head, ranges);
  assert.equal(k, co.count[head]);
  const parts: number[] = [];
  for (let j = 0; j < k; j++) {
    parts.push(...buf.subarray(ranges[2 * j], ranges[2 * j] + ranges[2 * j + 1]));
  }
  assert.deepEqual(new Uint8Array(parts), built, "gathered bytes are the built packet");
  const from = offs[head] - VNET_HDR_LEN;
  const to = offs[head] + b.lens[head];
  assert.deepEqual(buf.subarray(0, from), before.subarray(0, from));
  assert.deepEqual(buf.subarray(to), before.subarray(to));
}

/** Splits a merged packet back with the splitter. */
function splitBack(w: Write): Uint8Array[] {
  const arena = new Uint8Array(w.bytes.length + 64 * 2000 + 16);
  arena.set(w.bytes, 3);
  const s = new GsoSplitter();
  const n = s.prepare(arena, 3, w.bytes.length, w.header!, 2000);
  assert.ok(n > 0, "the merged packet splits");
  const slots = Array.from({ length: 64 }, (_, i) => w.bytes.length + 8 + i * 2000);
  const lens = new Int32Array(64);
  const segs: Uint8Array[] = [];
  for (let first = 0; first < n;) {
    const k = s.cut(first, slots, 64, lens);
    for (let j = 0; j < k; j++) segs.push(arena.slice(slots[j], slots[j] + lens[j]));
    first += k;
  }
  return segs;
}

/** A TCP stream's segments: `sizes` payloads from `seq`, ids from `id`. */
function stream(spec: PacketSpec, sizes: number[], seq = 1000, id = 100): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const size of sizes) {
    out.push(buildPacket({ ...spec, seq, id, payload: randomBytes(size) }));
    seq = (seq + size) >>> 0;
    id = (id + 1) & 0xffff;
  }
  return out;
}

function hl(p: Uint8Array): number {
  return p[0] >> 4 === 4 ? (p[0] & 15) * 4 : 40;
}

/** Checks a merged write against the rules, independently of the coalescer. */
function checkMerged(w: Write, pkts: Uint8Array[]): void {
  const ms = w.members.map((i) => pkts[i]);
  const first = ms[0];
  const ipHl = hl(first);
  const v6 = first[0] >> 4 === 6;
  const tcpHl = (first[ipHl + 12] >> 4) * 4;
  const gso = first.length - ipHl - tcpHl;
  const h = w.header!;
  assert.equal(h.flags, VNET_F_NEEDS_CSUM);
  assert.equal(h.gsoType, v6 ? GSO_TCPV6 : GSO_TCPV4);
  assert.equal(h.gsoSize, gso);
  assert.equal(h.hdrLen, ipHl + tcpHl);
  assert.equal(h.csumStart, ipHl);
  assert.equal(h.csumOffset, 16);
  assert.ok(w.bytes.length <= 65535);
  assert.equal(first[ipHl + 13], TCP_ACK, "a run starts with an ACK-only-flag data segment");
  for (const [k, m] of ms.entries()) {
    assert.ok(checksumsValid(m), "only valid segments merge");
    const payload = m.length - ipHl - tcpHl;
    assert.ok(payload > 0 && payload <= gso);
    if (k < ms.length - 1) {
      assert.equal(payload, gso, "only the last segment may be short");
      assert.equal(m[ipHl + 13], TCP_ACK, "PSH only on the last");
    } else {
      assert.equal(m[ipHl + 13] & ~TCP_PSH, TCP_ACK);
    }
  }
  // The checksum field holds the pseudo-header sum for the merged length.
  const field = (w.bytes[ipHl + 16] << 8) | w.bytes[ipHl + 17];
  assert.equal(field, refPseudo(w.bytes, w.bytes.length - ipHl));
  if (!v6) assert.equal(refSum(w.bytes.subarray(0, 20)), 0xffff, "IPv4 header checksum");
  // The merged packet cut again is exactly the segments it was made of.
  assert.deepEqual(splitBack(w), ms);
}

/** Checks every write of a batch: each packet written once, each flow's packets in order. */
function checkBatch(writes: Write[], pkts: Uint8Array[]): void {
  const order = writes.flatMap((w) => w.members);
  assert.deepEqual([...order].sort((a, b) => a - b), pkts.map((_, i) => i));
  const lastOfFlow = new Map<string, number>();
  for (const i of order) {
    const key = flowKey(pkts[i]);
    const prev = lastOfFlow.get(key) ?? -1;
    assert.ok(i > prev, `flow ${key}: packet ${i} after ${prev}`);
    lastOfFlow.set(key, i);
  }
  for (const w of writes) {
    if (w.header === null) assert.deepEqual(w.bytes, pkts[w.members[0]]);
    else checkMerged(w, pkts);
  }
}

function flowKey(p: Uint8Array): string {
  const v = p[0] >> 4;
  if (v === 4) return `4:${p.subarray(12, 20)}:${p[9]}:${p.subarray(hl(p), hl(p) + 4)}`;
  if (v === 6) return `6:${p.subarray(8, 40)}:${p[6]}:${p.subarray(40, 44)}`;
  return "other";
}

Deno.test("in-order full segments of one flow become one packet that splits back to them", () => {
  for (const version of [4, 6] as const) {
    for (const sizes of [[MSS, MSS], Array(20).fill(MSS), [...Array(9).fill(MSS), 7]]) {
      const b = new Batch();
      for (const p of stream({ version }, sizes)) b.add(p);
      const writes = coalesce(b);
      assert.equal(writes.length, 1);
      assert.equal(writes[0].members.length, sizes.length);
      checkBatch(writes, b.pkts);
    }
  }
});

Deno.test("a PSH segment ends its run; a short segment ends its run; 64 KB is the limit", () => {
  const b = new Batch();
  const segs = stream({}, Array(60).fill(MSS));
  // PSH on the 5th: 0..4 merge, 5.. start again.
  segs[4] = buildPacket({
    seq: 1000 + 4 * MSS,
    id: 104,
    flags: TCP_ACK | TCP_PSH,
    payload: segs[4].subarray(40),
  });
  for (const p of segs) b.add(p);
  const writes = coalesce(b);
  checkBatch(writes, b.pkts);
  assert.deepEqual(writes[0].members, [0, 1, 2, 3, 4]);
  // 55 left: 47 full segments fit in 65,535 bytes (40 + 47 * 1380 = 64,900).
  assert.deepEqual(writes.map((w) => w.members.length), [5, 47, 8]);
  const short = new Batch();
  for (const p of stream({}, [MSS, MSS, 100, MSS, MSS])) short.add(p);
  const w2 = coalesce(short);
  checkBatch(w2, short.pkts);
  assert.deepEqual(w2.map((w) => w.members), [[0, 1, 2], [3, 4]]);
  // A larger segment after a smaller first one does not join (gso_size is the first's).
  const grow = new Batch();
  for (const p of stream({}, [500, MSS])) grow.add(p);
  assert.deepEqual(coalesce(grow).map((w) => w.members), [[0], [1]]);
});

Deno.test("what must not merge does not: flags, ACK-only, gaps, overlaps, header differences", () => {
  const base = (over: PacketSpec, seq = 1000 + MSS, id = 101) =>
    buildPacket({ seq, id, payload: randomBytes(MSS), ...over });
  const variants: [string, Uint8Array][] = [
    ...[TCP_SYN, TCP_FIN, TCP_RST, TCP_URG, TCP_ECE, TCP_CWR].map((f) =>
      [`flag ${f}`, base({ flags: TCP_ACK | f })] as [string, Uint8Array]
    ),
    ["no ACK", base({ flags: TCP_PSH })],
    ["ACK only", base({ payload: new Uint8Array(0) })],
    ["gap", base({}, 1000 + MSS + 1)],
    ["overlap", base({}, 1000 + MSS - 1)],
    ["retransmit", base({}, 1000)],
    ["id skip", base({}, 1000 + MSS, 102)],
    ["ack number", base({ ack: 78 })],
    ["window", base({ window: 513 })],
    ["options", base({ options: [1, 1, 1, 1] })],
    ["tos", base({ tos: 1 })],
    ["ttl", base({ ttl: 63 })],
    ["df", base({ df: false })],
    ["ip options", base({ ipOptions: [1, 1, 1, 0] })],
  ];
  for (const [what, second] of variants) {
    const b = new Batch();
    b.add(buildPacket({ seq: 1000, id: 100, payload: randomBytes(MSS) })).add(second);
    const writes = coalesce(b);
    checkBatch(writes, b.pkts);
    assert.deepEqual(writes.map((w) => w.members), [[0], [1]], what);
  }
  // A bad checksum on either side, and a bad IPv4 header checksum.
  for (const which of [0, 1]) {
    for (const at of [30, 10]) {
      const b = new Batch();
      for (const p of stream({}, [MSS, MSS])) b.add(p);
      b.pkts[which][at] ^= 1;
      const writes = coalesce(b);
      checkBatch(writes, b.pkts);
      assert.equal(writes.length, 2);
    }
  }
  // The first of a run must have ACK alone: a PSH first segment is written alone.
  const b = new Batch();
  b.add(buildPacket({ seq: 1000, id: 100, flags: TCP_ACK | TCP_PSH, payload: randomBytes(MSS) }));
  b.add(base({}));
  b.add(base({}, 1000 + 2 * MSS, 102));
  assert.deepEqual(coalesce(b).map((w) => w.members), [[0], [1, 2]]);
});

Deno.test("trusting TCP checksums: a damaged TCP checksum merges as it is, a damaged IPv4 header does not", () => {
  const trusting = new TcpCoalescer(CAP, { trustTcpChecksums: true });
  for (const v6 of [false, true]) {
    for (const which of [0, 1, 2]) {
      const b = new Batch();
      for (const p of stream(v6 ? { version: 6 } : {}, [MSS, MSS, MSS])) b.add(p);
      const ipHl = v6 ? 40 : 20;
      // A payload byte and the checksum field: the TCP checksum no longer holds.
      b.pkts[which][ipHl + 20 + 7] ^= 1;
      b.pkts[which][ipHl + 17] ^= 0x10;
      assert.ok(!checksumsValid(b.pkts[which]));
      const writes = coalesce(b, trusting);
      assert.deepEqual(writes.map((w) => w.members), [[0, 1, 2]], `v6 ${v6}, damaged ${which}`);
      // The payloads as they came, the damaged one's bytes too, behind the first's headers.
      const payloads = b.pkts.map((p) => p.subarray(ipHl + 20));
      const merged = writes[0].bytes;
      let at = ipHl + 20;
      for (const pl of payloads) {
        assert.deepEqual(merged.subarray(at, at + pl.length), pl);
        at += pl.length;
      }
      assert.equal(at, merged.length);
      const field = (merged[ipHl + 16] << 8) | merged[ipHl + 17];
      assert.equal(field, refPseudo(merged, merged.length - ipHl));
      if (!v6) assert.equal(refSum(merged.subarray(0, 20)), 0xffff, "IPv4 header checksum");
      // The same batch through the checking coalescer: the damaged segment is not merged.
      assert.ok(coalesce(b).length > 1);
    }
  }
  // A damaged IPv4 header checksum on either side still keeps the two apart.
  for (const which of [0, 1]) {
    const b = new Batch();
    for (const p of stream({}, [MSS, MSS])) b.add(p);
    b.pkts[which][10] ^= 1;
    const writes = coalesce(b, trusting);
    checkBatch(writes, b.pkts);
    assert.equal(writes.length, 2);
  }
  // Undamaged streams merge as the checking coalescer merges them.
  const b = new Batch();
  for (const p of stream({}, Array(40).fill(MSS))) b.add(p);
  assert.deepEqual(
    coalesce(b, trusting).map((w) => w.members),
    coalesce(b).map((w) => w.members),
  );
});

Deno.test("flows interleave; another flow's packets, UDP and ICMP pass between runs", () => {
  const a = stream({ sport: 1 }, Array(6).fill(MSS));
  const c = stream({ version: 6, sport: 2 }, Array(6).fill(MSS));
  const d = stream({ sport: 1, dst: [10, 0, 0, 3] }, Array(3).fill(MSS));
  const udp = buildPacket({ proto: "udp", payload: randomBytes(300) });
  const icmp = fixIcmp(new Uint8Array(28));
  const b = new Batch();
  for (let k = 0; k < 6; k++) {
    b.add(a[k]).add(c[k]);
    if (k < 3) b.add(d[k]);
    if (k === 2) b.add(udp).add(icmp);
  }
  const writes = coalesce(b);
  checkBatch(writes, b.pkts);
  assert.deepEqual(writes.map((w) => w.members.length).sort(), [1, 1, 3, 6, 6]);
});

function fixIcmp(p: Uint8Array): Uint8Array {
  p[0] = 0x45;
  p[3] = p.length;
  p[8] = 64;
  p[9] = 1;
  p[20] = 8;
  return p;
}

Deno.test("a control segment closes the run: later data does not jump over it", () => {
  const segs = stream({}, [MSS, MSS, MSS, MSS]);
  // An ACK-only segment of the same flow between the 2nd and 3rd.
  const ack = buildPacket({ seq: 1000 + 2 * MSS, id: 102, payload: new Uint8Array(0) });
  const b = new Batch();
  b.add(segs[0]).add(segs[1]).add(ack);
  const later = stream({}, [MSS, MSS], 1000 + 2 * MSS, 103);
  b.add(later[0]).add(later[1]);
  const writes = coalesce(b);
  checkBatch(writes, b.pkts);
  assert.deepEqual(writes.map((w) => w.members), [[0, 1], [2], [3, 4]]);
  // An IPv4 fragment (of any flow) closes every run.
  const frag = buildPacket({ payload: randomBytes(100) });
  frag[6] = 0x20; // MF
  fixChecksums(frag);
  const f = new Batch();
  const s2 = stream({}, [MSS, MSS, MSS]);
  f.add(s2[0]).add(frag).add(s2[1]).add(s2[2]);
  assert.deepEqual(coalesce(f).map((w) => w.members), [[0], [1], [2, 3]]);
});

Deno.test("random streams: never merge what must not merge, merged output splits back", () => {
  const flags = [TCP_ACK, TCP_ACK, TCP_ACK, TCP_ACK, TCP_ACK | TCP_PSH, TCP_ACK | TCP_FIN, TCP_SYN];
  let merged = 0;
  for (let round = 0; round < 300; round++) {
    const flows = 1 + Math.floor(Math.random() * 4);
    const state = Array.from({ length: flows }, (_, f) => ({
      version: (f % 2 ? 6 : 4) as 4 | 6,
      sport: 1000 + f,
      seq: Math.floor(Math.random() * 2 ** 32),
      id: Math.floor(Math.random() * 65536),
      mss: [MSS, 536, 1000, 8][Math.floor(Math.random() * 4)],
    }));
    const b = new Batch();
    const n = 1 + Math.floor(Math.random() * 120);
    for (let k = 0; k < n; k++) {
      const r = Math.random();
      if (r < 0.05) {
        b.add(buildPacket({ proto: "udp", payload: randomBytes(Math.floor(Math.random() * 200)) }));
        continue;
      }
      const s = state[Math.floor(Math.random() * flows)];
      const size = Math.random() < 0.8 ? s.mss : Math.floor(Math.random() * s.mss * 1.2);
      let seq = s.seq;
      const q = Math.random();
      if (q < 0.05) seq = (seq + 1 + Math.floor(Math.random() * 3000)) >>> 0; // gap
      else if (q < 0.1) seq = (seq - 1 - Math.floor(Math.random() * 3000)) >>> 0; // overlap
      const p = buildPacket({
        version: s.version,
        sport: s.sport,
        seq,
        id: Math.random() < 0.03 ? 7 : s.id,
        flags: flags[Math.floor(Math.random() * flags.length)],
        window: Math.random() < 0.03 ? 1 : 512,
        payload: randomBytes(size),
      });
      if (Math.random() < 0.03) p[p.length - 1] ^= 0x40; // a bad checksum
      b.add(p);
      s.seq = (seq + size) >>> 0;
      s.id = (s.id + 1) & 0xffff;
    }
    const writes = coalesce(b);
    checkBatch(writes, b.pkts);
    merged += b.pkts.length - writes.length;
  }
  // The streams are mostly mergeable: the test saw real merging, not only refusals.
  assert.ok(merged > 1000, `${merged} packets merged`);
});

Deno.test("plan refuses a batch over capacity", () => {
  const small = new TcpCoalescer(2);
  assert.throws(
    () => small.plan(new Uint8Array(10), [0, 0, 0], [1, 1, 1], 3),
    /over capacity/,
  );
  assert.throws(() => new TcpCoalescer(0), /capacity/);
});
