/**
 * IPv6 headers (RFC 8200): a validating parser that walks extension headers to the upper layer and
 * never throws on hostile input, and a writer.
 * @module
 */

import { type IpInfo, newIpInfo, V6_DST_OFFSET, V6_SRC_OFFSET } from "./ip.ts";

/** Length of the fixed IPv6 header. */
export const IPV6_HEADER_LENGTH = 40;
/** Default hop limit for packets this code originates (Linux's default). */
export const DEFAULT_HOP_LIMIT = 64;

const HOP_BY_HOP = 0;
const ROUTING = 43;
const FRAGMENT = 44;
const AUTH = 51;
const DEST_OPTIONS = 60;
/** More extension headers than this is treated as an attack rather than walked. */
const MAX_EXTENSION_HEADERS = 8;

/** Where {@link walkIpv6Extensions} puts the upper layer's protocol number. */
export const EXT_PROTOCOL = 0;
/** Where {@link walkIpv6Extensions} puts the upper layer's offset. */
export const EXT_OFFSET = 1;
/**
 * Where {@link walkIpv6Extensions} puts the fragment header's offset-and-flags word (the 13-bit
 * offset in 8-byte units, then two reserved bits and M), 0 when there is none.
 */
export const EXT_FRAGMENT = 2;

/**
 * Walks the extension headers of the IPv6 packet at the start of `p`, whose payload ends at
 * `end`: hop-by-hop (first only), routing, destination options, fragment and authentication
 * (RFC 4302: its length is in 4-byte units). Fills `out` at {@link EXT_PROTOCOL},
 * {@link EXT_OFFSET} and {@link EXT_FRAGMENT}; false when a header runs past `end`, hop-by-hop is
 * not first, or the chain is longer than 8. Allocates nothing (the policy runs it per packet).
 */
export function walkIpv6Extensions(p: Uint8Array, end: number, out: Int32Array): boolean {
  let next = p[6];
  let off = IPV6_HEADER_LENGTH;
  let frag = 0;
  for (let n = 0;; n++) {
    if (
      next !== HOP_BY_HOP && next !== ROUTING && next !== DEST_OPTIONS && next !== FRAGMENT &&
      next !== AUTH
    ) break;
    if (n === MAX_EXTENSION_HEADERS) return false;
    if (next === HOP_BY_HOP && off !== IPV6_HEADER_LENGTH) return false;
    if (off + 8 > end) return false;
    const following = p[off];
    if (next === FRAGMENT) {
      frag = (p[off + 2] << 8) | p[off + 3];
      off += 8;
    } else if (next === AUTH) {
      off += (p[off + 1] + 2) * 4;
    } else {
      off += (p[off + 1] + 1) * 8;
    }
    if (off > end) return false;
    next = following;
  }
  out[EXT_PROTOCOL] = next;
  out[EXT_OFFSET] = off;
  out[EXT_FRAGMENT] = frag;
  return true;
}

// One walk's results at a time: parsing is synchronous.
const walked = new Int32Array(3);

/**
 * Parses the IPv6 packet at the start of `packet` into `out`, skipping hop-by-hop, routing,
 * destination-options, fragment and authentication headers ({@link walkIpv6Extensions}) so
 * `protocol` and `payloadOffset` describe the upper layer. Returns null when the buffer is too short, the version is not 6, the payload length runs
 * past the buffer, an extension header runs past the payload, hop-by-hop is not first, or the chain
 * is too long. Jumbograms (payload length 0 with a jumbo option) are rejected. Bytes past the
 * payload length are ignored.
 */
export function parseIpv6(packet: Uint8Array, out: IpInfo = newIpInfo()): IpInfo | null {
  const len = packet.length;
  if (len < IPV6_HEADER_LENGTH) return null;
  if (packet[0] >> 4 !== 6) return null;
  const payloadLength = (packet[4] << 8) | packet[5];
  const end = IPV6_HEADER_LENGTH + payloadLength;
  if (end > len) return null;
  if (!walkIpv6Extensions(packet, end, walked)) return null;
  const next = walked[EXT_PROTOCOL];
  const off = walked[EXT_OFFSET];
  // A fragment offset or the M flag means a piece of a larger datagram; an atomic fragment (both
  // zero, RFC 6946) is a whole packet.
  const fragment = (walked[EXT_FRAGMENT] & 0xfff9) !== 0;
  out.version = 6;
  out.headerLength = off;
  out.packetLength = end;
  out.protocol = next;
  out.payloadOffset = off;
  out.payloadLength = end - off;
  out.srcOffset = V6_SRC_OFFSET;
  out.dstOffset = V6_DST_OFFSET;
  out.addressLength = 16;
  out.ttl = packet[7];
  out.fragment = fragment;
  return out;
}

/**
 * Writes a 40-byte IPv6 header (traffic class 0) at the start of `out` for a payload of
 * `payloadLength` bytes; returns the header length.
 */
export function writeIpv6Header(
  out: Uint8Array,
  src: Uint8Array,
  dst: Uint8Array,
  nextHeader: number,
  payloadLength: number,
  hopLimit: number = DEFAULT_HOP_LIMIT,
  flowLabel = 0,
): number {
  if (payloadLength > 0xffff) {
    throw new RangeError(`IPv6 payload of ${payloadLength} bytes exceeds 65535`);
  }
  out[0] = 0x60;
  out[1] = (flowLabel >> 16) & 0x0f;
  out[2] = (flowLabel >> 8) & 0xff;
  out[3] = flowLabel & 0xff;
  out[4] = payloadLength >> 8;
  out[5] = payloadLength & 0xff;
  out[6] = nextHeader;
  out[7] = hopLimit;
  // Byte by byte: `set` would want views of the addresses' first 16 bytes, two objects a packet.
  for (let i = 0; i < 16; i++) {
    out[V6_SRC_OFFSET + i] = src[i];
    out[V6_DST_OFFSET + i] = dst[i];
  }
  return IPV6_HEADER_LENGTH;
}
