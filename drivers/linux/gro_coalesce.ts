/**
 * Coalesces the TCP segments of a batch of packets bound for a TUN (opened with offloads) into
 * large packets, as the kernel's GRO would, so one TUN write carries many segments.
 *
 * A segment joins the run of its flow (same addresses and ports) only when:
 * - it carries data, its flags are ACK, or ACK and PSH (a PSH segment is the last of its run), and
 *   the run's first segment's are ACK alone: ACK-only segments and segments with any other flag
 *   (SYN, FIN, RST, URG, ECE, CWR) are never merged;
 * - it follows the run's last segment: its sequence number is where that one's payload ends,
 *   and for IPv4 its id is that one's plus 1;
 * - its IP header equals the first's apart from length, id and checksum (IPv4 without options,
 *   IPv6 without extension headers), its TCP header apart from sequence number, PSH and checksum
 *   (same header length and options, acknowledgement number, window, urgent pointer);
 * - its payload is at most the first segment's (which becomes gso_size), the run's segments so far
 *   all had that size, and the merged packet stays within 65,535 bytes;
 * - its checksums (IPv4 header, TCP) are valid, as are the first segment's; with
 *   `trustTcpChecksums` only the IPv4 header's (see {@link TcpCoalescerOptions}).
 * Any packet of a flow that does not join closes that flow's run (so a flow's packets are never
 * reordered), as does an IPv4 fragment or an IPv6 packet with extension headers for every flow.
 *
 * A run of two or more is written as one packet with a virtio-net header: GSO_TCPV4/6, gso_size,
 * NEEDS_CSUM with csum_start at the TCP header, csum_offset 16 and the pseudo-header's sum in the
 * checksum field. Everything else (UDP, ICMP, single segments) goes as it came, with a zero header.
 *
 * All packets are ranges of one caller-owned buffer; planning and building allocate nothing.
 * @module
 */

import { checksumAdd, pseudoHeaderSumV4, pseudoHeaderSumV6 } from "../../lib/net/checksum.ts";
import { MAX_IP_PACKET, PROTO_TCP, TCP_ACK, TCP_PSH } from "./gso_split.ts";
import { encodeVnetHeader, GSO_TCPV4, GSO_TCPV6, VNET_F_NEEDS_CSUM, VNET_HDR_LEN } from "./vnet.ts";

/** A packet written as it came (zero virtio-net header). */
export const ROLE_SINGLE = 0;
/** The first packet of a run of two or more: written as the merged packet. */
export const ROLE_HEAD = 1;
/** A packet merged into an earlier head: not written by itself. */
export const ROLE_MEMBER = 2;

const KIND_OTHER = 0; // not TCP, or TCP whose flow is unknown
const KIND_TCP = 1; // TCP with a known flow, not mergeable
const KIND_DATA = 2; // TCP that may join or start a run
const KIND_CLEAR = 3; // may belong to any TCP flow (fragment, extension headers): close all runs

const VALID_UNKNOWN = 0;
const VALID_YES = 1;
const VALID_NO = 2;

/** IPv6 next-header values of extension headers (behind which TCP may hide). */
function isExtensionHeader(nh: number): boolean {
  return nh === 0 || nh === 43 || nh === 44 || nh === 50 || nh === 51 || nh === 60 ||
    nh === 135 || nh === 139 || nh === 140 || nh === 253 || nh === 254;
}

/** Options of a {@link TcpCoalescer}. */
export interface TcpCoalescerOptions {
  /**
   * Merge segments without summing their TCP checksums (the IPv4 header's is still checked). For
   * packets whose every byte an AEAD tag has authenticated since their sender's stack (or weft)
   * checksummed them: corruption on the way is refused by the tag, and what the tag covers the
   * checksum cannot catch. Kernel WireGuard marks what it decrypts `CHECKSUM_UNNECESSARY` for the
   * same reason. A segment written alone still goes with an empty header, so the kernel checks it.
   */
  trustTcpChecksums?: boolean;
}

