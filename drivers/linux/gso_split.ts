/**
 * Cuts a large packet read from a TUN with offloads on (TSO: TCP over IPv4 or IPv6; USO: UDP
 * over IPv4 or IPv6) into IP packets of at most `gso_size` payload bytes each, as the kernel's
 * software GSO would, and completes the partial checksums the kernel leaves to the reader.
 *
 * Each segment gets the original headers with:
 * - IPv4: the total length, the id of the first plus the segment's index, a new header checksum;
 * - IPv6: the payload length (hop-by-hop and destination options are copied with the header);
 * - TCP: the sequence number advanced by the payload before it, FIN and PSH only on the last
 *   segment, CWR only on the first, and a full checksum;
 * - UDP: the length and a full checksum (0 is sent as 0xffff).
 *
 * Everything happens in one caller-owned buffer: the packet and the output slots are ranges of
 * it, so copies are `copyWithin` (a memmove) and nothing is allocated per packet. Input is never
 * trusted: a header that does not fit, an unknown GSO type or a slot too small makes
 * {@link GsoSplitter.prepare} return 0 and nothing is written.
 * @module
 */

import {
  checksumAdd,
  finish,
  ipv4HeaderChecksum,
  pseudoHeaderSumV4,
  pseudoHeaderSumV6,
} from "../../lib/net/checksum.ts";
import {
  GSO_ECN,
  GSO_NONE,
  GSO_TCPV4,
  GSO_TCPV6,
  GSO_UDP_L4,
  VNET_F_NEEDS_CSUM,
  type VnetHeader,
} from "./vnet.ts";

/** IP protocol number of TCP. */
export const PROTO_TCP = 6;
/** IP protocol number of UDP. */
export const PROTO_UDP = 17;

/** TCP flag bits (byte 13 of the header). */
export const TCP_FIN = 0x01;
/** TCP SYN. */
export const TCP_SYN = 0x02;
/** TCP RST. */
export const TCP_RST = 0x04;
/** TCP PSH. */
export const TCP_PSH = 0x08;
/** TCP ACK. */
export const TCP_ACK = 0x10;
/** TCP URG. */
export const TCP_URG = 0x20;
/** TCP ECE. */
export const TCP_ECE = 0x40;
/** TCP CWR. */
export const TCP_CWR = 0x80;

/** The largest IP packet (IPv4 total length, IPv6 payload length without jumbograms). */
export const MAX_IP_PACKET = 65535;

/**
 * Completes the partial checksum of a packet read with `VNET_F_NEEDS_CSUM` and no GSO, in place:
 * the field at `csum_start + csum_offset` holds the pseudo-header's sum, and the checksum covers
 * everything from `csum_start` to the end. False (nothing written) when the header points outside
 * the packet `buf[off, off + len)`.
 */
export function completeChecksum(buf: Uint8Array, off: number, len: number, hdr: VnetHeader) {
  const start = hdr.csumStart;
  const field = start + hdr.csumOffset;
  if (field + 2 > len || off < 0 || off + len > buf.length) return false;
  const c = finish(checksumAdd(buf, off + start, len - start));
  const v = c === 0 ? 0xffff : c;
  buf[off + field] = v >>> 8;
  buf[off + field + 1] = v & 0xff;
  return true;
}

/**
 * Cuts one GSO packet at a time: {@link prepare} checks it and says how many segments it makes,
 * {@link cut} writes them into slots (as many as there are slots, from a given index, so a
 * packet with more segments than slots is cut in several calls). One instance is reused.
 */
export class GsoSplitter {
  /** Segments of the prepared packet; 0 before a successful prepare. */
  segments = 0;
  #buf: Uint8Array = new Uint8Array(0);
  #off = 0;
  #v6 = false;
  #udp = false;
  /** Offset of the transport header from the packet's start. */
  #l4 = 0;
  /** IP and transport headers together. */
  #hdrLen = 0;
  #gsoSize = 0;
  #payload = 0;
  #capacity = 0;

