import assert from "node:assert/strict";
import { completeChecksum, GsoSplitter, TCP_CWR, TCP_FIN, TCP_PSH } from "./gso_split.ts";
import {
  GSO_ECN,
  GSO_NONE,
  GSO_TCPV4,
  GSO_TCPV6,
  GSO_UDP,
  GSO_UDP_L4,
  newVnetHeader,
  VNET_F_NEEDS_CSUM,
  type VnetHeader,
} from "./vnet.ts";
import {
  buildPacket,
  checksumsValid,
  ipHeaderLength,
  randomBytes,
  refPseudo,
} from "../testing/ip_packets.ts";

const MTU = 1420;
const SLOTS = 8;
/** Where the packet goes in the arena: an odd offset, so nothing relies on alignment. */
const AT = 13;

interface Case {
  version: 4 | 6;
  proto: "tcp" | "udp";
}
const CASES: Case[] = [
  { version: 4, proto: "tcp" },
  { version: 6, proto: "tcp" },
  { version: 4, proto: "udp" },
  { version: 6, proto: "udp" },
];

function gsoType(c: Case): number {
  return c.proto === "udp" ? GSO_UDP_L4 : c.version === 4 ? GSO_TCPV4 : GSO_TCPV6;
}

/** A header as the kernel writes it, and the packet's checksum field holding the pseudo sum. */
function asKernelGso(pkt: Uint8Array, c: Case, gsoSize: number): VnetHeader {
  const hl = ipHeaderLength(pkt);
  const field = hl + (c.proto === "tcp" ? 16 : 6);
  const ps = refPseudo(pkt, pkt.length - hl);
  pkt[field] = ps >> 8;
  pkt[field + 1] = ps & 0xff;
  const h = newVnetHeader();
  h.flags = VNET_F_NEEDS_CSUM;
  h.gsoType = gsoType(c);
  h.gsoSize = gsoSize;
  h.csumStart = hl;
  h.csumOffset = c.proto === "tcp" ? 16 : 6;
  h.hdrLen = 0; // a hint the splitter must not need
  return h;
}

const splitter = new GsoSplitter();
let arena = new Uint8Array(0);
const lens = new Int32Array(SLOTS);

/** Splits `pkt` with `hdr` through the arena; returns the segments (copies), or null if refused. */
function split(pkt: Uint8Array, hdr: VnetHeader, capacity = MTU): Uint8Array[] | null {
  const slotBase = AT + pkt.length + 3;
  const size = slotBase + SLOTS * capacity + 7;
  if (arena.length < size) arena = new Uint8Array(size);
  arena.set(pkt, AT);
  const slots = Array.from({ length: SLOTS }, (_, i) => slotBase + i * capacity);
  const n = splitter.prepare(arena, AT, pkt.length, hdr, capacity);
  if (n === 0) return null;
  const out: Uint8Array[] = [];
  for (let first = 0; first < n;) {
    const k = splitter.cut(first, slots, SLOTS, lens);
    assert.ok(k > 0);
    for (let j = 0; j < k; j++) {
      assert.ok(lens[j] <= capacity);
      out.push(arena.slice(slots[j], slots[j] + lens[j]));
    }
    first += k;
  }
  // The input is left as it was.
  assert.deepEqual(arena.subarray(AT, AT + pkt.length), pkt);
  return out;
}

/** Checks the segments against the original and returns their payloads joined. */
function verify(orig: Uint8Array, segs: Uint8Array[], c: Case, gso: number): void {
  const hl = ipHeaderLength(orig);
  const l4h = c.proto === "tcp" ? (orig[hl + 12] >> 4) * 4 : 8;
  const hdr = hl + l4h;
  const payload = orig.subarray(hdr);
  assert.equal(segs.length, payload.length === 0 ? 1 : Math.ceil(payload.length / gso));
  const ov = new DataView(orig.buffer, orig.byteOffset);
  let at = 0;
  for (const [i, s] of segs.entries()) {
    const sv = new DataView(s.buffer);
    const plen = s.length - hdr;
    assert.equal(plen, Math.min(gso, payload.length - at), `segment ${i}`);
    assert.deepEqual(s.subarray(hdr), payload.subarray(at, at + plen));
    assert.ok(checksumsValid(s), `checksums of segment ${i}/${segs.length}`);
    if (c.version === 4) {
      assert.equal(sv.getUint16(2), s.length);
      assert.equal(sv.getUint16(4), (ov.getUint16(4) + i) & 0xffff);
      // Everything else of the IP header is the original's.
      for (const b of [0, 1, 6, 7, 8, 9, 12, 13, 14, 15, 16, 17, 18, 19]) {
        assert.equal(s[b], orig[b]);
      }
      assert.deepEqual(s.subarray(20, hl), orig.subarray(20, hl));
    } else {
      assert.equal(sv.getUint16(4), s.length - 40);
      assert.deepEqual(s.subarray(0, 4), orig.subarray(0, 4));
      assert.deepEqual(s.subarray(6, 40), orig.subarray(6, 40));
    }
    assert.deepEqual(s.subarray(hl, hl + 4), orig.subarray(hl, hl + 4)); // ports
    if (c.proto === "tcp") {
      assert.equal(sv.getUint32(hl + 4), (ov.getUint32(hl + 4) + at) >>> 0);
      assert.equal(sv.getUint32(hl + 8), ov.getUint32(hl + 8));
      let flags = orig[hl + 13];
      if (i !== segs.length - 1) flags &= ~(TCP_FIN | TCP_PSH);
      if (i !== 0) flags &= ~TCP_CWR;
      assert.equal(s[hl + 13], flags);
      assert.equal(s[hl + 12], orig[hl + 12]);
      assert.deepEqual(s.subarray(hl + 14, hl + 16), orig.subarray(hl + 14, hl + 16));
      assert.deepEqual(s.subarray(hl + 18, hdr), orig.subarray(hl + 18, hdr));
    } else {
      assert.equal(sv.getUint16(hl + 4), s.length - hl);
    }
    at += plen;
  }
  assert.equal(at, payload.length);
}

