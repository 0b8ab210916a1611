/**
 * Run by tun_offload_alloc_test.ts under `--v8-flags=--trace-gc,--expose-gc`: the TUN's offload
 * paths read 64 KB TSO packets (cut into 47 segments), plain packets with partial checksums, and
 * write batches of TCP segments (coalesced) and UDP packets, between two forced collections (the
 * markers, tests/fixtures/gc_count.ts), so the parent can count the collections they caused. `allocating` adds an allocation per round, to show the counting works.
 * @module
 */

import { TunOffload } from "../linux/tun_offload.ts";
import { encodeVnetHeader, GSO_NONE, GSO_TCPV4, VNET_F_NEEDS_CSUM } from "../linux/vnet.ts";
import { buildPacket, randomBytes, refPseudo } from "./ip_packets.ts";

const mode = Deno.args[0] ?? "offload";
// As the Linux TUN: coalesced writes gathered (writev), TCP checksums trusted.
const off = new TunOffload({
  mtu: 1420,
  emit: (_at, len) => len,
  emitv: (ranges, count) => {
    let n = 0;
    for (let k = 0; k < count; k++) n += ranges[2 * k + 1];
    return n;
  },
  trustTcpChecksums: true,
});
let bytes = 0;
let kept = new Uint8Array(0);
const sink = {
  packet: (p: Uint8Array) => {
    bytes += p[0] + p.length;
    // The control: one small allocation per packet.
    if (mode === "allocating") kept = new Uint8Array(128 + (p.length & 1));
  },
  flush() {},
};

const big = buildPacket({ payload: randomBytes(65535 - 40) });
const small = buildPacket({ proto: "udp", payload: randomBytes(500) });
for (const [p, field] of [[big, 36], [small, 26]] as const) {
  const ps = refPseudo(p, p.length - 20);
  p[field] = ps >> 8;
  p[field + 1] = ps & 0xff;
}
const segs = Array.from(
  { length: 40 },
  (_, i) => buildPacket({ seq: i * 1380, id: i, payload: randomBytes(1380) }),
);
const udp = buildPacket({ proto: "udp", payload: randomBytes(100) });

function round(): void {
  encodeVnetHeader(off.arena, 0, VNET_F_NEEDS_CSUM, GSO_TCPV4, 40, 1380, 20, 16);
  off.arena.set(big, 10);
  off.handleRead(10 + big.length, sink);
  encodeVnetHeader(off.arena, 0, VNET_F_NEEDS_CSUM, GSO_NONE, 0, 0, 20, 6);
  off.arena.set(small, 10);
  off.handleRead(10 + small.length, sink);
  for (let i = 0; i < segs.length; i++) {
    off.write(segs[i]);
    if (i % 10 === 0) off.write(udp);
  }
  off.flush();
}

for (let i = 0; i < 3000; i++) round();
declare const gc: () => void;
gc(); // the start marker
const t0 = performance.now();
for (let i = 0; i < 20000; i++) round();
const ms = performance.now() - t0;
gc(); // the end marker
console.error(bytes, kept.length, off.stats.coalescedWrites, `${ms.toFixed(0)} ms`);
