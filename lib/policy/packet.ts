/**
 * What the policy check needs from an IP packet (addresses, protocol, ports, TCP flags, ICMP echo
 * id, and the flow quoted by an ICMP error), read into a caller-owned record without allocating.
 *
 * Checksums are not verified: outbound packets come from our kernel and inbound ones from an
 * authenticated peer, and the receiving kernel checks them anyway. Non-first fragments carry no
 * ports and are reported as such; the first fragment must hold the whole transport header
 * (RFC 1858, RFC 7112), and a TCP fragment at offset 8 (which could rewrite the flags) is malformed.
 * @module
 */

import { PROTO_ICMP, PROTO_ICMPV6, PROTO_TCP, PROTO_UDP } from "../net/ip.ts";
import { EXT_FRAGMENT, EXT_OFFSET, EXT_PROTOCOL, walkIpv6Extensions } from "../net/ipv6.ts";

/** The packet is whole, or the first fragment: `FlowInfo` is filled. */
export const FLOW_OK = 0;
/** The packet is malformed and must be dropped. */
export const FLOW_MALFORMED = 1;
/** A later fragment: no transport header; only family and addresses are filled. */
export const FLOW_FRAGMENT = 2;
/** An ICMP error quoting a flow: the outer fields are filled, and the quoted flow in `inner`. */
export const FLOW_ICMP_ERROR = 3;

/** `ruleProto` for protocols other than TCP, UDP and ICMP. */
export const RULE_PROTO_OTHER = 255;
/** `ruleProto` for ICMPv4 and ICMPv6 alike. */
export const RULE_PROTO_ICMP = 1;

/** TCP FIN flag. */
export const TCP_FIN = 0x01;
/** TCP SYN flag. */
export const TCP_SYN = 0x02;
/** TCP RST flag. */
export const TCP_RST = 0x04;
/** TCP ACK flag. */
export const TCP_ACK = 0x10;

/** ICMP echo request (v4 or v6). */
export const ICMP_KIND_ECHO_REQUEST = 1;
/** ICMP echo reply (v4 or v6). */
export const ICMP_KIND_ECHO_REPLY = 2;
/** ICMP error quoting a packet (unreachable, time exceeded, parameter problem, too big). */
export const ICMP_KIND_ERROR = 3;
/** Any other ICMP message. */
export const ICMP_KIND_OTHER = 4;

/**
 * A flow's key fields. Addresses are big-endian 32-bit words as signed integers: source in
 * `addr[0..3]`, destination in `addr[4..7]`; IPv4 uses words 0 and 4 and leaves the others 0.
 * For ICMP echo the identifier is the source "port" of a request and the destination "port" of a
 * reply, so a reply's tuple is the request's reversed.
 */
export class FlowInfo {
  /** 4 or 6. */
  family: number = 4;
  /** The IP protocol number (after IPv6 extension headers). */
  proto: number = 0;
  /** `PROTO_TCP`, `PROTO_UDP`, `RULE_PROTO_ICMP` or `RULE_PROTO_OTHER`, as rules see it. */
  ruleProto: number = 0;
  /** Source port (or ICMP echo id of a request). */
  sport: number = 0;
  /** Destination port (or ICMP echo id of a reply). */
  dport: number = 0;
  /** TCP flags byte. */
  tcpFlags: number = 0;
  /** `ICMP_KIND_*` for ICMP, 0 otherwise. */
  icmpKind: number = 0;
  /** Source and destination address words. */
  readonly addr: Int32Array = new Int32Array(8);

  /** Copies every field of `other`. */
  copyFrom(other: FlowInfo): void {
    this.family = other.family;
    this.proto = other.proto;
    this.ruleProto = other.ruleProto;
    this.sport = other.sport;
    this.dport = other.dport;
    this.tcpFlags = other.tcpFlags;
    this.icmpKind = other.icmpKind;
    this.addr.set(other.addr);
  }
}