function headerBytes(c: Case, tcpOptions: number[] = []): number {
  return (c.version === 4 ? 20 : 40) + (c.proto === "tcp" ? 20 + tcpOptions.length : 8);
}

Deno.test("split: every payload size from 1 byte to the MTU, one segment and several", () => {
  for (const c of CASES) {
    const max = MTU - headerBytes(c);
    const data = randomBytes(MTU);
    for (let size = 1; size <= max; size++) {
      for (const gso of [max, 1 + (size * 7919) % max]) {
        const pkt = buildPacket({
          ...c,
          payload: data.subarray(0, size),
          seq: 0xffffff00 + size, // sequence numbers wrap
          id: 0xfff0,
          flags: 0x10 | TCP_PSH | TCP_FIN | TCP_CWR,
        });
        const h = asKernelGso(pkt, c, gso);
        const segs = split(pkt, h);
        assert.ok(segs, `${c.version}/${c.proto} size ${size} gso ${gso}`);
        verify(pkt, segs, c, gso);
      }
    }
  }
});

Deno.test("split: 64 KB packets into MTU-sized, odd-sized and tiny segments", () => {
  const tsOptions = [1, 1, 8, 10, 1, 2, 3, 4, 5, 6, 7, 8]; // NOP NOP timestamps
  for (const c of CASES) {
    for (const options of [[], tsOptions]) {
      const hdr = headerBytes(c, c.proto === "tcp" ? options : []);
      const full = 65535 - hdr;
      for (
        const [size, gso] of [
          [full, MTU - hdr],
          [full, 1000],
          [full, 1],
          [full - 1, 1337],
          [65535 - 1400 - hdr, MTU - hdr],
          [3000, 1],
        ]
      ) {
        const pkt = buildPacket({
          ...c,
          options,
          payload: randomBytes(size),
          seq: 0xfffff000,
          flags: 0x10 | TCP_PSH | TCP_CWR,
          ipOptions: [],
        });
        const h = asKernelGso(pkt, c, gso);
        if (c.proto === "tcp") h.gsoType |= GSO_ECN;
        const segs = split(pkt, h);
        assert.ok(segs, `${c.version}/${c.proto} ${size}/${gso}`);
        verify(pkt, segs, c, gso);
      }
    }
  }
});

Deno.test("split: IPv4 options are copied into every segment; ids wrap", () => {
  const c: Case = { version: 4, proto: "tcp" };
  const pkt = buildPacket({
    ...c,
    ipOptions: [1, 1, 1, 0], // NOP NOP NOP EOL
    payload: randomBytes(5000),
    id: 0xfffe,
  });
  const h = asKernelGso(pkt, c, 1000);
  h.csumStart = 24;
  const segs = split(pkt, h)!;
  verify(pkt, segs, c, 1000);
  assert.deepEqual(segs.map((s) => (s[4] << 8) | s[5]), [0xfffe, 0xffff, 0, 1, 2]);
});

