/**
 * ICMPv4 (RFC 792) and ICMPv6 (RFC 4443) messages: a validating parser for any type, and builders
 * for echo request and reply.
 * @module
 */

import { finish, l4ChecksumV6, sum16 } from "./checksum.ts";
import { type IpInfo, newIpInfo, PROTO_ICMP, PROTO_ICMPV6 } from "./ip.ts";
import { ipHeaderLength, parseIp, writeIpHeader } from "./packet.ts";

/** ICMPv4 echo reply type. */
export const ICMPV4_ECHO_REPLY = 0;
/** ICMPv4 echo request type. */
export const ICMPV4_ECHO_REQUEST = 8;
/** ICMPv6 echo request type. */
export const ICMPV6_ECHO_REQUEST = 128;
/** ICMPv6 echo reply type. */
export const ICMPV6_ECHO_REPLY = 129;
/** Length of the ICMP header (type, code, checksum and the 4-byte rest of header). */
export const ICMP_HEADER_LENGTH = 8;

/** What `parseIcmp` learns about a message; offsets are into the whole packet. */
export interface IcmpInfo {
  /** The ICMP type. */
  type: number;
  /** The ICMP code. */
  code: number;
  /** True for an echo request or reply of the packet's family. */
  echo: boolean;
  /** True for an echo request. */
  request: boolean;
  /** Echo identifier (bytes 4-5 of the message, whatever the type). */
  id: number;
  /** Echo sequence number (bytes 6-7 of the message, whatever the type). */
  seq: number;
  /** Offset of the data after the 8-byte header. */
  dataOffset: number;
  /** Length of the data after the 8-byte header. */
  dataLength: number;
}

/** A fresh `IcmpInfo` to be filled by `parseIcmp`. */
export function newIcmpInfo(): IcmpInfo {
  return {
    type: 0,
    code: 0,
    echo: false,
    request: false,
    id: 0,
    seq: 0,
    dataOffset: 0,
    dataLength: 0,
  };
}

/**
 * Parses the ICMP (for IPv4) or ICMPv6 (for IPv6) message carried by the already parsed IP packet
 * `ip` into `out`. Returns null when the protocol does not match the family, the packet is a
 * fragment, the message is shorter than 8 bytes, or the checksum is wrong (ICMPv6 covers the
 * pseudo-header, ICMPv4 does not).
 */
export function parseIcmp(
  packet: Uint8Array,
  ip: IpInfo,
  out: IcmpInfo = newIcmpInfo(),
  verifyChecksum = true,
): IcmpInfo | null {
  const v4 = ip.version === 4;
  if (ip.protocol !== (v4 ? PROTO_ICMP : PROTO_ICMPV6) || ip.fragment) return null;
  const off = ip.payloadOffset;
  const len = ip.payloadLength;
  if (len < ICMP_HEADER_LENGTH) return null;
  if (verifyChecksum) {
    const ck = v4 ? finish(sum16(packet, off, len)) : l4ChecksumV6(packet, PROTO_ICMPV6, off, len);
    if (ck !== 0) return null;
  }
  const type = packet[off];
  out.type = type;
  out.code = packet[off + 1];
  out.request = v4 ? type === ICMPV4_ECHO_REQUEST : type === ICMPV6_ECHO_REQUEST;
  out.echo = out.request || (v4 ? type === ICMPV4_ECHO_REPLY : type === ICMPV6_ECHO_REPLY);
  out.id = (packet[off + 4] << 8) | packet[off + 5];
  out.seq = (packet[off + 6] << 8) | packet[off + 7];
  out.dataOffset = off + ICMP_HEADER_LENGTH;
  out.dataLength = len - ICMP_HEADER_LENGTH;
  return out;
}

/** Parses a whole IP+ICMP packet; `ip` receives the IP fields. Null when anything is malformed. */
export function parseIcmpPacket(
  packet: Uint8Array,
  ip: IpInfo = newIpInfo(),
  out: IcmpInfo = newIcmpInfo(),
): IcmpInfo | null {
  return parseIp(packet, ip) === null ? null : parseIcmp(packet, ip, out);
}

/** The size of an IP+ICMP echo packet with `dataLength` bytes over addresses of 4 or 16 bytes. */
export function icmpEchoLength(addressLength: number, dataLength: number): number {
  return ipHeaderLength(addressLength) + ICMP_HEADER_LENGTH + dataLength;
}

/**
 * Writes an IPv4+ICMP or IPv6+ICMPv6 (by address length) echo request or reply carrying `data` at
 * the start of `out`, checksums included; returns its length.
 */
export function writeIcmpEcho(
  out: Uint8Array,
  src: Uint8Array,
  dst: Uint8Array,
  request: boolean,
  id: number,
  seq: number,
  data: Uint8Array,
  ttl = 64,
): number {
  const v4 = src.length === 4;
  const msgLength = ICMP_HEADER_LENGTH + data.length;
  const off = writeIpHeader(out, src, dst, v4 ? PROTO_ICMP : PROTO_ICMPV6, msgLength, ttl);
  if (off + msgLength > out.length) {
    throw new RangeError(`ICMP packet of ${off + msgLength} bytes does not fit`);
  }
  out[off] = v4
    ? (request ? ICMPV4_ECHO_REQUEST : ICMPV4_ECHO_REPLY)
    : (request ? ICMPV6_ECHO_REQUEST : ICMPV6_ECHO_REPLY);
  out[off + 1] = 0;
  out[off + 2] = 0;
  out[off + 3] = 0;
  out[off + 4] = (id >> 8) & 0xff;
  out[off + 5] = id & 0xff;
  out[off + 6] = (seq >> 8) & 0xff;
  out[off + 7] = seq & 0xff;
  out.set(data, off + ICMP_HEADER_LENGTH);
  const ck = v4
    ? finish(sum16(out, off, msgLength))
    : l4ChecksumV6(out, PROTO_ICMPV6, off, msgLength);
  out[off + 2] = ck >> 8;
  out[off + 3] = ck & 0xff;
  return off + msgLength;
}

/** Builds a new IPv4 or IPv6 (by address length) ICMP echo request or reply. */
export function buildIcmpEcho(
  src: Uint8Array,
  dst: Uint8Array,
  request: boolean,
  id: number,
  seq: number,
  data: Uint8Array,
  ttl = 64,
): Uint8Array {
  const out = new Uint8Array(icmpEchoLength(src.length, data.length));
  writeIcmpEcho(out, src, dst, request, id, seq, data, ttl);
  return out;
}
