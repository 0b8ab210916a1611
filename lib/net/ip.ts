/**
 * IP addresses as text and as bytes, and allocation-free reads of the addresses in a raw packet.
 * Packets always start at index 0 of the array they are passed in.
 * @module
 */

/** IANA protocol number of ICMP. */
export const PROTO_ICMP = 1;
/** IANA protocol number of TCP. */
export const PROTO_TCP = 6;
/** IANA protocol number of UDP. */
export const PROTO_UDP = 17;
/** IANA protocol number of ICMPv6. */
export const PROTO_ICMPV6 = 58;

/** Offset of the source address in an IPv4 header. */
export const V4_SRC_OFFSET = 12;
/** Offset of the destination address in an IPv4 header. */
export const V4_DST_OFFSET = 16;
/** Offset of the source address in an IPv6 header. */
export const V6_SRC_OFFSET = 8;
/** Offset of the destination address in an IPv6 header. */
export const V6_DST_OFFSET = 24;

/**
 * What the IPv4 and IPv6 parsers learn about a packet. Parsers fill a caller-owned instance so the
 * per-packet path allocates nothing.
 */
export interface IpInfo {
  /** 4 or 6. */
  version: 4 | 6;
  /** Bytes before the upper-layer payload (IPv4 header with options; IPv6 header and extensions). */
  headerLength: number;
  /** Length of the packet according to its header; the buffer may hold padding beyond it. */
  packetLength: number;
  /** Upper-layer protocol (after any IPv6 extension headers). */
  protocol: number;
  /** Offset of the upper-layer payload. */
  payloadOffset: number;
  /** Length of the upper-layer payload. */
  payloadLength: number;
  /** Offset of the source address. */
  srcOffset: number;
  /** Offset of the destination address. */
  dstOffset: number;
  /** 4 or 16. */
  addressLength: 4 | 16;
  /** TTL (IPv4) or hop limit (IPv6). */
  ttl: number;
  /** True when the packet is one fragment of a larger datagram. */
  fragment: boolean;
}

/** A fresh `IpInfo` to be filled by a parser. */
export function newIpInfo(): IpInfo {
  return {
    version: 4,
    headerLength: 0,
    packetLength: 0,
    protocol: 0,
    payloadOffset: 0,
    payloadLength: 0,
    srcOffset: 0,
    dstOffset: 0,
    addressLength: 4,
    ttl: 0,
    fragment: false,
  };
}

/** Reads 4 bytes at `offset` as an unsigned big-endian 32-bit integer. */
export function readUint32(bytes: Uint8Array, offset: number): number {
  return ((bytes[offset] << 24) | (bytes[offset + 1] << 16) | (bytes[offset + 2] << 8) |
    bytes[offset + 3]) >>> 0;
}

/** The destination address of an IPv4 packet as an unsigned 32-bit integer (no bounds check). */
export function readV4Dst(packet: Uint8Array): number {
  return readUint32(packet, V4_DST_OFFSET);
}

/** True when `length` bytes of `a` from `aOffset` equal those of `b` from `bOffset`. */
export function bytesEqual(
  a: Uint8Array,
  aOffset: number,
  b: Uint8Array,
  bOffset: number,
  length: number,
): boolean {
  if (aOffset + length > a.length || bOffset + length > b.length) return false;
  for (let i = 0; i < length; i++) if (a[aOffset + i] !== b[bOffset + i]) return false;
  return true;
}

// The one IP text parser: every address read from flags, files, tokens, the wire or UAPI goes
// through these two, so all layers agree on what an address is.

/**
 * Parses dotted-quad IPv4 text into 4 bytes of `out` at `offset`. Rejects leading zeros, as
 * modern parsers do, because some old ones read them as octal.
 */