function word(p: Uint8Array, o: number): number {
  return (p[o] << 24) | (p[o + 1] << 16) | (p[o + 2] << 8) | p[o + 3];
}

/** Reads the addresses of the IP header that starts at `p[base]`. */
function readAddresses(p: Uint8Array, base: number, family: number, out: FlowInfo): void {
  const a = out.addr;
  if (family === 4) {
    a[0] = word(p, base + 12);
    a[1] = a[2] = a[3] = 0;
    a[4] = word(p, base + 16);
    a[5] = a[6] = a[7] = 0;
  } else {
    for (let i = 0; i < 4; i++) {
      a[i] = word(p, base + 8 + 4 * i);
      a[4 + i] = word(p, base + 24 + 4 * i);
    }
  }
}

function icmpKind(family: number, type: number): number {
  if (family === 4) {
    if (type === 8) return ICMP_KIND_ECHO_REQUEST;
    if (type === 0) return ICMP_KIND_ECHO_REPLY;
    if (type === 3 || type === 11 || type === 12) return ICMP_KIND_ERROR;
    return ICMP_KIND_OTHER;
  }
  if (type === 128) return ICMP_KIND_ECHO_REQUEST;
  if (type === 129) return ICMP_KIND_ECHO_REPLY;
  if (type >= 1 && type <= 4) return ICMP_KIND_ERROR;
  return ICMP_KIND_OTHER;
}

/**
 * Reads the transport header at `off` (with `avail` bytes) into `out`. `quoted` relaxes the
 * length checks for the truncated copy inside an ICMP error. Returns false when too short.
 */
function readTransport(
  p: Uint8Array,
  off: number,
  avail: number,
  proto: number,
  family: number,
  out: FlowInfo,
  quoted: boolean,
): boolean {
  out.proto = proto;
  out.sport = 0;
  out.dport = 0;
  out.tcpFlags = 0;
  out.icmpKind = 0;
  if (proto === PROTO_TCP) {
    out.ruleProto = PROTO_TCP;
    if (avail < (quoted ? 8 : 20)) return false;
    if (!quoted) {
      const doff = (p[off + 12] >> 4) * 4;
      if (doff < 20 || doff > avail) return false;
      out.tcpFlags = p[off + 13];
    }
    out.sport = (p[off] << 8) | p[off + 1];
    out.dport = (p[off + 2] << 8) | p[off + 3];
    return true;
  }
  if (proto === PROTO_UDP) {
    out.ruleProto = PROTO_UDP;
    if (avail < 8) return false;
    out.sport = (p[off] << 8) | p[off + 1];
    out.dport = (p[off + 2] << 8) | p[off + 3];
    return true;
  }
  if (proto === (family === 4 ? PROTO_ICMP : PROTO_ICMPV6)) {
    out.ruleProto = RULE_PROTO_ICMP;
    if (avail < 8) return false;
    const kind = icmpKind(family, p[off]);
    out.icmpKind = kind;
    const id = (p[off + 4] << 8) | p[off + 5];
    if (kind === ICMP_KIND_ECHO_REQUEST) out.sport = id;
    else if (kind === ICMP_KIND_ECHO_REPLY) out.dport = id;
    return true;
  }
  out.ruleProto = RULE_PROTO_OTHER;
  return true;
}

/**
 * The IPv4 header at `p[base]` with `len` bytes available: fills family and addresses; returns
 * the header length, or -1. A quoted header may be truncated past its header.
 */
function ipv4(p: Uint8Array, base: number, len: number, out: FlowInfo, quoted: boolean): number {
  if (len < 20 || p[base] >> 4 !== 4) return -1;
  const ihl = (p[base] & 0x0f) * 4;
  if (ihl < 20 || ihl > len) return -1;
  if (!quoted) {
    const total = (p[base + 2] << 8) | p[base + 3];
    if (total < ihl || total > len) return -1;
  }
  out.family = 4;
  readAddresses(p, base, 4, out);
  return ihl;
}

