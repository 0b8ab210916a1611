/**
 * The receive side of the Linux UDP transport (drivers/linux/udp.ts): `recvmmsg` into
 * preallocated buffers, and with UDP GRO the coalesced messages cut back into datagrams. The views
 * handed out are made once per (buffer, segment size, segment index) and kept, so a steady flow
 * allocates nothing per datagram. Where the socket stamps receives (SO_TIMESTAMPNS), each datagram
 * goes to the sink with how long it waited in the socket's queue.
 * @module
 */

import type { DatagramSink } from "../../lib/io/driver.ts";
import type { EndpointTable, InternedEndpoint } from "../shared/endpoint.ts";
import type { OffloadStats, TransportStats } from "../shared/stats.ts";
import {
  addressOf,
  AF_INET,
  AF_INET6,
  CMSGHDR_SIZE,
  EAGAIN,
  EINTR,
  errno,
  IOVEC_SIZE,
  libc,
  MMSGHDR_SIZE,
  MSG_CTRUNC,
  MSG_DONTWAIT,
  MSG_TRUNC,
  SCM_TIMESTAMPNS,
  SOCKADDR_IN6_SIZE,
  SOCKADDR_IN_SIZE,
  SOL_SOCKET,
  SOL_UDP,
  sysError,
  UDP_GRO,
} from "./libc.ts";
import {
  layoutMessages,
  MSG_CONTROL,
  MSG_CONTROLLEN,
  MSG_FLAGS,
  MSG_LEN,
  MSG_NAMELEN,
  NAME_SLOT,
  TRANSIENT,
} from "./udp_layout.ts";

/** recvmmsg calls per readiness round, so a flood on one fd cannot starve the others. */
const RX_ROUNDS = 16;
/**
 * A receive's control space: a UDP_GRO cmsg takes CMSG_SPACE(sizeof(int)) = 24 bytes, an
 * SCM_TIMESTAMPNS one CMSG_SPACE(sizeof(struct timespec)) = 32.
 */
const RX_CTL = 64;
/** Waits are reported up to this, ms (a Smi, and far past any sender's resend timer). */
const MAX_WAIT_MS = 1 << 30;
/** A receive buffer with GRO on: a coalesced message is at most 64 KiB. */
const GRO_SLOT = 65536;
/** Receive buffers with GRO on, at least (when `maxDatagram` is small there are fewer). */
const GRO_MIN_BUFFERS = 8;
/** Segment sizes whose views each receive buffer keeps at once (replaced in turn). */
const GRO_SIZES = 4;
/** Views kept per buffer and segment size; segments past that get a new view each time. */
const GRO_MAX_VIEWS = 128;

/** What a {@link UdpReceiver} reads with. */
export interface UdpReceiverOptions {
  /** The socket. */
  fd: number;
  /** The socket's family: which sockaddr it fills in. */
  family: 4 | 6;
  /** Datagrams (messages) per recvmmsg. */
  batch: number;
  /** The largest datagram taken; longer ones are dropped. */
  maxDatagram?: number;
  /** Whether the socket has UDP_GRO set (the buffers then hold 64 KiB messages). */
  gro: boolean;
  /** Whether the socket has SO_TIMESTAMPNS set: each datagram's wait is read from its cmsg. */
  stamps?: boolean;
  /** The transport's counters, counted into. */
  stats: TransportStats & OffloadStats;
  /** Interns the senders' endpoints. */
  table: EndpointTable;
  /** Gets the sink's exceptions. */
  onError: (err: unknown) => void;
  /** Told of an error that leaves the socket unreadable. */
  fail: (err: Error) => void;
  /** Whether the transport closed (the sink may close it in the middle of a batch). */
  isClosed: () => boolean;
}

/** Reads a UDP socket's datagrams in batches; see the module docs. */
export class UdpReceiver {
  readonly #fd: number;
  readonly #nameLen: number;
  readonly #stats: TransportStats & OffloadStats;
  readonly #table: EndpointTable;
  readonly #onError: (err: unknown) => void;
  readonly #fail: (err: Error) => void;
  readonly #isClosed: () => boolean;