function parseAddressV4Into(text: string, out: Uint8Array, offset = 0): boolean {
  let part = 0;
  let value = 0;
  let digits = 0;
  for (let i = 0; i <= text.length; i++) {
    const c = i < text.length ? text.charCodeAt(i) : 0x2e;
    if (c === 0x2e) {
      if (digits === 0 || part > 3) return false;
      out[offset + part++] = value;
      value = 0;
      digits = 0;
    } else if (c >= 0x30 && c <= 0x39) {
      if (digits > 0 && value === 0) return false;
      value = value * 10 + (c - 0x30);
      if (value > 255) return false;
      digits++;
    } else {
      return false;
    }
  }
  return part === 4;
}

function parseHexGroup(text: string): number {
  if (text.length < 1 || text.length > 4) return -1;
  let value = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    let d: number;
    if (c >= 0x30 && c <= 0x39) d = c - 0x30;
    else if (c >= 0x61 && c <= 0x66) d = c - 0x57;
    else if (c >= 0x41 && c <= 0x46) d = c - 0x37;
    else return -1;
    value = (value << 4) | d;
  }
  return value;
}

/** Writes `groups` (hex groups, the last may be dotted IPv4) as 16-bit words; -1 on bad input. */
function writeGroups(
  groups: string[],
  out: Uint8Array,
  offset: number,
  allowV4Tail: boolean,
): number {
  let at = offset;
  for (let i = 0; i < groups.length; i++) {
    const g = groups[i];
    if (allowV4Tail && i === groups.length - 1 && g.includes(".")) {
      if (!parseAddressV4Into(g, out, at)) return -1;
      at += 4;
      continue;
    }
    const v = parseHexGroup(g);
    if (v < 0) return -1;
    out[at] = v >> 8;
    out[at + 1] = v & 0xff;
    at += 2;
  }
  return at - offset;
}

/**
 * Parses IPv6 text (RFC 4291 section 2.2: `::` compression, an embedded dotted IPv4 tail) into 16
 * bytes of `out` at `offset`. Zone identifiers and brackets are rejected.
 */
function parseAddressV6Into(text: string, out: Uint8Array, offset = 0): boolean {
  if (text.length < 2 || text.length > 45) return false;
  const halves = text.split("::");
  if (halves.length > 2) return false;
  const tmp = new Uint8Array(16);
  if (halves.length === 1) {
    const n = writeGroups(halves[0].split(":"), tmp, 0, true);
    if (n !== 16) return false;
  } else {
    const head = halves[0] === "" ? [] : halves[0].split(":");
    const tail = halves[1] === "" ? [] : halves[1].split(":");
    const h = writeGroups(head, tmp, 0, false);
    if (h < 0) return false;
    const rest = new Uint8Array(16);
    const t = writeGroups(tail, rest, 0, true);
    // `::` stands for at least one zero group, so at most 14 bytes may be spelled out.
    if (t < 0 || h + t > 14) return false;
    tmp.set(rest.subarray(0, t), 16 - t);
  }
  out.set(tmp, offset);
  return true;
}

/** Parses dotted-quad IPv4 text into 4 bytes, or null. */
export function parseAddressV4(text: string): Uint8Array | null {
  const out = new Uint8Array(4);
  return parseAddressV4Into(text, out) ? out : null;
}

/** Parses IPv6 text into 16 bytes, or null. */
export function parseAddressV6(text: string): Uint8Array | null {
  const out = new Uint8Array(16);
  return parseAddressV6Into(text, out) ? out : null;
}

/** Parses IPv4 or IPv6 text into 4 or 16 bytes, or null; text with a colon is IPv6. */
export function parseAddress(text: string): Uint8Array | null {
  return text.includes(":") ? parseAddressV6(text) : parseAddressV4(text);
}

/** Whether `text` is dotted-quad IPv4 text (no leading zeros). */
export function isIPv4(text: string): boolean {
  return parseAddressV4Into(text, SCRATCH);
}

/** Whether `text` is IPv6 text (`::` compression, a dotted IPv4 tail; no zone, no brackets). */
export function isIPv6(text: string): boolean {
  return parseAddressV6Into(text, SCRATCH);
}

