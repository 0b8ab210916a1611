/**
 * IP/TCP/UDP packets for the offload tests, built and checked with straightforward reference
 * code (byte at a time, nothing shared with the code under test).
 * @module
 */

/** What a test packet is made of; everything has a default. */
export interface PacketSpec {
  /** 4 or 6. */
  version?: 4 | 6;
  /** `tcp` or `udp`. */
  proto?: "tcp" | "udp";
  /** Source and destination addresses (4 or 16 bytes). */
  src?: number[];
  /** The destination address. */
  dst?: number[];
  /** Ports. */
  sport?: number;
  /** The destination port. */
  dport?: number;
  /** TCP sequence and acknowledgement numbers. */
  seq?: number;
  /** The acknowledgement number. */
  ack?: number;
  /** TCP flags (byte 13). */
  flags?: number;
  /** TCP window. */
  window?: number;
  /** TCP options (a multiple of 4 bytes). */
  options?: number[];
  /** IPv4 id. */
  id?: number;
  /** IPv4 TOS / IPv6 traffic class. */
  tos?: number;
  /** TTL / hop limit. */
  ttl?: number;
  /** IPv4 don't-fragment. */
  df?: boolean;
  /** IPv4 options (a multiple of 4 bytes). */
  ipOptions?: number[];
  /** IPv6 flow label. */
  flow?: number;
  /** The payload. */
  payload?: Uint8Array;
}

/** The reference one's complement sum of 16-bit words (odd byte padded), folded. */
export function refSum(data: Uint8Array, initial = 0): number {
  let s = initial;
  for (let i = 0; i < data.length; i += 2) {
    s += (data[i] << 8) | (i + 1 < data.length ? data[i + 1] : 0);
  }
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return s;
}

/** The IP header length of a packet (IPv6: 40, no extension headers). */
export function ipHeaderLength(p: Uint8Array): number {
  return p[0] >> 4 === 4 ? (p[0] & 15) * 4 : 40;
}

/** The transport protocol of a packet. */
export function protocolOf(p: Uint8Array): number {
  return p[0] >> 4 === 4 ? p[9] : p[6];
}

/** The reference pseudo-header sum of packet `p` for a transport segment of `len` bytes. */
export function refPseudo(p: Uint8Array, len: number): number {
  const v4 = p[0] >> 4 === 4;
  const ph = v4 ? new Uint8Array(12) : new Uint8Array(40);
  if (v4) {
    ph.set(p.subarray(12, 20));
    ph[9] = p[9];
    ph[10] = len >> 8;
    ph[11] = len & 0xff;
  } else {
    ph.set(p.subarray(8, 40));
    new DataView(ph.buffer).setUint32(32, len);
    ph[39] = p[6];
  }
  return refSum(ph);
}

/** Sets the IPv4 header checksum and the transport checksum (reference code). */
export function fixChecksums(p: Uint8Array): Uint8Array {
  const hl = ipHeaderLength(p);
  if (p[0] >> 4 === 4) {
    p[10] = p[11] = 0;
    const c = ~refSum(p.subarray(0, hl)) & 0xffff;
    p[10] = c >> 8;
    p[11] = c & 0xff;
  }
  const field = hl + (protocolOf(p) === 6 ? 16 : 6);
  p[field] = p[field + 1] = 0;
  const l4 = p.subarray(hl);
  let c = ~refSum(l4, refPseudo(p, l4.length)) & 0xffff;
  if (c === 0 && protocolOf(p) === 17) c = 0xffff;
  p[field] = c >> 8;
  p[field + 1] = c & 0xff;
  return p;
}

/** True when the IPv4 header checksum (if any) and the transport checksum are valid. */
export function checksumsValid(p: Uint8Array): boolean {
  const hl = ipHeaderLength(p);
  if (p[0] >> 4 === 4 && refSum(p.subarray(0, hl)) !== 0xffff) return false;
  const l4 = p.subarray(hl);
  return refSum(l4, refPseudo(p, l4.length)) === 0xffff;
}

/** Builds a packet with valid checksums. */
export function buildPacket(spec: PacketSpec = {}): Uint8Array {
  const v6 = spec.version === 6;
  const udp = spec.proto === "udp";
  const payload = spec.payload ?? new Uint8Array(0);
  const ipOpts = v6 ? [] : spec.ipOptions ?? [];
  const hl = v6 ? 40 : 20 + ipOpts.length;
  const opts = udp ? [] : spec.options ?? [];
  const l4h = udp ? 8 : 20 + opts.length;
  const p = new Uint8Array(hl + l4h + payload.length);
  const v = new DataView(p.buffer);
  if (v6) {
    v.setUint32(0, (6 << 28) | ((spec.tos ?? 0) << 20) | (spec.flow ?? 0x12345));
    v.setUint16(4, p.length - 40);
    p[6] = udp ? 17 : 6;
    p[7] = spec.ttl ?? 64;
    p.set(spec.src ?? [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], 8);
    p.set(spec.dst ?? [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2], 24);
  } else {
    p[0] = 0x40 | (hl / 4);
    p[1] = spec.tos ?? 0;
    v.setUint16(2, p.length);
    v.setUint16(4, spec.id ?? 0x1000);
    v.setUint16(6, spec.df === false ? 0 : 0x4000);
    p[8] = spec.ttl ?? 64;
    p[9] = udp ? 17 : 6;
    p.set(spec.src ?? [10, 0, 0, 1], 12);
    p.set(spec.dst ?? [10, 0, 0, 2], 16);
    p.set(ipOpts, 20);
  }
  v.setUint16(hl, spec.sport ?? 40000);
  v.setUint16(hl + 2, spec.dport ?? 5201);
  if (udp) {
    v.setUint16(hl + 4, l4h + payload.length);
  } else {
    v.setUint32(hl + 4, (spec.seq ?? 1000) >>> 0);
    v.setUint32(hl + 8, (spec.ack ?? 77) >>> 0);
    p[hl + 12] = (l4h / 4) << 4;
    p[hl + 13] = spec.flags ?? 0x10;
    v.setUint16(hl + 14, spec.window ?? 512);
    p.set(opts, hl + 20);
  }
  p.set(payload, hl + l4h);
  return fixChecksums(p);
}

/** Random bytes (any length). */
export function randomBytes(n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) crypto.getRandomValues(b.subarray(i, Math.min(n, i + 65536)));
  return b;
}
