/**
 * Family-independent entry points over the IPv4 and IPv6 header modules.
 * @module
 */

import { type IpInfo, newIpInfo } from "./ip.ts";
import { IPV4_HEADER_LENGTH, parseIpv4, writeIpv4Header } from "./ipv4.ts";
import { IPV6_HEADER_LENGTH, parseIpv6, writeIpv6Header } from "./ipv6.ts";

/** Parses an IPv4 or IPv6 packet by its version nibble into `out`; null when malformed. */
export function parseIp(packet: Uint8Array, out: IpInfo = newIpInfo()): IpInfo | null {
  if (packet.length === 0) return null;
  const v = packet[0] >> 4;
  if (v === 4) return parseIpv4(packet, out);
  if (v === 6) return parseIpv6(packet, out);
  return null;
}

/** The length of the header `writeIpHeader` writes for addresses of `addressLength` bytes. */
export function ipHeaderLength(addressLength: number): number {
  return addressLength === 4 ? IPV4_HEADER_LENGTH : IPV6_HEADER_LENGTH;
}

/**
 * Writes an IPv4 or IPv6 header (chosen by the address length, 4 or 16) at the start of `out`;
 * returns its length.
 */
export function writeIpHeader(
  out: Uint8Array,
  src: Uint8Array,
  dst: Uint8Array,
  protocol: number,
  payloadLength: number,
  ttl = 64,
): number {
  if (src.length !== dst.length || (src.length !== 4 && src.length !== 16)) {
    throw new RangeError(
      `source and destination must both be IPv4 or both IPv6 (got ${src.length} and ${dst.length} bytes)`,
    );
  }
  return src.length === 4
    ? writeIpv4Header(out, src, dst, protocol, payloadLength, ttl)
    : writeIpv6Header(out, src, dst, protocol, payloadLength, ttl);
}