// The IPv6 extension walk's results (parsing is synchronous: one at a time).
const walked = new Int32Array(3);

/**
 * Parses the packet at the start of `pkt` into `out` (and, for ICMP errors, the quoted flow into
 * `inner`). Returns `FLOW_OK`, `FLOW_MALFORMED`, `FLOW_FRAGMENT` or `FLOW_ICMP_ERROR`.
 */
export function parseFlow(pkt: Uint8Array, out: FlowInfo, inner: FlowInfo): number {
  const len = pkt.length;
  if (len === 0) return FLOW_MALFORMED;
  const version = pkt[0] >> 4;
  let off: number;
  let end: number;
  let proto: number;
  let fragOffset = 0;
  if (version === 4) {
    off = ipv4(pkt, 0, len, out, false);
    if (off < 0) return FLOW_MALFORMED;
    end = (pkt[2] << 8) | pkt[3];
    proto = pkt[9];
    fragOffset = ((pkt[6] << 8) | pkt[7]) & 0x1fff;
  } else if (version === 6) {
    if (len < 40) return FLOW_MALFORMED;
    end = 40 + ((pkt[4] << 8) | pkt[5]);
    if (end > len) return FLOW_MALFORMED;
    out.family = 6;
    readAddresses(pkt, 0, 6, out);
    if (!walkIpv6Extensions(pkt, end, walked)) return FLOW_MALFORMED;
    proto = walked[EXT_PROTOCOL];
    off = walked[EXT_OFFSET];
    fragOffset = walked[EXT_FRAGMENT] >> 3;
  } else {
    return FLOW_MALFORMED;
  }
  if (fragOffset !== 0) {
    out.proto = proto;
    out.ruleProto = proto === PROTO_TCP || proto === PROTO_UDP ? proto : RULE_PROTO_OTHER;
    out.sport =
      out.dport =
      out.tcpFlags =
      out.icmpKind =
        0;
    // An 8-byte offset into TCP lands on the flags of the first fragment's header (RFC 1858).
    return fragOffset === 1 && proto === PROTO_TCP ? FLOW_MALFORMED : FLOW_FRAGMENT;
  }
  if (!readTransport(pkt, off, end - off, proto, out.family, out, false)) return FLOW_MALFORMED;
  if (out.icmpKind !== ICMP_KIND_ERROR) return FLOW_OK;
  return parseQuoted(pkt, off + 8, end, out, inner) ? FLOW_ICMP_ERROR : FLOW_OK;
}

/**
 * The packet quoted by an ICMP error, at `off`: it must be one we could have sent to the error's
 * sender, so its source must be the error's destination. False when it is not a usable quote.
 */
function parseQuoted(
  pkt: Uint8Array,
  off: number,
  end: number,
  outer: FlowInfo,
  inner: FlowInfo,
): boolean {
  const avail = end - off;
  let hl: number;
  let proto: number;
  if (outer.family === 4) {
    hl = ipv4(pkt, off, avail, inner, true);
    if (hl < 0) return false;
    // Later fragments quote no ports.
    if ((((pkt[off + 6] << 8) | pkt[off + 7]) & 0x1fff) !== 0) return false;
    proto = pkt[off + 9];
  } else {
    if (avail < 40 || pkt[off] >> 4 !== 6) return false;
    inner.family = 6;
    readAddresses(pkt, off, 6, inner);
    hl = 40;
    proto = pkt[off + 6];
  }
  if (!readTransport(pkt, off + hl, avail - hl, proto, inner.family, inner, true)) return false;
  if (inner.ruleProto === RULE_PROTO_OTHER || inner.icmpKind === ICMP_KIND_ERROR) return false;
  const a = outer.addr;
  const b = inner.addr;
  return a[4] === b[0] && a[5] === b[1] && a[6] === b[2] && a[7] === b[3];
}
