/**
 * The send side of the Linux UDP transport (drivers/linux/udp.ts): datagrams queued in fixed
 * slots and sent with one `sendmmsg` per flush; with UDP GSO, runs of equal-size datagrams to one
 * endpoint go as one message the kernel (or the NIC) cuts apart. See udp.ts for how a refused GSO
 * send falls back.
 * @module
 */

import type { Endpoint } from "../../lib/io/driver.ts";
import { type EndpointTable, InternedEndpoint } from "../shared/endpoint.ts";
import type { OffloadStats, TransportStats } from "../shared/stats.ts";
import {
  addressOf,
  CMSGHDR_SIZE,
  EAGAIN,
  EBADF,
  EINTR,
  EINVAL,
  EIO,
  EMSGSIZE,
  errno,
  IOVEC_SIZE,
  IP_TOS,
  IPPROTO_IPV6,
  IPV6_TCLASS,
  libc,
  MMSGHDR_SIZE,
  MSG_DONTWAIT,
  SOCKADDR_IN6_SIZE,
  SOCKADDR_IN_SIZE,
  SOL_IP,
  SOL_UDP,
  UDP_SEGMENT,
} from "./libc.ts";
import {
  layoutMessages,
  MSG_CONTROL,
  MSG_CONTROLLEN,
  MSG_IOVLEN,
  MSG_NAMELEN,
  NAME_SLOT,
  writeSockaddr,
} from "./udp_layout.ts";

/**
 * Queued sends are copied into slots of this size; larger datagrams go out with sendto (dropped,
 * counted, while the queue waits for writability: they would overtake it).
 */
export const TX_SLOT = 2048;
/** The most datagrams in one GSO send (UDP_MAX_SEGMENTS: 64 on every kernel with GSO). */
const GSO_MAX_SEGMENTS = 64;
/** The most bytes in one GSO send: the largest UDP payload of an IPv4 datagram. */
const GSO_MAX_BYTES = 65507;
/** The control space of a UDP_SEGMENT cmsg: CMSG_SPACE(sizeof(u16)). */
const SEG_CTL = 24;
/** The control space of an IP_TOS or IPV6_TCLASS cmsg: CMSG_SPACE(sizeof(int)). */
const TOS_CTL = 24;
/**
 * A message's control space: its UDP_SEGMENT cmsg (a run's), then its TOS cmsg (a marked
 * message's); msg_control points at the first one it carries.
 */
const TX_CTL = SEG_CTL + TOS_CTL;
/** Added to a slot's TOS (#txTos) when its destination is IPv6: the cmsg is IPV6_TCLASS. */
const TOS_V6 = 0x100;
/** Flushes during which a run size the kernel refused for an endpoint is not tried again. */
const REFUSED_FLUSHES = 1000;

/** What a {@link UdpSender} sends with. */
export interface UdpSenderOptions {
  /** The socket. */
  fd: number;
  /** The socket's family: which sockaddr it takes, and whether IPv6 can be reached. */
  family: 4 | 6;
  /** Queue slots, and messages per sendmmsg. */
  batch: number;
  /** Whether the socket takes UDP_SEGMENT. */
  gso: boolean;
  /** For tests: errno values the next GSO sends fail with (LinuxUdpOptions.gsoFaults). */
  gsoFaults?: number[];
  /** The transport's counters, counted into. */
  stats: TransportStats & OffloadStats;
  /** Interns endpoints made elsewhere. */
  table: EndpointTable;
  /** Whether the poller watches the socket now (it then calls {@link UdpSender.writable}). */
  polled: () => boolean;
  /** Tells the poller that {@link UdpSender.wantsWrite} changed. */
  wake: () => void;
}

/** Queues datagrams and sends them in batches; see the module docs. */
export class UdpSender {
  /** Whether a flush met EAGAIN and waits for the socket to become writable. */
  wantsWrite = false;
  readonly #fd: number;
  readonly #family: 4 | 6;
  readonly #nameLen: number;
  readonly #batch: number;
  readonly #stats: TransportStats & OffloadStats;
  readonly #table: EndpointTable;
  readonly #polled: () => boolean;
  readonly #wake: () => void;
  #closed = false;