/** Whether `text` is an IPv4 or IPv6 address. */
export function isIP(text: string): boolean {
  return text.includes(":") ? isIPv6(text) : isIPv4(text);
}

// The predicates parse into this and throw the bytes away, so checking allocates nothing.
const SCRATCH = new Uint8Array(16);

/** An IPv4 address as an unsigned 32-bit integer from dotted-quad text, or null. */
export function parseAddressV4Uint32(text: string): number | null {
  const b = parseAddressV4(text);
  return b === null ? null : readUint32(b, 0);
}

/** Formats the 4 bytes of `bytes` at `offset` as dotted-quad text. */
export function formatAddressV4(bytes: Uint8Array, offset = 0): string {
  return `${bytes[offset]}.${bytes[offset + 1]}.${bytes[offset + 2]}.${bytes[offset + 3]}`;
}

/** Formats an unsigned 32-bit integer as dotted-quad text. */
export function formatUint32V4(value: number): string {
  return `${value >>> 24}.${(value >>> 16) & 0xff}.${(value >>> 8) & 0xff}.${value & 0xff}`;
}

/**
 * Formats the 16 bytes of `bytes` at `offset` in the canonical form of RFC 5952: lowercase, no
 * leading zeros, the longest (first on a tie) run of two or more zero groups as `::`, and
 * IPv4-mapped addresses with a dotted tail.
 */
export function formatAddressV6(bytes: Uint8Array, offset = 0): string {
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push((bytes[offset + 2 * i] << 8) | bytes[offset + 2 * i + 1]);
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) {
    return `::ffff:${formatAddressV4(bytes, offset + 12)}`;
  }
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestStart < 0) return g.map((x) => x.toString(16)).join(":");
  const head = g.slice(0, bestStart).map((x) => x.toString(16)).join(":");
  const tail = g.slice(bestStart + bestLen).map((x) => x.toString(16)).join(":");
  return `${head}::${tail}`;
}

/** Formats a 4- or 16-byte address as text. */
export function formatAddress(bytes: Uint8Array): string {
  if (bytes.length === 4) return formatAddressV4(bytes);
  if (bytes.length === 16) return formatAddressV6(bytes);
  throw new RangeError(`an IP address has 4 or 16 bytes, not ${bytes.length}`);
}

/**
 * An address as the transports hold it: four big-endian 32-bit words of an IPv6 address, IPv4
 * as IPv4-mapped (`0, 0, 0xffff, v4`), so one comparison covers both families.
 */
export type AddressWords = [number, number, number, number];

/** Parses IPv4 or IPv6 text into {@link AddressWords} (IPv4 mapped), or null. */
export function parseAddressWords(text: string): AddressWords | null {
  if (!text.includes(":")) {
    const v4 = parseAddressV4Uint32(text);
    return v4 === null ? null : [0, 0, 0xffff, v4];
  }
  const b = parseAddressV6(text);
  return b === null
    ? null
    : [readUint32(b, 0), readUint32(b, 4), readUint32(b, 8), readUint32(b, 12)];
}

/** Whether words hold an IPv4-mapped address (`::ffff:a.b.c.d`). */
export function isMappedV4(words: readonly number[]): boolean {
  return words[0] === 0 && words[1] === 0 && words[2] === 0xffff;
}

/** Formats {@link AddressWords}: a mapped address as dotted IPv4, others in RFC 5952 form. */
export function formatAddressWords(words: readonly number[]): string {
  if (isMappedV4(words)) return formatUint32V4(words[3]);
  const b = new Uint8Array(16);
  for (let i = 0; i < 4; i++) {
    b[4 * i] = words[i] >>> 24;
    b[4 * i + 1] = words[i] >>> 16;
    b[4 * i + 2] = words[i] >>> 8;
    b[4 * i + 3] = words[i];
  }
  return formatAddressV6(b);
}