/** Plans and builds coalesced writes for batches of up to `capacity` packets. */
export class TcpCoalescer {
  /** The most packets a batch may hold. */
  readonly capacity: number;
  /** Per packet after {@link plan}: ROLE_SINGLE, ROLE_HEAD or ROLE_MEMBER. */
  readonly role: Uint8Array;
  /** Per packet: the next member of its run, or -1. */
  readonly next: Int32Array;
  /** Per head: the merged IP packet's length. */
  readonly total: Int32Array;
  /** Per head: how many packets the run holds. */
  readonly count: Int32Array;
  /** Per head: the payload bytes per segment (the first segment's). */
  readonly gsoSize: Int32Array;

  readonly #kind: Uint8Array;
  readonly #ipHl: Int32Array;
  readonly #tcpHl: Int32Array;
  readonly #payload: Int32Array;
  readonly #valid: Uint8Array;
  readonly #tail: Int32Array;
  readonly #push: Uint8Array;
  readonly #nextSeq: Float64Array;
  /** Flow table (open addressing): a packet of the flow, for comparing keys, and its open run. */
  readonly #slotRep: Int32Array;
  readonly #slotHead: Int32Array;
  readonly #slotGen: Uint32Array;
  readonly #mask: number;
  readonly #trustTcp: boolean;
  #gen = 0;