  // #rxCount mmsghdrs, iovecs, sockaddrs, control buffers and data slots, filled in once.
  readonly #rxCount: number;
  readonly #rxMsgs: Uint8Array;
  readonly #rxMsgView: DataView;
  /** Only pointed to from #rxMsgs: held here so the GC cannot free it under the kernel. */
  readonly #rxIovs: ArrayBuffer;
  readonly #rxNameView: DataView;
  readonly #rxCtlView: DataView;
  readonly #rxData: Uint8Array;
  readonly #rxSlot: number;
  /** The longest datagram taken; with GRO the slots are larger than that. */
  readonly #rxMax: number;
  /** Per slot: the view of the last whole datagram, reused while lengths repeat. */
  readonly #rxViews: Uint8Array[] = [];
  /** Per slot: the view of the last short final segment of a coalesced message. */
  readonly #rxTails: Uint8Array[] = [];
  /** Per slot, GRO_SIZES entries: a segment size (0: none) and the views kept for it. */
  readonly #segSizes: Int32Array;
  readonly #segViews: Uint8Array[][] = [];
  /** Per slot: which of its entries to replace next. */
  readonly #segNext: Uint8Array;
  readonly #gro: boolean;
  readonly #stamps: boolean;
  /** What the last control walk found: the segment size (0: none) and the receive time, ms. */
  #segment = 0;
  #stampMs = 0;

  /** Allocates and lays out the buffers, once. */
  constructor(options: UdpReceiverOptions) {
    this.#fd = options.fd;
    this.#nameLen = options.family === 6 ? SOCKADDR_IN6_SIZE : SOCKADDR_IN_SIZE;
    this.#stats = options.stats;
    this.#table = options.table;
    this.#onError = options.onError;
    this.#fail = options.fail;
    this.#isClosed = options.isClosed;
    this.#gro = options.gro;
    this.#stamps = options.stamps === true;
    const batch = options.batch;
    // Buffers come from ArrayBuffers (never on-heap typed arrays) so their addresses are stable.
    const plainSlot = (Math.min(65536, options.maxDatagram ?? 65535) + 15) & ~15;
    this.#rxMax = plainSlot;
    // With GRO every buffer must hold a coalesced message (64 KiB); when datagrams are small
    // that means fewer buffers, so memory stays near batch * maxDatagram (the default, 64 KiB
    // datagrams, is the same either way).
    const rxSlot = this.#rxSlot = this.#gro ? GRO_SLOT : plainSlot;
    const rxCount = this.#rxCount = this.#gro
      ? Math.min(batch, Math.max(GRO_MIN_BUFFERS, Math.ceil((batch * plainSlot) / GRO_SLOT)))
      : batch;
    this.#rxData = new Uint8Array(new ArrayBuffer(rxCount * rxSlot));
    this.#rxMsgs = new Uint8Array(new ArrayBuffer(rxCount * MMSGHDR_SIZE));
    this.#rxMsgView = new DataView(this.#rxMsgs.buffer);
    const rxIovs = this.#rxIovs = new ArrayBuffer(rxCount * IOVEC_SIZE);
    const rxNames = new ArrayBuffer(rxCount * NAME_SLOT);
    this.#rxNameView = new DataView(rxNames);
    const control = this.#gro || this.#stamps;
    const rxCtl = new ArrayBuffer(control ? rxCount * RX_CTL : 8);
    this.#rxCtlView = new DataView(rxCtl);
    layoutMessages(
      this.#rxMsgView,
      rxCount,
      rxIovs,
      rxNames,
      this.#rxData.buffer,
      rxSlot,
      this.#nameLen,
    );
    if (control) {
      const ctlBase = addressOf(rxCtl);
      for (let i = 0; i < rxCount; i++) {
        const m = i * MMSGHDR_SIZE;
        this.#rxMsgView.setBigUint64(m + MSG_CONTROL, ctlBase + BigInt(i * RX_CTL), true);
        this.#rxMsgView.setUint32(m + MSG_CONTROLLEN, RX_CTL, true);
      }
    }
    const empty = this.#rxData.subarray(0, 0);
    for (let i = 0; i < rxCount; i++) {
      this.#rxViews.push(this.#rxData.subarray(i * rxSlot, (i + 1) * rxSlot));
      this.#rxTails.push(empty);
      for (let w = 0; w < GRO_SIZES; w++) this.#segViews.push([]);
    }
    this.#segSizes = new Int32Array(rxCount * GRO_SIZES);
    this.#segNext = new Uint8Array(rxCount);
  }