  // Queued datagram i sits in data slot i, with iovec i and sockaddr i. Message m
  // (mmsghdr m) carries one datagram, or with GSO a run of consecutive slots (msg_iov points at
  // the first's iovec, msg_iovlen counts them). Mmsghdrs [batch, 2 * batch) are a template: the
  // one-datagram message of each slot, copied into place when a message starts. Messages
  // [#txStart, #txCount) are queued; slots [0, #txSlots) are used.
  readonly #txMsgs: Uint8Array;
  readonly #txMsgView: DataView;
  readonly #txIovView: DataView;
  readonly #txNames: Uint8Array;
  readonly #txNameView: DataView;
  readonly #txCtlView: DataView;
  readonly #txData: Uint8Array;
  /** Per slot: a view of the whole slot, what {@link reserve} lends. */
  readonly #txSlotViews: Uint8Array[] = [];
  /** The slot {@link reserve} lent and not yet committed; -1 for none. */
  #reserved = -1;
  /** Per message: bytes, datagrams, first slot. */
  readonly #txBytes: Uint32Array;
  readonly #txSegs: Uint32Array;
  readonly #txFirst: Uint32Array;
  /** Per message: the endpoint of its run (GSO only). */
  readonly #txEps: (InternedEndpoint | null)[];
  /**
   * Per slot: the TOS byte its datagram is sent with (0: the socket's), plus {@link TOS_V6}
   * when it goes to an IPv6 address (an IPV6_TCLASS cmsg; IPv4, mapped or not, takes IP_TOS).
   */
  readonly #txTos: Uint16Array;
  /** Per message: whether its control data says anything (a run, a TOS). */
  readonly #txCtlSet: Uint8Array;
  /** Where the control space starts (an address below 2^53: a number, so no BigInt is made). */
  readonly #ctlBase: number;
  readonly #scratchName = new Uint8Array(new ArrayBuffer(NAME_SLOT));
  readonly #scratchView = new DataView(this.#scratchName.buffer);
  #txStart = 0;
  #txCount = 0;
  #txSlots = 0;
  #gso: boolean;
  readonly #gsoFaults: number[] | null;
  /** The endpoint of the last message while more datagrams may join it, else null. */
  #runEp: InternedEndpoint | null = null;
  /** The segment size of that message (its first datagram's length). */
  #runSize = 0;
  /** The TOS of that message: a datagram with another one starts a message of its own. */
  #runTos = 0;
  /**
   * The endpoint and segment size of the last run the kernel refused with EINVAL/EMSGSIZE (a
   * segment too big for the route's MTU): runs to it of that size or more are not tried again for
   * a while (#refusedFlushes flushes), so a small-MTU path costs no failed send per flush.
   */
  #refusedEp: InternedEndpoint | null = null;
  #refusedSize = 0;
  #refusedFlushes = 0;
  // sendRun's scratch: up to GSO_MAX_SEGMENTS messages to one sockaddr, each one iovec pointing
  // into the caller's buffer; message 0 alone carries a control (the run's UDP_SEGMENT).
  readonly #extMsgs = new Uint8Array(new ArrayBuffer(GSO_MAX_SEGMENTS * MMSGHDR_SIZE));
  readonly #extMsgView = new DataView(this.#extMsgs.buffer);
  readonly #extIovView = new DataView(new ArrayBuffer(GSO_MAX_SEGMENTS * IOVEC_SIZE));
  readonly #extNameView = new DataView(new ArrayBuffer(NAME_SLOT));
  readonly #extCtlView = new DataView(new ArrayBuffer(SEG_CTL));
  /** The buffer sendRun last sent from, and its address. */
  #extBuffer: ArrayBufferLike | null = null;
  #extBase = 0;