Deno.test("split: IPv6 with hop-by-hop and destination options; other extensions refused", () => {
  const c: Case = { version: 6, proto: "tcp" };
  const plain = buildPacket({ ...c, payload: randomBytes(4000), flags: 0x18 });
  // Insert a hop-by-hop header (8 bytes) and a destination options header (16 bytes).
  const ext = Uint8Array.of(60, 0, 1, 4, 0, 0, 0, 0, 6, 1, 1, 12, ...new Array(12).fill(0));
  const pkt = new Uint8Array(plain.length + ext.length);
  pkt.set(plain.subarray(0, 40));
  pkt.set(ext, 40);
  pkt.set(plain.subarray(40), 40 + ext.length);
  pkt[6] = 0;
  new DataView(pkt.buffer).setUint16(4, pkt.length - 40);
  const h = newVnetHeader();
  h.flags = VNET_F_NEEDS_CSUM;
  h.gsoType = GSO_TCPV6;
  h.gsoSize = 1000;
  h.csumStart = 64;
  h.csumOffset = 16;
  const segs = split(pkt, h)!;
  assert.equal(segs.length, 4);
  const payload = plain.subarray(60);
  for (const [i, s] of segs.entries()) {
    assert.deepEqual(s.subarray(40, 64), ext);
    assert.equal((s[4] << 8) | s[5], s.length - 40);
    assert.deepEqual(s.subarray(84), payload.subarray(i * 1000, (i + 1) * 1000));
    // The transport checksum, over the pseudo-header of the IPv6 addresses.
    const l4 = s.subarray(64);
    const ph = new Uint8Array(40);
    ph.set(s.subarray(8, 40));
    new DataView(ph.buffer).setUint32(32, l4.length);
    ph[39] = 6;
    let sum = 0;
    for (const b of [ph, l4]) {
      for (let k = 0; k < b.length; k += 2) sum += (b[k] << 8) | (b[k + 1] ?? 0);
    }
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    assert.equal(sum, 0xffff, `segment ${i}`);
  }
  // A routing header: refused.
  const routed = pkt.slice();
  routed[6] = 43;
  assert.equal(split(routed, h), null);
  // Options running past the end: refused.
  const long = pkt.slice(0, 60);
  long[41] = 200;
  assert.equal(split(long, h), null);
});

Deno.test("split refuses what it cannot cut, and writes nothing", () => {
  const tcp4 = buildPacket({ payload: randomBytes(3000) });
  const tcp6 = buildPacket({ version: 6, payload: randomBytes(3000) });
  const udp4 = buildPacket({ proto: "udp", payload: randomBytes(3000) });
  const base = (p: Uint8Array, c: Case) => asKernelGso(p.slice(), c, 1000);
  const t4: Case = { version: 4, proto: "tcp" };
  const t6: Case = { version: 6, proto: "tcp" };
  const u4: Case = { version: 4, proto: "udp" };
  const bad: [Uint8Array, VnetHeader, number?][] = [
    [tcp4, { ...base(tcp4, t4), gsoType: GSO_NONE }],
    [tcp4, { ...base(tcp4, t4), gsoType: GSO_UDP }],
    [tcp4, { ...base(tcp4, t4), gsoType: 9 }],
    [tcp4, { ...base(tcp4, t4), gsoType: GSO_TCPV6 }],
    [tcp6, { ...base(tcp6, t6), gsoType: GSO_TCPV4 }],
    [tcp4, { ...base(tcp4, t4), gsoType: GSO_UDP_L4 }],
    [udp4, { ...base(udp4, u4), gsoType: GSO_TCPV4 }],
    [tcp4, { ...base(tcp4, t4), gsoSize: 0 }],
    [tcp4, { ...base(tcp4, t4), csumStart: 21 }],
    [tcp4, { ...base(tcp4, t4), csumOffset: 6 }],
    [udp4, { ...base(udp4, u4), csumOffset: 16 }],
    [tcp4, base(tcp4, t4), 1000], // a segment larger than a slot
    [tcp4.subarray(0, 30), base(tcp4, t4)], // TCP header cut short
    [tcp4.subarray(0, 19), base(tcp4, t4)],
    [tcp6.subarray(0, 39), base(tcp6, t6)],
    [new Uint8Array(0), base(tcp4, t4)],
  ];
  for (const [i, [pkt, h, capacity]] of bad.entries()) {
    assert.equal(split(pkt, h, capacity), null, `case ${i}`);
    assert.equal(splitter.segments, 0);
  }
  // A fragment, a bad IHL, a TCP data offset past the end, version 5.
  const mutate = (f: (p: Uint8Array) => void, pkt = tcp4) => {
    const h = base(pkt, t4);
    const p = pkt.slice();
    f(p);
    return split(p, h);
  };
  assert.equal(mutate((p) => (p[6] |= 0x20)), null);
  assert.equal(mutate((p) => (p[7] = 1)), null);
  assert.equal(mutate((p) => (p[0] = 0x44)), null);
  assert.equal(mutate((p) => (p[0] = 0x4f)), null);
  assert.equal(mutate((p) => (p[0] = 0x54)), null);
  assert.equal(mutate((p) => (p[32] = 0xf0), tcp4.subarray(0, 50)), null);
  assert.equal(mutate((p) => (p[32] = 0x40)), null);
});

Deno.test("completeChecksum fills a partial checksum in place, and refuses a field outside", () => {
  for (const c of CASES) {
    for (const size of [0, 1, 2, 3, 100, 1371]) {
      const pkt = buildPacket({ ...c, payload: randomBytes(size) });
      const h = asKernelGso(pkt, c, 0);
      h.gsoType = GSO_NONE;
      const buf = new Uint8Array(pkt.length + 6);
      buf.set(pkt, 3);
      assert.ok(completeChecksum(buf, 3, pkt.length, h));
      assert.ok(checksumsValid(buf.subarray(3, 3 + pkt.length)));
      assert.equal(completeChecksum(buf, 3, pkt.length, { ...h, csumOffset: pkt.length }), false);
      assert.equal(completeChecksum(buf, 3, buf.length, h), false);
    }
  }
});