  /**
   * Reads batches into `sink` until EAGAIN or the round budget: true when the budget ran out
   * with more to read (a poller's `onReadable`). `yieldNow`, asked after each batch, ends the
   * round early (true: more to read) when the event loop is owed a turn (poller.ts). Each
   * datagram goes with its wait in the queue, ms (0 without receive times).
   */
  read(sink: DatagramSink, yieldNow?: () => boolean): boolean {
    const c = libc();
    const stats = this.#stats;
    const msgs = this.#rxMsgView;
    const names = this.#rxNameView;
    const table = this.#table;
    const count = this.#rxCount;
    const control = this.#gro || this.#stamps;
    const stamps = this.#stamps;
    const max = this.#rxMax;
    for (let round = 0; round < RX_ROUNDS; round++) {
      const n = c.recvmmsg(this.#fd, this.#rxMsgs, count, MSG_DONTWAIT, null);
      // The batch was taken now: a datagram's wait is from its receive time to here. Both are
      // CLOCK_REALTIME; a wait a clock step made negative counts as none.
      const readAt = stamps && n > 0 ? Date.now() : 0;
      if (n < 0) {
        const e = errno();
        if (e === EAGAIN) return false;
        if (e === EINTR) continue;
        stats.recvErrors++;
        if (TRANSIENT.has(e)) continue;
        this.#fail(sysError("recvmmsg", e));
        return false;
      }
      for (let i = 0; i < n; i++) {
        const m = i * MMSGHDR_SIZE;
        const len = msgs.getUint32(m + MSG_LEN, true);
        const flags = msgs.getInt32(m + MSG_FLAGS, true);
        const nameLen = msgs.getUint32(m + MSG_NAMELEN, true);
        // The kernel shrinks msg_namelen to what it wrote; restore it for the next call.
        msgs.setUint32(m + MSG_NAMELEN, this.#nameLen, true);
        let gso = 0;
        let waited = 0;
        if (control) {
          this.#readControl(i, msgs.getUint32(m + MSG_CONTROLLEN, true));
          msgs.setUint32(m + MSG_CONTROLLEN, RX_CTL, true);
          gso = this.#segment;
          if (this.#stampMs > 0) {
            const w = readAt - this.#stampMs;
            waited = w <= 0 ? 0 : w >= MAX_WAIT_MS ? MAX_WAIT_MS : w | 0;
          }
        }
        if (flags & (MSG_TRUNC | MSG_CTRUNC)) {
          stats.recvErrors++;
          continue;
        }
        const a = i * NAME_SLOT;
        const family = names.getUint16(a, true);
        const port = names.getUint16(a + 2, false);
        let from: InternedEndpoint;
        if (family === AF_INET6 && nameLen >= SOCKADDR_IN6_SIZE) {
          // Signed words (the same bits): always small integers to V8, whatever the address, so
          // the code the warm-up's 127.0.0.1 trained is not thrown away at the first address
          // of 128.0.0.0 or more (fromWords takes either).
          from = table.fromWords(
            names.getInt32(a + 8, false),
            names.getInt32(a + 12, false),
            names.getInt32(a + 16, false),
            names.getInt32(a + 20, false),
            port,
          );
        } else if (family === AF_INET && nameLen >= SOCKADDR_IN_SIZE) {
          from = table.fromWords(0, 0, 0xffff, names.getInt32(a + 4, false), port);
        } else {
          stats.recvErrors++;
          continue;
        }
        if (gso > 0 && len > gso) {
          this.#split(sink, i, len, gso, from, waited);
          continue;
        }
        if (len > max) {
          // Only with GRO's larger buffers: what a plain buffer would have truncated.
          stats.recvErrors++;
          continue;
        }
        let view = this.#rxViews[i];
        if (view.length !== len) {
          // Reuse the last view of this slot while lengths repeat (full-MTU traffic).
          view = this.#rxViews[i] = this.#rxData.subarray(i * this.#rxSlot, i * this.#rxSlot + len);
        }
        stats.datagramsIn++;
        stats.bytesIn += len;
        try {
          sink.datagram(view, from, waited);
        } catch (err) {
          this.#onError(err);
        }
      }
      try {
        sink.flush();
      } catch (err) {
        this.#onError(err);
      }
      if (this.#isClosed()) return false;
      if (n < count) return false;
      if (yieldNow?.()) return true;
    }
    return true;
  }

  /**
   * Walks slot i's cmsgs into #segment (the UDP_GRO segment size, 0 when there is none: one
   * datagram) and #stampMs (the SCM_TIMESTAMPNS receive time in Unix ms, 0 when there is none).
   */
  #readControl(i: number, controlLen: number): void {
    const v = this.#rxCtlView;
    const base = i * RX_CTL;
    const end = Math.min(controlLen, RX_CTL);
    this.#segment = 0;
    this.#stampMs = 0;
    let at = 0;
    while (at + CMSGHDR_SIZE <= end) {
      const cmsgLen = v.getUint32(base + at, true);
      if (cmsgLen < CMSGHDR_SIZE || at + cmsgLen > end) break;
      const level = v.getInt32(base + at + 8, true);
      const type = v.getInt32(base + at + 12, true);
      const data = base + at + CMSGHDR_SIZE;
      if (level === SOL_UDP && type === UDP_GRO && cmsgLen >= CMSGHDR_SIZE + 4) {
        this.#segment = v.getInt32(data, true);
      } else if (
        level === SOL_SOCKET && type === SCM_TIMESTAMPNS && cmsgLen >= CMSGHDR_SIZE + 16
      ) {
        // tv_sec as two words (a BigInt would allocate), tv_nsec below a second.
        const sec = v.getUint32(data, true) + v.getInt32(data + 4, true) * 4294967296;
        this.#stampMs = sec * 1000 + v.getUint32(data + 8, true) / 1e6;
      }
      at += (cmsgLen + 7) & ~7;
    }
  }

  /**
   * Hands the datagrams of a coalesced message in slot i to the sink: `len` bytes cut every
   * `size` (the last may be shorter), all with the message's wait `waited`. Full segments get
   * the views kept for (slot, size), so a steady flow makes none; a short last one reuses the
   * slot's tail view while it repeats.
   */
  #split(
    sink: DatagramSink,
    i: number,
    len: number,
    size: number,
    from: InternedEndpoint,
    waited: number,
  ): void {
    const stats = this.#stats;
    const start = i * this.#rxSlot;
    const views = this.#segmentViews(i, size);
    const max = this.#rxMax;
    let k = 0;
    stats.groMessages++;
    for (let off = 0; off < len; off += size, k++) {
      const seg = len - off < size ? len - off : size;
      stats.groSegments++;
      if (seg > max) {
        stats.recvErrors++;
        continue;
      }
      let view: Uint8Array;
      if (seg === size) {
        if (k < views.length) view = views[k];
        else {
          view = this.#rxData.subarray(start + off, start + off + size);
          if (k < GRO_MAX_VIEWS) views.push(view);
        }
      } else {
        view = this.#rxTails[i];
        if (view.byteOffset !== start + off || view.length !== seg) {
          view = this.#rxTails[i] = this.#rxData.subarray(start + off, start + off + seg);
        }
      }
      stats.datagramsIn++;
      stats.bytesIn += seg;
      try {
        sink.datagram(view, from, waited);
      } catch (err) {
        this.#onError(err);
      }
    }
  }

  /** The views kept for segments of `size` bytes in slot i; a new size replaces the oldest. */
  #segmentViews(i: number, size: number): Uint8Array[] {
    const base = i * GRO_SIZES;
    const sizes = this.#segSizes;
    for (let w = 0; w < GRO_SIZES; w++) {
      if (sizes[base + w] === size) return this.#segViews[base + w];
    }
    const w = this.#segNext[i];
    this.#segNext[i] = (w + 1) % GRO_SIZES;
    sizes[base + w] = size;
    const views: Uint8Array[] = [];
    this.#segViews[base + w] = views;
    return views;
  }
}