  /**
   * Checks the packet `buf[off, off + len)` read with header `hdr` for cutting into slots of
   * `capacity` bytes: returns the number of segments, or 0 when it cannot be cut (malformed, not
   * a GSO packet, a GSO type that was not offered, segments larger than a slot).
   */
  prepare(buf: Uint8Array, off: number, len: number, hdr: VnetHeader, capacity: number): number {
    this.segments = 0;
    if (off < 0 || len < 1 || off + len > buf.length) return 0;
    const type = hdr.gsoType & ~GSO_ECN;
    if (type === GSO_NONE || hdr.gsoSize < 1) return 0;
    const version = buf[off] >> 4;
    let l4: number;
    let proto: number;
    if (version === 4) {
      if (len < 20) return 0;
      l4 = (buf[off] & 0x0f) * 4;
      if (l4 < 20 || l4 > len) return 0;
      proto = buf[off + 9];
      // A fragment cannot be segmented (MF or an offset).
      if (((buf[off + 6] << 8) | buf[off + 7]) & 0x3fff) return 0;
      if (type === GSO_TCPV6) return 0;
    } else if (version === 6) {
      if (len < 40) return 0;
      l4 = 40;
      proto = buf[off + 6];
      // Hop-by-hop and destination options may come first; other extension headers (routing,
      // fragment, AH, ESP) change what is checksummed or cannot be cut.
      while (proto === 0 || proto === 60) {
        if (l4 + 8 > len) return 0;
        proto = buf[off + l4];
        l4 += (buf[off + l4 + 1] + 1) * 8;
      }
      if (type === GSO_TCPV4) return 0;
    } else {
      return 0;
    }
    let hdrLen: number;
    if (type === GSO_TCPV4 || type === GSO_TCPV6) {
      if (proto !== PROTO_TCP || len < l4 + 20) return 0;
      hdrLen = l4 + (buf[off + l4 + 12] >> 4) * 4;
      if (hdrLen < l4 + 20 || hdrLen > len) return 0;
      if ((hdr.flags & VNET_F_NEEDS_CSUM) && (hdr.csumStart !== l4 || hdr.csumOffset !== 16)) {
        return 0;
      }
      this.#udp = false;
    } else if (type === GSO_UDP_L4) {
      if (proto !== PROTO_UDP) return 0;
      hdrLen = l4 + 8;
      if (hdrLen > len) return 0;
      if ((hdr.flags & VNET_F_NEEDS_CSUM) && (hdr.csumStart !== l4 || hdr.csumOffset !== 6)) {
        return 0;
      }
      this.#udp = true;
    } else {
      return 0;
    }
    const payload = len - hdrLen;
    const seg = Math.min(hdr.gsoSize, payload);
    if (hdrLen + seg > capacity || hdrLen + seg > MAX_IP_PACKET) return 0;
    this.#buf = buf;
    this.#off = off;
    this.#v6 = version === 6;
    this.#l4 = l4;
    this.#hdrLen = hdrLen;
    this.#gsoSize = hdr.gsoSize;
    this.#payload = payload;
    this.#capacity = capacity;
    this.segments = payload === 0 ? 1 : Math.ceil(payload / hdr.gsoSize);
    return this.segments;
  }

  /**
   * Writes segments `first`, `first + 1`, ... of the prepared packet into the slots starting at
   * `slots[0..count)` of the same buffer (each `capacity` bytes, none overlapping the packet) and
   * their lengths into `lens`; returns how many it wrote.
   */
  cut(first: number, slots: ArrayLike<number>, count: number, lens: Int32Array): number {
    const buf = this.#buf;
    const off = this.#off;
    const hdrLen = this.#hdrLen;
    const l4 = this.#l4;
    const gso = this.#gsoSize;
    const last = this.segments - 1;
    let k = 0;
    for (; k < count && first + k <= last; k++) {
      const i = first + k;
      const o = slots[k];
      if (o < 0 || o + this.#capacity > buf.length) break;
      const start = hdrLen + i * gso;
      const plen = Math.min(gso, this.#payload - i * gso);
      buf.copyWithin(o, off, off + hdrLen);
      buf.copyWithin(o + hdrLen, off + start, off + start + plen);
      const total = hdrLen + plen;
      const l4Len = total - l4;
      let sum: number;
      if (this.#v6) {
        const pl = total - 40;
        buf[o + 4] = pl >>> 8;
        buf[o + 5] = pl & 0xff;
        sum = pseudoHeaderSumV6(buf, o, this.#udp ? PROTO_UDP : PROTO_TCP, l4Len);
      } else {
        buf[o + 2] = total >>> 8;
        buf[o + 3] = total & 0xff;
        const id = (((buf[off + 4] << 8) | buf[off + 5]) + i) & 0xffff;
        buf[o + 4] = id >>> 8;
        buf[o + 5] = id & 0xff;
        const hc = ipv4HeaderChecksum(buf, o, l4);
        buf[o + 10] = hc >>> 8;
        buf[o + 11] = hc & 0xff;
        sum = pseudoHeaderSumV4(buf, o, this.#udp ? PROTO_UDP : PROTO_TCP, l4Len);
      }
      const t = o + l4;
      let field: number;
      if (this.#udp) {
        buf[t + 4] = l4Len >>> 8;
        buf[t + 5] = l4Len & 0xff;
        field = t + 6;
      } else {
        const seq = (((buf[off + l4 + 4] << 24) | (buf[off + l4 + 5] << 16) |
          (buf[off + l4 + 6] << 8) | buf[off + l4 + 7]) + i * gso) >>> 0;
        buf[t + 4] = seq >>> 24;
        buf[t + 5] = (seq >>> 16) & 0xff;
        buf[t + 6] = (seq >>> 8) & 0xff;
        buf[t + 7] = seq & 0xff;
        let flags = buf[off + l4 + 13];
        if (i !== last) flags &= ~(TCP_FIN | TCP_PSH);
        if (i !== 0) flags &= ~TCP_CWR;
        buf[t + 13] = flags;
        field = t + 16;
      }
      buf[field] = 0;
      buf[field + 1] = 0;
      let c = finish(checksumAdd(buf, t, l4Len, sum));
      if (c === 0 && this.#udp) c = 0xffff;
      buf[field] = c >>> 8;
      buf[field + 1] = c & 0xff;
      lens[k] = total;
    }
    return k;
  }
}