  /** Allocates and lays out the queue, once. */
  constructor(options: UdpSenderOptions) {
    this.#fd = options.fd;
    this.#family = options.family;
    this.#nameLen = options.family === 6 ? SOCKADDR_IN6_SIZE : SOCKADDR_IN_SIZE;
    const batch = this.#batch = options.batch;
    this.#gso = options.gso;
    this.#gsoFaults = options.gsoFaults ?? null;
    this.#stats = options.stats;
    this.#table = options.table;
    this.#polled = options.polled;
    this.#wake = options.wake;
    this.#txData = new Uint8Array(new ArrayBuffer(batch * TX_SLOT));
    for (let i = 0; i < batch; i++) {
      this.#txSlotViews.push(this.#txData.subarray(i * TX_SLOT, (i + 1) * TX_SLOT));
    }
    this.#txMsgs = new Uint8Array(new ArrayBuffer(2 * batch * MMSGHDR_SIZE));
    this.#txMsgView = new DataView(this.#txMsgs.buffer);
    const txIovs = new ArrayBuffer(batch * IOVEC_SIZE);
    this.#txIovView = new DataView(txIovs);
    const txNames = new ArrayBuffer(batch * NAME_SLOT);
    this.#txNames = new Uint8Array(txNames);
    this.#txNameView = new DataView(txNames);
    const txCtl = new ArrayBuffer(batch * TX_CTL);
    this.#txCtlView = new DataView(txCtl);
    this.#txBytes = new Uint32Array(batch);
    this.#txSegs = new Uint32Array(batch);
    this.#txFirst = new Uint32Array(batch);
    this.#txEps = new Array(batch).fill(null);
    this.#txTos = new Uint16Array(batch);
    this.#txCtlSet = new Uint8Array(batch);
    layoutMessages(
      this.#txMsgView,
      batch,
      txIovs,
      txNames,
      this.#txData.buffer,
      TX_SLOT,
      this.#nameLen,
    );
    this.#txMsgs.copyWithin(batch * MMSGHDR_SIZE, 0, batch * MMSGHDR_SIZE);
    this.#layoutExt();
    const ctlBase = addressOf(txCtl);
    this.#ctlBase = Number(ctlBase);
    for (let m = 0; m < batch; m++) {
      // Message m's control space holds a UDP_SEGMENT cmsg, whose size is set per run, and a
      // TOS cmsg, whose value is set per message; the message says which it carries
      // (msg_control, msg_controllen: #setControl).
      this.#txMsgView.setBigUint64(
        m * MMSGHDR_SIZE + MSG_CONTROL,
        ctlBase + BigInt(m * TX_CTL),
        true,
      );
      const c = m * TX_CTL;
      this.#txCtlView.setBigUint64(c, BigInt(CMSGHDR_SIZE + 2), true); // cmsg_len: CMSG_LEN(2)
      this.#txCtlView.setInt32(c + 8, SOL_UDP, true);
      this.#txCtlView.setInt32(c + 12, UDP_SEGMENT, true);
      // cmsg_len: CMSG_LEN(4); its level and type are the destination's (#setControl).
      this.#txCtlView.setBigUint64(c + SEG_CTL, BigInt(CMSGHDR_SIZE + 4), true);
    }
  }

  /** Points sendRun's scratch messages at their sockaddr, iovecs and control, once. */
  #layoutExt(): void {
    const name = addressOf(this.#extNameView.buffer as ArrayBuffer);
    const iovs = addressOf(this.#extIovView.buffer as ArrayBuffer);
    const ctl = addressOf(this.#extCtlView.buffer as ArrayBuffer);
    for (let m = 0; m < GSO_MAX_SEGMENTS; m++) {
      const h = m * MMSGHDR_SIZE;
      this.#extMsgView.setBigUint64(h, name, true);
      this.#extMsgView.setUint32(h + MSG_NAMELEN, this.#nameLen, true);
      this.#extMsgView.setBigUint64(h + 16, iovs + BigInt(m * IOVEC_SIZE), true);
      this.#extMsgView.setBigUint64(h + MSG_IOVLEN, 1n, true);
      this.#extMsgView.setBigUint64(h + MSG_CONTROL, ctl, true);
    }
    this.#extCtlView.setBigUint64(0, BigInt(CMSGHDR_SIZE + 2), true); // cmsg_len: CMSG_LEN(2)
    this.#extCtlView.setInt32(8, SOL_UDP, true);
    this.#extCtlView.setInt32(12, UDP_SEGMENT, true);
  }

  /** Whether sends use UDP GSO now (false when unsupported, or turned off by EIO). */
  get gso(): boolean {
    return this.#gso;
  }

  /** Flushes what waited for the socket to become writable (the poller saw it writable). */
  writable(): void {
    this.wantsWrite = false;
    this.flush();
  }

  /**
   * Queues one datagram (copied: `data` may be reused on return); `flush()` sends the queue.
   * With GSO, a datagram to the endpoint of the last queued message, no longer than that
   * message's first, joins it (until a shorter one ends the run, or the kernel's limits).
   */
  send(data: Uint8Array, to: Endpoint, tos = 0): void {
    this.#reserved = -1;
    if (this.#closed) {
      this.#stats.sendDrops++;
      return;
    }
    const ep = to instanceof InternedEndpoint ? to : this.#table.adopt(to);
    if (this.#family === 4 && ep.family === 6) {
      this.#stats.sendErrors++;
      return;
    }
    const len = data.length;
    if (len > TX_SLOT) {
      this.#sendNow(data, ep);
      return;
    }
    if (!this.#hasSlot()) {
      // The socket is full and the queue too: drop, as a congested link would.
      this.#stats.sendDrops++;
      return;
    }
    this.#txData.set(data, this.#txSlots * TX_SLOT);
    this.#enqueue(len, ep, tos);
  }

  /**
   * Lends the next queue slot (its whole {@link TX_SLOT} bytes, the same object every time for a
   * slot) to build a datagram of at most `max` bytes to `to` in; null when `max` is larger than a
   * slot, the queue is full even after a flush, the transport is closed, or `to` cannot be
   * reached from this socket: `send` then handles (and counts) the datagram. Until
   * {@link commit}, the slot is not queued: a later `reserve`, `send` or `flush` forgets it.
   */
  reserve(max: number, to: Endpoint): Uint8Array | null {
    this.#reserved = -1;
    if (this.#closed || max > TX_SLOT || (this.#family === 4 && to.family === 6)) return null;
    if (!this.#hasSlot()) return null;
    this.#reserved = this.#txSlots;
    return this.#txSlotViews[this.#reserved];
  }

  /**
   * Queues the first `length` bytes of the slot {@link reserve} lent, to `to`, as `send` would
   * queue a copy of them. Throws when no slot is lent (none reserved, or forgotten since).
   */
  commit(length: number, to: Endpoint, tos = 0): void {
    const i = this.#reserved;
    this.#reserved = -1;
    if (i < 0 || i !== this.#txSlots) throw new Error("udp: commit without a reserved slot");
    if (!(length >= 0 && length <= TX_SLOT)) {
      throw new RangeError(`udp: commit of ${length} bytes (a slot holds ${TX_SLOT})`);
    }
    this.#enqueue(length, to instanceof InternedEndpoint ? to : this.#table.adopt(to), tos);
  }

  /**
   * Sends a run of datagrams laid end to end in a caller's buffer, without copying them: the
   * `length` bytes of `data`'s buffer from `data`'s first byte (past `data`'s own end), cut every
   * `size` bytes (the last may be shorter), all to `to`, after what is queued. With GSO they go
   * as one message the kernel cuts (a run the kernel refuses: one message each, counted as a
   * fallback); without, one message each in one sendmmsg. Sent before the return, so the buffer
   * may be reused then. What a full socket (EAGAIN) does not take is copied into the queue, where
   * it waits for writability as queued datagrams do (what the queue cannot hold, or a datagram
   * larger than a slot, is dropped and counted, as `send` would). The buffer must come from an
   * ArrayBuffer (its address is taken once per buffer). False, with nothing sent, when the
   * queue waits for the socket to become writable (the run would overtake it), the transport is
   * closed, `to` cannot be reached from this socket, or the run is longer than a GSO send may be:
   * send each datagram instead (they queue behind what waits).
   */
  sendRun(data: Uint8Array, length: number, size: number, to: Endpoint): boolean {
    this.#reserved = -1;
    const segs = size > 0 ? Math.ceil(length / size) : 0;
    if (
      this.#closed || segs < 1 || segs > GSO_MAX_SEGMENTS || length > GSO_MAX_BYTES ||
      (this.#family === 4 && to.family === 6)
    ) return false;
    // What was queued before goes first: the run is sent now, not at the next flush. A queue
    // that still waits for writability would be overtaken: the caller queues the run instead.
    this.flush();
    if (this.wantsWrite) return false;
    const ep = to instanceof InternedEndpoint ? to : this.#table.adopt(to);
    const buffer = data.buffer;
    if (buffer !== this.#extBuffer) {
      this.#extBuffer = buffer;
      this.#extBase = Number(addressOf(buffer as ArrayBuffer));
    }
    const base = this.#extBase + data.byteOffset;
    writeSockaddr(this.#extNameView, 0, ep, this.#family);
    const gso = this.#gso && segs > 1 && !(ep === this.#refusedEp && size >= this.#refusedSize);
    let sent = -1;
    if (gso) {
      this.#extMessage(0, base, length, size);
      sent = this.#sendExt(1, segs, length, ep);
    }
    if (sent < 0) {
      // Without GSO, or a run the kernel refused to segment (nothing of it sent): one by one.
      for (let s = 0; s < segs; s++) {
        const off = s * size;
        this.#extMessage(s, base + off, length - off < size ? length - off : size, 0);
      }
      sent = this.#sendExt(segs, segs, length, ep);
    }
    if (sent < segs) this.#queueRest(data, length, size, sent, ep);
    return true;
  }

  /**
   * The socket was full (EAGAIN) when {@link sendRun} had sent the run's first `from` datagrams:
   * the rest is copied into the queue (empty: sendRun flushed it) and waits for writability,
   * as a flush that meets EAGAIN keeps its rest, so nothing sent later overtakes it. What the
   * queue cannot hold (or a datagram larger than a slot) is dropped and counted, as `send` would
   * drop it; when nothing polls the socket (not started, or closing), all of it is.
   */
  #queueRest(
    data: Uint8Array,
    length: number,
    size: number,
    from: number,
    ep: InternedEndpoint,
  ): void {
    const segs = Math.ceil(length / size);
    if (!this.#polled()) {
      this.#stats.sendDrops += segs - from;
      return;
    }
    const run = new Uint8Array(data.buffer, data.byteOffset, length);
    for (let s = from; s < segs; s++) {
      const off = s * size;
      const len = length - off < size ? length - off : size;
      if (len > TX_SLOT || this.#txSlots >= this.#batch) {
        this.#stats.sendDrops++;
        continue;
      }
      this.#txData.set(run.subarray(off, off + len), this.#txSlots * TX_SLOT);
      this.#enqueue(len, ep, 0);
    }
    this.wantsWrite = true;
    this.#wake();
  }

  /** Scratch message m of {@link sendRun}: `len` bytes at address `at`, a run of `size` (0: none). */
  #extMessage(m: number, at: number, len: number, size: number): void {
    const v = this.#extIovView;
    v.setUint32(m * IOVEC_SIZE, at % 0x1_0000_0000, true);
    v.setUint32(m * IOVEC_SIZE + 4, Math.floor(at / 0x1_0000_0000), true);
    v.setUint32(m * IOVEC_SIZE + 8, len, true);
    const h = m * MMSGHDR_SIZE;
    this.#extMsgView.setUint32(h + MSG_CONTROLLEN, size > 0 ? SEG_CTL : 0, true);
    if (size > 0) this.#extCtlView.setUint16(CMSGHDR_SIZE, size, true);
  }

  /**
   * Sends {@link sendRun}'s first `count` scratch messages (`segs` datagrams, `bytes` in all) to
   * `ep`: one GSO message (`count` 1), or one message a datagram. Returns how many of the run's
   * datagrams were handled (sent, or refused one by one and counted as errors) before the
   * socket was full (EAGAIN): `segs` when none is left; -1 for a GSO message whose segmentation
   * the kernel refused (nothing sent).
   */
  #sendExt(count: number, segs: number, bytes: number, ep: InternedEndpoint): number {
    const stats = this.#stats;
    const gso = count === 1 && segs > 1;
    const c = libc();
    let start = 0;
    while (start < count) {
      const msgs = start === 0 ? this.#extMsgs : this.#extMsgs.subarray(start * MMSGHDR_SIZE);
      const fault = gso && this.#gsoFaults !== null && this.#gsoFaults.length > 0;
      const n = fault ? -1 : c.sendmmsg(this.#fd, msgs, count - start, MSG_DONTWAIT);
      if (n > 0) {
        if (gso) {
          stats.gsoMessages++;
          stats.gsoSegments += segs;
          stats.datagramsOut += segs;
          stats.bytesOut += bytes;
          return segs;
        }
        for (let m = start; m < start + n; m++) {
          stats.datagramsOut++;
          stats.bytesOut += this.#extIovView.getUint32(m * IOVEC_SIZE + 8, true);
        }
        start += n;
        continue;
      }
      const e = fault ? this.#gsoFaults!.shift()! : errno();
      if (e === EINTR) continue;
      if (gso && (e === EIO || e === EINVAL || e === EMSGSIZE)) {
        this.#gsoRefused(e, ep, this.#extCtlView.getUint16(CMSGHDR_SIZE, true));
        return -1;
      }
      // The socket is full: the rest is left to the caller (sendRun queues it).
      if (e === EAGAIN) return gso ? 0 : start;
      if (gso) {
        // Refused whole (unreachable, bad address): every datagram of it.
        stats.sendErrors += segs;
        return segs;
      }
      // This datagram was refused (unreachable, bad address): skip just it.
      stats.sendErrors++;
      start++;
    }
    return segs;
  }

  /** True when a queue slot is free, after flushing a full queue if need be. */
  #hasSlot(): boolean {
    if (this.#txSlots < this.#batch) return true;
    this.flush();
    return this.#txSlots < this.#batch;
  }

  /**
   * Queues the `len` bytes already in slot #txSlots to `ep`, marked `tos` (0: unmarked): as a
   * message of its own, or with GSO as one more datagram of the last message's run (same
   * endpoint and mark).
   */
  #enqueue(len: number, ep: InternedEndpoint, tos: number): void {
    const i = this.#txSlots++;
    this.#txIovView.setUint32(i * IOVEC_SIZE + 8, len, true);
    if (tos !== 0 && ep.family === 6) tos |= TOS_V6;
    this.#txTos[i] = tos;
    if (!this.#gso) {
      // One message per datagram: message i is slot i, laid out once.
      this.#txCount++;
      this.#txBytes[i] = len;
      this.#txSegs[i] = 1;
      if (tos !== 0 || this.#txCtlSet[i] !== 0) this.#setControl(i, tos);
      writeSockaddr(this.#txNameView, i * NAME_SLOT, ep, this.#family);
      return;
    }
    const last = this.#txCount - 1;
    if (
      ep === this.#runEp && len <= this.#runSize && tos === this.#runTos && last >= this.#txStart
    ) {
      const segs = this.#txSegs[last];
      const bytes = this.#txBytes[last] + len;
      if (segs < GSO_MAX_SEGMENTS && bytes <= GSO_MAX_BYTES) {
        this.#txSegs[last] = segs + 1;
        this.#txBytes[last] = bytes;
        const m = last * MMSGHDR_SIZE;
        this.#txMsgView.setUint32(m + MSG_IOVLEN, segs + 1, true);
        if (segs === 1) {
          this.#txCtlView.setUint16(last * TX_CTL + CMSGHDR_SIZE, this.#runSize, true);
          this.#setControl(last, tos);
        }
        if (len < this.#runSize) this.#runEp = null;
        return;
      }
    }
    const m = this.#txCount++;
    this.#startMessage(m, i);
    if (tos !== 0) this.#setControl(m, tos);
    this.#txBytes[m] = len;
    writeSockaddr(this.#txNameView, i * NAME_SLOT, ep, this.#family);
    // An empty datagram starts no run: a segment size of 0 would merge the run into one.
    const refused = ep === this.#refusedEp && len >= this.#refusedSize;
    this.#runEp = len > 0 && !refused ? ep : null;
    this.#runSize = len;
    this.#runTos = tos;
    this.#txEps[m] = ep;
  }

  /**
   * Points message m's control data at what it carries: the UDP_SEGMENT cmsg when it is a run
   * (its segment size written already), the TOS cmsg when it is marked (`tos` as #txTos keeps
   * it: IP_TOS, or IPV6_TCLASS with {@link TOS_V6}).
   */
  #setControl(m: number, tos: number): void {
    const run = this.#txSegs[m] > 1;
    const c = m * TX_CTL;
    let from = c;
    let len = 0;
    if (run) len = SEG_CTL;
    if (tos !== 0) {
      const t = c + SEG_CTL;
      const v6 = (tos & TOS_V6) !== 0;
      this.#txCtlView.setInt32(t + 8, v6 ? IPPROTO_IPV6 : SOL_IP, true);
      this.#txCtlView.setInt32(t + 12, v6 ? IPV6_TCLASS : IP_TOS, true);
      this.#txCtlView.setInt32(t + CMSGHDR_SIZE, tos & 0xff, true);
      if (!run) from = c + SEG_CTL;
      len += TOS_CTL;
    }
    const at = this.#ctlBase + from;
    const h = m * MMSGHDR_SIZE + MSG_CONTROL;
    this.#txMsgView.setUint32(h, at % 0x1_0000_0000, true);
    this.#txMsgView.setUint32(h + 4, Math.floor(at / 0x1_0000_0000), true);
    this.#txMsgView.setUint32(m * MMSGHDR_SIZE + MSG_CONTROLLEN, len, true);
    this.#txCtlSet[m] = len !== 0 ? 1 : 0;
  }

  /** Makes message m the one-datagram message of slot i (from the template). */
  #startMessage(m: number, i: number): void {
    const from = (this.#batch + i) * MMSGHDR_SIZE;
    // msg_name, msg_namelen, msg_iov, msg_iovlen (= 1); msg_control stays message m's own.
    this.#txMsgs.copyWithin(m * MMSGHDR_SIZE, from, from + MSG_CONTROL);
    this.#txSegs[m] = 1;
    this.#txFirst[m] = i;
    if (this.#txCtlSet[m] !== 0) this.#setControl(m, 0);
  }

  /**
   * Sends a datagram too big for a queue slot at once, after what is already queued. While the
   * queue waits for the socket to become writable it is dropped and counted, as a full socket
   * drops it: sent now, it would overtake what waits, and it has no slot to wait in (holding it
   * would take a copy, memory outside the slots).
   */
  #sendNow(data: Uint8Array, ep: InternedEndpoint): void {
    this.flush();
    if (this.wantsWrite) {
      this.#stats.sendDrops++;
      return;
    }
    writeSockaddr(this.#scratchView, 0, ep, this.#family);
    const n = libc().sendto(
      this.#fd,
      data,
      data.length,
      MSG_DONTWAIT,
      this.#scratchName,
      this.#nameLen,
    );
    if (n < 0) {
      const e = errno();
      if (e === EAGAIN) this.#stats.sendDrops++;
      else this.#stats.sendErrors++;
      return;
    }
    this.#stats.datagramsOut++;
    this.#stats.bytesOut += n;
  }

  /**
   * Sends the queue with one sendmmsg (more only after a partial send or an error); on EAGAIN
   * keeps the rest and waits for writability.
   */
  flush(): void {
    this.#reserved = -1;
    if (this.#txCount === 0 || this.wantsWrite) return;
    const c = libc();
    const stats = this.#stats;
    while (this.#txStart < this.#txCount) {
      const start = this.#txStart;
      const msgs = start === 0 ? this.#txMsgs : this.#txMsgs.subarray(start * MMSGHDR_SIZE);
      let count = this.#txCount - start;
      let fault = false;
      if (this.#gsoFaults !== null && this.#gsoFaults.length > 0) {
        // As the kernel would: the messages before the first GSO one go, then that one fails.
        let f = start;
        while (f < this.#txCount && this.#txSegs[f] === 1) f++;
        if (f === start) fault = true;
        else count = f - start;
      }
      const n = fault ? -1 : c.sendmmsg(this.#fd, msgs, count, MSG_DONTWAIT);
      if (n > 0) {
        for (let m = start; m < start + n; m++) {
          const segs = this.#txSegs[m];
          stats.bytesOut += this.#txBytes[m];
          stats.datagramsOut += segs;
          if (segs > 1) {
            stats.gsoMessages++;
            stats.gsoSegments += segs;
          }
        }
        this.#txStart += n;
        continue;
      }
      const e = fault ? this.#gsoFaults!.shift()! : errno();
      if (e === EAGAIN) {
        if (this.#polled()) {
          // Keep the rest and let the poller call onWritable when the socket drains.
          this.wantsWrite = true;
          this.#wake();
          return;
        }
        // Not polled (never started, or closing): nobody would wake us, so drop the rest.
        stats.sendDrops += this.#queued(start);
        break;
      }
      if (e === EINTR) continue;
      if (e === EBADF) {
        stats.sendErrors += this.#queued(start);
        break;
      }
      if (this.#txSegs[start] > 1 && (e === EIO || e === EINVAL || e === EMSGSIZE)) {
        // The kernel would not segment this run: send it datagram by datagram. EIO: the route
        // cannot take GSO (IPsec; on older kernels, a device without checksum offload), so GSO
        // goes off for good. EINVAL/EMSGSIZE: a segment too big for the route's MTU.
        this.#gsoRefused(
          e,
          this.#txEps[start],
          this.#txIovView.getUint32(this.#txFirst[start] * IOVEC_SIZE + 8, true),
        );
        this.#unpack(start);
        continue;
      }
      // The first queued message was refused (unreachable, bad address): skip just that one.
      stats.sendErrors += this.#txSegs[start];
      this.#txStart++;
    }
    this.#txStart = 0;
    this.#txCount = 0;
    this.#txSlots = 0;
    this.#runEp = null;
    if (this.#refusedEp !== null && --this.#refusedFlushes <= 0) this.#refusedEp = null;
  }

  /**
   * The kernel would not segment a run of `size`-byte datagrams to `ep` (errno `e`): counted; EIO
   * turns GSO off for good, else runs of that size to `ep` go unsegmented for a few flushes.
   */
  #gsoRefused(e: number, ep: InternedEndpoint | null, size: number): void {
    this.#stats.gsoFallbacks++;
    if (e === EIO) this.#gso = false;
    else {
      this.#refusedEp = ep;
      this.#refusedSize = size;
      this.#refusedFlushes = REFUSED_FLUSHES;
    }
  }

  /** The datagrams in messages [start, #txCount). */
  #queued(start: number): number {
    let n = 0;
    for (let m = start; m < this.#txCount; m++) n += this.#txSegs[m];
    return n;
  }

  /**
   * Turns queued messages [start, #txCount) into one message per datagram: message s is then
   * slot s again. When GSO was turned off, every message goes back to that layout.
   */
  #unpack(start: number): void {
    const names = this.#txNames;
    for (let m = start; m < this.#txCount; m++) {
      // A run's datagrams were queued with only the first's sockaddr written.
      const f = this.#txFirst[m];
      const end = f + this.#txSegs[m];
      for (let s = f + 1; s < end; s++) {
        names.copyWithin(s * NAME_SLOT, f * NAME_SLOT, (f + 1) * NAME_SLOT);
      }
    }
    const first = this.#txFirst[start];
    const slots = this.#txSlots;
    for (let s = this.#gso ? first : 0; s < (this.#gso ? slots : this.#batch); s++) {
      this.#startMessage(s, s);
      if (s >= first && s < slots) {
        this.#txBytes[s] = this.#txIovView.getUint32(s * IOVEC_SIZE + 8, true);
        // Each datagram keeps its run's mark.
        if (this.#txTos[s] !== 0) this.#setControl(s, this.#txTos[s]);
      }
    }
    this.#txStart = first;
    this.#txCount = slots;
    this.#runEp = null;
  }

  /** Sends what is queued (what cannot go now is dropped, counted); later sends are dropped. */
  close(): void {
    this.#closed = true;
    this.wantsWrite = false;
    this.flush();
  }
}
