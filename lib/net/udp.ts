/**
 * UDP (RFC 768) over IPv4 and IPv6: parse a datagram out of a parsed IP packet, and build whole
 * IP+UDP packets.
 * @module
 */

import { l4ChecksumV4, l4ChecksumV6 } from "./checksum.ts";
import { type IpInfo, newIpInfo, PROTO_UDP } from "./ip.ts";
import { ipHeaderLength, parseIp, writeIpHeader } from "./packet.ts";

/** Length of the UDP header. */
export const UDP_HEADER_LENGTH = 8;

/** What `parseUdp` learns about a datagram; offsets are into the whole packet. */
export interface UdpInfo {
  /** Source port. */
  srcPort: number;
  /** Destination port. */
  dstPort: number;
  /** Offset of the UDP payload. */
  payloadOffset: number;
  /** Length of the UDP payload. */
  payloadLength: number;
}

/** A fresh `UdpInfo` to be filled by `parseUdp`. */
export function newUdpInfo(): UdpInfo {
  return { srcPort: 0, dstPort: 0, payloadOffset: 0, payloadLength: 0 };
}

/**
 * Parses the UDP datagram carried by the already parsed IP packet `ip` into `out`. Returns null
 * when the packet is not UDP or is a fragment, the datagram is shorter than its header, its length
 * field is below 8 or past the IP payload, or the checksum is wrong. A zero checksum means "none"
 * over IPv4 and is invalid over IPv6 (RFC 8200 section 8.1).
 */
export function parseUdp(
  packet: Uint8Array,
  ip: IpInfo,
  out: UdpInfo = newUdpInfo(),
  verifyChecksum = true,
): UdpInfo | null {
  if (ip.protocol !== PROTO_UDP || ip.fragment) return null;
  const off = ip.payloadOffset;
  if (ip.payloadLength < UDP_HEADER_LENGTH) return null;
  const udpLength = (packet[off + 4] << 8) | packet[off + 5];
  if (udpLength < UDP_HEADER_LENGTH || udpLength > ip.payloadLength) return null;
  const stored = (packet[off + 6] << 8) | packet[off + 7];
  if (stored === 0) {
    if (ip.version === 6) return null;
  } else if (verifyChecksum) {
    const ck = ip.version === 4
      ? l4ChecksumV4(packet, PROTO_UDP, off, udpLength)
      : l4ChecksumV6(packet, PROTO_UDP, off, udpLength);
    if (ck !== 0) return null;
  }
  out.srcPort = (packet[off] << 8) | packet[off + 1];
  out.dstPort = (packet[off + 2] << 8) | packet[off + 3];
  out.payloadOffset = off + UDP_HEADER_LENGTH;
  out.payloadLength = udpLength - UDP_HEADER_LENGTH;
  return out;
}

/** Parses a whole IP+UDP packet; `ip` receives the IP fields. Null when anything is malformed. */
export function parseUdpPacket(
  packet: Uint8Array,
  ip: IpInfo = newIpInfo(),
  out: UdpInfo = newUdpInfo(),
): UdpInfo | null {
  return parseIp(packet, ip) === null ? null : parseUdp(packet, ip, out);
}

/** The size of an IP+UDP packet with `payloadLength` bytes over addresses of 4 or 16 bytes. */
export function udpPacketLength(addressLength: number, payloadLength: number): number {
  return ipHeaderLength(addressLength) + UDP_HEADER_LENGTH + payloadLength;
}

function checkPort(port: number, what: string): void {
  if (!Number.isInteger(port) || port < 0 || port > 0xffff) {
    throw new RangeError(`${what} port ${port} is not an integer in 0-65535`);
  }
}

/**
 * Writes an IPv4 or IPv6 (by address length) UDP packet carrying `payload` at the start of `out`,
 * checksum included; returns its length. `out` must hold `udpPacketLength(...)` bytes. With
 * `sumV4` false an IPv4 packet carries a zero checksum, "none" (RFC 768; every receiver takes
 * it, {@link parseUdp} too); IPv6 always carries one (a zero is invalid there).
 */
export function writeUdpPacket(
  out: Uint8Array,
  src: Uint8Array,
  dst: Uint8Array,
  srcPort: number,
  dstPort: number,
  payload: Uint8Array,
  ttl = 64,
  sumV4 = true,
): number {
  checkPort(srcPort, "source");
  checkPort(dstPort, "destination");
  const udpLength = UDP_HEADER_LENGTH + payload.length;
  const off = writeIpHeader(out, src, dst, PROTO_UDP, udpLength, ttl);
  if (udpLength > 0xffff || off + udpLength > out.length) {
    throw new RangeError(`UDP packet of ${off + udpLength} bytes does not fit`);
  }
  out[off] = srcPort >> 8;
  out[off + 1] = srcPort & 0xff;
  out[off + 2] = dstPort >> 8;
  out[off + 3] = dstPort & 0xff;
  out[off + 4] = udpLength >> 8;
  out[off + 5] = udpLength & 0xff;
  out[off + 6] = 0;
  out[off + 7] = 0;
  out.set(payload, off + UDP_HEADER_LENGTH);
  if (!sumV4 && src.length === 4) return off + udpLength;
  let ck = src.length === 4
    ? l4ChecksumV4(out, PROTO_UDP, off, udpLength)
    : l4ChecksumV6(out, PROTO_UDP, off, udpLength);
  // A computed zero is sent as all ones: zero on the wire means "no checksum".
  if (ck === 0) ck = 0xffff;
  out[off + 6] = ck >> 8;
  out[off + 7] = ck & 0xff;
  return off + udpLength;
}

/** Builds a new IPv4 or IPv6 (by address length) UDP packet carrying `payload`. */
export function buildUdpPacket(
  src: Uint8Array,
  dst: Uint8Array,
  srcPort: number,
  dstPort: number,
  payload: Uint8Array,
  ttl = 64,
): Uint8Array {
  const out = new Uint8Array(udpPacketLength(src.length, payload.length));
  writeUdpPacket(out, src, dst, srcPort, dstPort, payload, ttl);
  return out;
}