  /** Makes a coalescer for batches of at most `capacity` packets. */
  constructor(capacity: number, options: TcpCoalescerOptions = {}) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new Error("bad capacity");
    this.capacity = capacity;
    this.#trustTcp = options.trustTcpChecksums === true;
    this.role = new Uint8Array(capacity);
    this.next = new Int32Array(capacity);
    this.total = new Int32Array(capacity);
    this.count = new Int32Array(capacity);
    this.gsoSize = new Int32Array(capacity);
    this.#kind = new Uint8Array(capacity);
    this.#ipHl = new Int32Array(capacity);
    this.#tcpHl = new Int32Array(capacity);
    this.#payload = new Int32Array(capacity);
    this.#valid = new Uint8Array(capacity);
    this.#tail = new Int32Array(capacity);
    this.#push = new Uint8Array(capacity);
    this.#nextSeq = new Float64Array(capacity);
    let size = 16;
    while (size < capacity * 2) size *= 2;
    this.#mask = size - 1;
    this.#slotRep = new Int32Array(size);
    this.#slotHead = new Int32Array(size);
    this.#slotGen = new Uint32Array(size);
  }

  /**
   * Decides, for the packets `buf[offs[i], offs[i] + lens[i])` with `i < n` (in the order they
   * are to be written), which are merged into which: see {@link role}, {@link next},
   * {@link total}, {@link count}, {@link gsoSize}. Returns the number of writes (singles and
   * heads). Reads the packets (and checksums them where a merge depends on it), never writes them.
   */
  plan(buf: Uint8Array, offs: ArrayLike<number>, lens: ArrayLike<number>, n: number): number {
    if (n > this.capacity) throw new Error(`batch of ${n} over capacity ${this.capacity}`);
    this.#newTable();
    let writes = 0;
    for (let i = 0; i < n; i++) {
      this.role[i] = ROLE_SINGLE;
      this.next[i] = -1;
      this.#valid[i] = VALID_UNKNOWN;
      const kind = this.#parse(buf, offs[i], lens[i], i);
      this.#kind[i] = kind;
      if (kind === KIND_OTHER) {
        writes++;
        continue;
      }
      if (kind === KIND_CLEAR) {
        this.#newTable();
        writes++;
        continue;
      }
      const slot = this.#lookup(buf, offs, i);
      const head = this.#slotHead[slot];
      if (kind === KIND_DATA && head >= 0 && this.#append(buf, offs, lens, head, i)) {
        if (this.#push[head] || this.#payload[i] < this.gsoSize[head]) this.#slotHead[slot] = -1;
        continue;
      }
      writes++;
      // Not merged: this packet closes the flow's run, and may open the next.
      const flags = buf[offs[i] + this.#ipHl[i] + 13];
      if (kind === KIND_DATA && flags === TCP_ACK) {
        this.#slotHead[slot] = i;
        this.#tail[i] = i;
        this.#push[i] = 0;
        this.total[i] = lens[i];
        this.count[i] = 1;
        this.gsoSize[i] = this.#payload[i];
        this.#nextSeq[i] = (readU32(buf, offs[i] + this.#ipHl[i] + 4) + this.#payload[i]) >>> 0;
      } else {
        this.#slotHead[slot] = -1;
      }
    }
    return writes;
  }

  /**
   * Writes the virtio-net header and the merged packet of run `head` (planned over the same
   * packets) at `out` in `buf`, a range that overlaps none of them and has room for
   * `VNET_HDR_LEN + total[head]` bytes; returns that length.
   */
  build(
    buf: Uint8Array,
    offs: ArrayLike<number>,
    lens: ArrayLike<number>,
    head: number,
    out: number,
  ) {
    const p = out + VNET_HDR_LEN;
    const hdrLen = this.#ipHl[head] + this.#tcpHl[head];
    buf.copyWithin(p, offs[head], offs[head] + lens[head]);
    let at = p + lens[head];
    let last = head;
    for (let m = this.next[head]; m >= 0; m = this.next[m]) {
      buf.copyWithin(at, offs[m] + hdrLen, offs[m] + lens[m]);
      at += lens[m] - hdrLen;
      last = m;
    }
    this.#finish(buf, p, offs[last], head);
    return VNET_HDR_LEN + this.total[head];
  }

  /**
   * The merged packet of run `head` without copying it, for a gathering write (writev): rewrites
   * the run's first packet in place into the merged packet's headers, with the virtio-net header
   * in the {@link VNET_HDR_LEN} bytes before it (which must be free), and lists in `ranges` the
   * (offset, length) pairs of `buf` that make up the write, in order: that header and the first
   * packet, then each later segment's payload where it lies. Returns the number of ranges. The
   * bytes gathered are those {@link build} writes; the first packet is changed, so `build` or
   * `gather` of the same run again is not.
   */
  gather(
    buf: Uint8Array,
    offs: ArrayLike<number>,
    lens: ArrayLike<number>,
    head: number,
    ranges: Int32Array,
  ): number {
    const hdrLen = this.#ipHl[head] + this.#tcpHl[head];
    ranges[0] = offs[head] - VNET_HDR_LEN;
    ranges[1] = VNET_HDR_LEN + lens[head];
    let k = 1;
    let last = head;
    for (let m = this.next[head]; m >= 0; m = this.next[m]) {
      ranges[2 * k] = offs[m] + hdrLen;
      ranges[2 * k + 1] = lens[m] - hdrLen;
      k++;
      last = m;
    }
    this.#finish(buf, offs[head], offs[last], head);
    return k;
  }

  /**
   * Turns the headers at `p` (run `head`'s first packet's, or a copy of them) into the merged
   * packet's, `last` the offset of the run's last packet, and writes the virtio-net header before.
   */
  #finish(buf: Uint8Array, p: number, last: number, head: number): void {
    const ipHl = this.#ipHl[head];
    const hdrLen = ipHl + this.#tcpHl[head];
    const total = this.total[head];
    const v6 = buf[p] >> 4 === 6;
    let ps: number;
    if (v6) {
      writeU16(buf, p + 4, total - 40);
      ps = pseudoHeaderSumV6(buf, p, PROTO_TCP, total - ipHl);
    } else {
      writeU16(buf, p + 2, total);
      buf[p + 10] = 0;
      buf[p + 11] = 0;
      writeU16(buf, p + 10, ~checksumAdd(buf, p, ipHl) & 0xffff);
      ps = pseudoHeaderSumV4(buf, p, PROTO_TCP, total - ipHl);
    }
    const t = p + ipHl;
    buf[t + 13] |= buf[last + ipHl + 13] & TCP_PSH;
    // Partial checksum: the pseudo-header's sum, not complemented; the kernel adds the rest.
    writeU16(buf, t + 16, ps);
    encodeVnetHeader(
      buf,
      p - VNET_HDR_LEN,
      VNET_F_NEEDS_CSUM,
      v6 ? GSO_TCPV6 : GSO_TCPV4,
      hdrLen,
      this.gsoSize[head],
      ipHl,
      16,
    );
  }

  #newTable(): void {
    this.#gen = (this.#gen + 1) >>> 0;
    if (this.#gen === 0) {
      this.#slotGen.fill(0);
      this.#gen = 1;
    }
  }

  /** Classifies packet `i` and fills its header lengths and payload size. */
  #parse(buf: Uint8Array, p: number, len: number, i: number): number {
    if (len < 1 || p < 0 || p + len > buf.length) return KIND_OTHER;
    const version = buf[p] >> 4;
    let ipHl: number;
    let data = true;
    if (version === 4) {
      if (len < 20 || buf[p + 9] !== PROTO_TCP) return KIND_OTHER;
      ipHl = (buf[p] & 0x0f) * 4;
      if (ipHl < 20 || ipHl > len) return KIND_CLEAR;
      if (((buf[p + 6] << 8) | buf[p + 7]) & 0x3fff) return KIND_CLEAR; // a fragment
      if (((buf[p + 2] << 8) | buf[p + 3]) !== len) return KIND_CLEAR;
      if (ipHl !== 20) data = false;
    } else if (version === 6) {
      if (len < 40) return KIND_OTHER;
      const nh = buf[p + 6];
      if (nh !== PROTO_TCP) return isExtensionHeader(nh) ? KIND_CLEAR : KIND_OTHER;
      if (((buf[p + 4] << 8) | buf[p + 5]) + 40 !== len) return KIND_CLEAR;
      ipHl = 40;
    } else {
      return KIND_OTHER;
    }
    if (len < ipHl + 20) return KIND_CLEAR;
    const tcpHl = (buf[p + ipHl + 12] >> 4) * 4;
    if (tcpHl < 20 || ipHl + tcpHl > len) return KIND_CLEAR;
    this.#ipHl[i] = ipHl;
    this.#tcpHl[i] = tcpHl;
    const payload = len - ipHl - tcpHl;
    this.#payload[i] = payload;
    const flags = buf[p + ipHl + 13];
    if (payload === 0 || (flags & ~TCP_PSH) !== TCP_ACK) data = false;
    return data ? KIND_DATA : KIND_TCP;
  }

  /** The flow table slot of packet `i`'s flow (claimed for it when new). */
  #lookup(buf: Uint8Array, offs: ArrayLike<number>, i: number): number {
    const p = offs[i];
    const ipHl = this.#ipHl[i];
    const v6 = ipHl === 40 && buf[p] >> 4 === 6;
    const aStart = p + (v6 ? 8 : 12);
    const aLen = v6 ? 32 : 8;
    let h = 0x811c9dc5;
    for (let k = 0; k < aLen; k++) h = Math.imul(h ^ buf[aStart + k], 0x01000193);
    for (let k = 0; k < 4; k++) h = Math.imul(h ^ buf[p + ipHl + k], 0x01000193);
    const mask = this.#mask;
    for (let s = (h ^ (h >>> 15)) & mask;; s = (s + 1) & mask) {
      if (this.#slotGen[s] !== this.#gen) {
        this.#slotGen[s] = this.#gen;
        this.#slotRep[s] = i;
        this.#slotHead[s] = -1;
        return s;
      }
      if (this.#sameFlow(buf, offs, this.#slotRep[s], i)) return s;
    }
  }

  #sameFlow(buf: Uint8Array, offs: ArrayLike<number>, a: number, b: number): boolean {
    const pa = offs[a];
    const pb = offs[b];
    if (buf[pa] >> 4 !== buf[pb] >> 4) return false;
    const v6 = buf[pa] >> 4 === 6;
    const start = v6 ? 8 : 12;
    const end = v6 ? 40 : 20;
    for (let k = start; k < end; k++) if (buf[pa + k] !== buf[pb + k]) return false;
    const ta = pa + this.#ipHl[a];
    const tb = pb + this.#ipHl[b];
    return buf[ta] === buf[tb] && buf[ta + 1] === buf[tb + 1] && buf[ta + 2] === buf[tb + 2] &&
      buf[ta + 3] === buf[tb + 3];
  }

  /** Appends data segment `i` to the open run of `head` when every rule allows it. */
  #append(
    buf: Uint8Array,
    offs: ArrayLike<number>,
    lens: ArrayLike<number>,
    head: number,
    i: number,
  ): boolean {
    const ph = offs[head];
    const pi = offs[i];
    const tail = this.#tail[head];
    const pt = offs[tail];
    const ipHl = this.#ipHl[head];
    if (this.#ipHl[i] !== ipHl || this.#tcpHl[i] !== this.#tcpHl[head]) return false;
    const payload = this.#payload[i];
    if (payload > this.gsoSize[head] || this.#payload[tail] !== this.gsoSize[head]) return false;
    if (this.total[head] + payload > MAX_IP_PACKET) return false;
    if (buf[ph] >> 4 === 4) {
      // Version/IHL, TOS; flags and fragment offset, TTL, protocol; addresses (same flow).
      if (buf[pi + 1] !== buf[ph + 1] || buf[pi + 6] !== buf[ph + 6]) return false;
      if (buf[pi + 7] !== buf[ph + 7] || buf[pi + 8] !== buf[ph + 8]) return false;
      const id = (((buf[pt + 4] << 8) | buf[pt + 5]) + 1) & 0xffff;
      if (((buf[pi + 4] << 8) | buf[pi + 5]) !== id) return false;
    } else {
      // Version, traffic class, flow label; hop limit.
      for (let k = 0; k < 4; k++) if (buf[pi + k] !== buf[ph + k]) return false;
      if (buf[pi + 7] !== buf[ph + 7]) return false;
    }
    const th = ph + ipHl;
    const ti = pi + ipHl;
    if (readU32(buf, ti + 4) !== this.#nextSeq[head]) return false;
    if (readU32(buf, ti + 8) !== readU32(buf, th + 8)) return false; // ack
    if (buf[ti + 12] !== buf[th + 12] || (buf[ti + 13] & ~TCP_PSH) !== buf[th + 13]) return false;
    if (buf[ti + 14] !== buf[th + 14] || buf[ti + 15] !== buf[th + 15]) return false; // window
    if (buf[ti + 18] !== buf[th + 18] || buf[ti + 19] !== buf[th + 19]) return false; // urgent
    const tcpHl = this.#tcpHl[head];
    for (let k = 20; k < tcpHl; k++) if (buf[ti + k] !== buf[th + k]) return false; // options
    if (!this.#checkValid(buf, offs, lens, head) || !this.#checkValid(buf, offs, lens, i)) {
      return false;
    }
    this.role[head] = ROLE_HEAD;
    this.role[i] = ROLE_MEMBER;
    this.next[tail] = i;
    this.#tail[head] = i;
    this.total[head] += payload;
    this.count[head]++;
    this.#nextSeq[head] = (this.#nextSeq[head] + payload) % 0x1_0000_0000;
    if (buf[ti + 13] & TCP_PSH) this.#push[head] = 1;
    return true;
  }

  /**
   * Whether packet `i`'s IPv4 header and TCP checksums are valid (computed once); with
   * `trustTcpChecksums`, its IPv4 header's alone.
   */
  #checkValid(buf: Uint8Array, offs: ArrayLike<number>, lens: ArrayLike<number>, i: number) {
    if (this.#valid[i] === VALID_UNKNOWN) {
      const p = offs[i];
      const ipHl = this.#ipHl[i];
      const l4 = lens[i] - ipHl;
      let ok: boolean;
      if (this.#trustTcp) {
        // Merged IPv4 headers are 20 bytes (#parse): ten words, summed here without a call.
        ok = buf[p] >> 4 !== 4 || ipv4HeaderValid(buf, p);
      } else if (buf[p] >> 4 === 4) {
        ok = checksumAdd(buf, p, ipHl) === 0xffff &&
          checksumAdd(buf, p + ipHl, l4, pseudoHeaderSumV4(buf, p, PROTO_TCP, l4)) === 0xffff;
      } else {
        ok = checksumAdd(buf, p + ipHl, l4, pseudoHeaderSumV6(buf, p, PROTO_TCP, l4)) === 0xffff;
      }
      this.#valid[i] = ok ? VALID_YES : VALID_NO;
    }
    return this.#valid[i] === VALID_YES;
  }
}

/** Whether the 20-byte IPv4 header at `p` sums to 0xffff (its checksum is right). */
function ipv4HeaderValid(buf: Uint8Array, p: number): boolean {
  let sum = 0;
  for (let k = 0; k < 20; k += 2) sum += (buf[p + k] << 8) | buf[p + k + 1];
  sum = (sum & 0xffff) + (sum >>> 16);
  sum = (sum & 0xffff) + (sum >>> 16);
  return sum === 0xffff;
}

function readU32(buf: Uint8Array, at: number): number {
  return ((buf[at] << 24) | (buf[at + 1] << 16) | (buf[at + 2] << 8) | buf[at + 3]) >>> 0;
}

function writeU16(buf: Uint8Array, at: number, v: number): void {
  buf[at] = v >>> 8;
  buf[at + 1] = v & 0xff;
}
