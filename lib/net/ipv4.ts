/**
 * IPv4 headers (RFC 791): a validating parser that never throws on hostile input, and a writer.
 * @module
 */

import { ipv4HeaderChecksum } from "./checksum.ts";
import { type IpInfo, newIpInfo, V4_DST_OFFSET, V4_SRC_OFFSET } from "./ip.ts";

/** Length of an IPv4 header without options. */
export const IPV4_HEADER_LENGTH = 20;
/** Default TTL for packets this code originates (Linux's default). */
export const DEFAULT_TTL = 64;

/**
 * Parses the IPv4 packet at the start of `packet` into `out`. Returns null when the buffer is too
 * short, the version is not 4, the header length is below 20 or past the buffer, the total length
 * is inside the header or past the buffer, or the header checksum is wrong. Bytes past the total
 * length (e.g. WireGuard's padding) are ignored.
 */
export function parseIpv4(
  packet: Uint8Array,
  out: IpInfo = newIpInfo(),
  verifyChecksum = true,
): IpInfo | null {
  const len = packet.length;
  if (len < IPV4_HEADER_LENGTH) return null;
  const b0 = packet[0];
  if (b0 >> 4 !== 4) return null;
  const headerLength = (b0 & 0x0f) * 4;
  if (headerLength < IPV4_HEADER_LENGTH || headerLength > len) return null;
  const total = (packet[2] << 8) | packet[3];
  if (total < headerLength || total > len) return null;
  if (
    verifyChecksum &&
    ipv4HeaderChecksum(packet, 0, headerLength) !== ((packet[10] << 8) | packet[11])
  ) {
    return null;
  }
  const flagsFrag = (packet[6] << 8) | packet[7];
  out.version = 4;
  out.headerLength = headerLength;
  out.packetLength = total;
  out.protocol = packet[9];
  out.payloadOffset = headerLength;
  out.payloadLength = total - headerLength;
  out.srcOffset = V4_SRC_OFFSET;
  out.dstOffset = V4_DST_OFFSET;
  out.addressLength = 4;
  out.ttl = packet[8];
  // More-fragments set, or a non-zero fragment offset.
  out.fragment = (flagsFrag & 0x3fff) !== 0;
  return out;
}

/**
 * Writes a 20-byte IPv4 header (no options, DF clear, checksum filled in) at the start of `out`
 * for a payload of `payloadLength` bytes; returns the header length.
 */
export function writeIpv4Header(
  out: Uint8Array,
  src: Uint8Array,
  dst: Uint8Array,
  protocol: number,
  payloadLength: number,
  ttl: number = DEFAULT_TTL,
  id = 0,
): number {
  const total = IPV4_HEADER_LENGTH + payloadLength;
  if (total > 0xffff) throw new RangeError(`IPv4 packet of ${total} bytes exceeds 65535`);
  out[0] = 0x45;
  out[1] = 0;
  out[2] = total >> 8;
  out[3] = total & 0xff;
  out[4] = (id >> 8) & 0xff;
  out[5] = id & 0xff;
  out[6] = 0;
  out[7] = 0;
  out[8] = ttl;
  out[9] = protocol;
  out[10] = 0;
  out[11] = 0;
  // Byte by byte: `set` would want views of the addresses' first four bytes, two objects a packet
  // (a leader builds thousands of control datagrams a second).
  for (let i = 0; i < 4; i++) {
    out[V4_SRC_OFFSET + i] = src[i];
    out[V4_DST_OFFSET + i] = dst[i];
  }
  const ck = ipv4HeaderChecksum(out, 0, IPV4_HEADER_LENGTH);
  out[10] = ck >> 8;
  out[11] = ck & 0xff;
  return IPV4_HEADER_LENGTH;
}
