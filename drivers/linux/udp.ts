/**
 * A UDP transport on raw Linux sockets through Deno FFI: `recvmmsg` batches into preallocated
 * buffers, `sendmmsg` flushes queued sends, and a {@link Poller} (shareable with a TUN) drives it.
 *
 * Where the kernel has them (Linux 4.18 and later for GSO, 5.0 for GRO), the transport uses UDP
 * segmentation offload both ways:
 *
 * - Send (GSO): consecutive queued datagrams to the same endpoint with the same length (the last
 *   of a run may be shorter) go out as one message with a `UDP_SEGMENT` cmsg, which the kernel
 *   (or the NIC) cuts back into datagrams. Each queued datagram keeps its own fixed slot and
 *   iovec, so grouping costs no copy: a group's message points at its first iovec and counts
 *   them. Every group of a flush still goes in one `sendmmsg`. A GSO send the kernel refuses is
 *   sent again datagram by datagram (counted in `gsoFallbacks`): after EIO (a route that cannot
 *   take GSO: IPsec, or on older kernels a device without checksum offload) GSO stays off; after
 *   EINVAL or EMSGSIZE (a segment too big for the route's MTU) runs of that size or more to that
 *   endpoint are not tried for the next 1,000 flushes.
 * - Receive (GRO): with `UDP_GRO` set, the kernel may hand over several datagrams of one flow in
 *   one message, with their segment size in a cmsg; they are cut apart and handed to the sink one
 *   by one, in order, with the same endpoint. The views handed out are made once per (buffer,
 *   segment size, segment index) and kept, so a steady flow allocates nothing per datagram.
 *
 * Either can be turned off with the `gso`/`gro` options; without them the transport works as
 * before: one message per datagram.
 *
 * A sender may build a datagram in its queue slot instead of handing a copy to `send`:
 * {@link LinuxUdpTransport.reserve} lends the next free slot, {@link LinuxUdpTransport.commit}
 * queues it exactly as `send` would have (GSO runs included). The device seals into it, so the
 * encrypted datagram is written once, where sendmmsg reads it.
 * @module
 */

import type { DatagramSink, Endpoint, Transport, UdpDriverStats } from "../../lib/io/driver.ts";
import { DEFAULT_ENDPOINT_LIMIT, EndpointTable, InternedEndpoint } from "../endpoint.ts";
import { parseAddressWords } from "../../lib/net/ip.ts";
import {
  newOffloadStats,
  newTransportStats,
  type OffloadStats,
  type TransportStats,
} from "../stats.ts";
import {
  addressOf,
  AF_INET,
  AF_INET6,
  CMSGHDR_SIZE,
  EAFNOSUPPORT,
  EAGAIN,
  EBADF,
  EINTR,
  EINVAL,
  EIO,
  EMSGSIZE,
  EPERM,
  errno,
  IOVEC_SIZE,
  IPPROTO_IPV6,
  IPV6_V6ONLY,
  libc,
  MMSGHDR_SIZE,
  MSG_CTRUNC,
  MSG_DONTWAIT,
  MSG_TRUNC,
  SO_MARK,
  SO_RCVBUF,
  SO_RCVBUFFORCE,
  SO_SNDBUF,
  SO_SNDBUFFORCE,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
  SOCK_NONBLOCK,
  SOCKADDR_IN6_SIZE,
  SOCKADDR_IN_SIZE,
  SOL_SOCKET,
  SOL_UDP,
  sysError,
  UDP_GRO,
  UDP_SEGMENT,
} from "./libc.ts";
import { Poller, type PollHandler } from "./poller.ts";

/** Options of {@link LinuxUdpTransport.open}. */
export interface LinuxUdpOptions {
  /** The local port; 0 picks an ephemeral one. */
  port: number;
  /** A local IP literal; by default `::` dual-stack, or `0.0.0.0` without IPv6. */
  hostname?: string;
  /** A poller to share with other fds (e.g. a TUN); by default the transport makes its own. */
  poller?: Poller;
  /** Datagrams per recvmmsg/sendmmsg call. */
  batch?: number;
  /** The largest datagram received; longer ones are dropped. */
  maxDatagram?: number;
  /** Kernel socket buffer sizes to ask for, in bytes (0 keeps the system default). */
  socketBuffer?: number;
  /** How many endpoints to intern before starting over. */
  endpointLimit?: number;
  /**
   * The firewall mark (SO_MARK) of every datagram sent, as wg's `fwmark`: 1 to 0xffffffff, or
   * 0/absent for none. Needs CAP_NET_ADMIN; opening fails when the kernel refuses it.
   */
  fwMark?: number;
  /** Called with errors thrown by the sink or met by the socket; defaults to `console.error`. */
  onError?: (err: unknown) => void;
  /**
   * Send runs of equal-size datagrams to one endpoint as UDP GSO messages, when the kernel
   * supports it (default true; false forces one message per datagram).
   */
  gso?: boolean;
  /**
   * Ask the kernel for coalesced receives (UDP GRO) and split them, when it supports it (default
   * true; false keeps one datagram per receive).
   */
  gro?: boolean;
  /**
   * For tests: errno values that the next sends of GSO messages fail with, one per send, instead
   * of reaching the kernel (which refuses them only on routes a test cannot always build, such as
   * through IPsec).
   */
  gsoFaults?: number[];
}

/** Queued sends are copied into slots of this size; larger datagrams go out with sendto. */
const TX_SLOT = 2048;
/** recvmmsg calls per readiness round, so a flood on one fd cannot starve the others. */
const RX_ROUNDS = 16;
/** Sockaddr slots are spaced to keep every one 8-byte aligned. */
const NAME_SLOT = 32;

// Field offsets in `struct mmsghdr` (a msghdr, then msg_len) on 64-bit Linux.
const MSG_NAMELEN = 8;
const MSG_IOVLEN = 24;
const MSG_CONTROL = 32;
const MSG_CONTROLLEN = 40;
const MSG_FLAGS = 48;
const MSG_LEN = 56;

/** The most datagrams in one GSO send (UDP_MAX_SEGMENTS: 64 on every kernel with GSO). */
const GSO_MAX_SEGMENTS = 64;
/** The most bytes in one GSO send: the largest UDP payload of an IPv4 datagram. */
const GSO_MAX_BYTES = 65507;
/** A send's control space: CMSG_SPACE(sizeof(u16)), for one UDP_SEGMENT cmsg. */
const TX_CTL = 24;
/** A receive's control space: one UDP_GRO cmsg takes CMSG_SPACE(sizeof(int)) = 24 bytes. */
const RX_CTL = 64;
/** A receive buffer with GRO on: a coalesced message is at most 64 KiB. */
const GRO_SLOT = 65536;
/** Receive buffers with GRO on, at least (when `maxDatagram` is small there are fewer). */
const GRO_MIN_BUFFERS = 8;
/** Segment sizes whose views each receive buffer keeps at once (replaced in turn). */
const GRO_SIZES = 4;
/** Views kept per buffer and segment size; segments past that get a new view each time. */
const GRO_MAX_VIEWS = 128;

/** Flushes during which a run size the kernel refused for an endpoint is not tried again. */
const REFUSED_FLUSHES = 1000;

/** Errors a receive or send may report for one datagram without the socket being broken. */
const TRANSIENT = new Set([111, 113, 101, 104, 105, 12, 90, 22, 99, 1, 13]);

/** The counters of a {@link LinuxUdpTransport}: the common ones and its offload's. */
export type LinuxUdpStats = TransportStats & OffloadStats;

/** A {@link Transport} on a non-blocking FFI UDP socket, batched with recvmmsg/sendmmsg. */
export class LinuxUdpTransport implements Transport, PollHandler {
  /** Always `udp`. */
  readonly name = "udp";
  /** The bound local port. */
  readonly port: number;
  /** 6 for a dual-stack (or IPv6) socket, 4 for an IPv4-only one. */
  readonly family: 4 | 6;
  /** The socket's firewall mark (SO_MARK); 0 for none. */
  readonly fwMark: number;
  /** The socket's fd. */
  readonly fd: number;
  /** Traffic and error counters, with the GSO/GRO ones. */
  readonly stats: LinuxUdpStats = { ...newTransportStats(), ...newOffloadStats() };
  /** Whether a flush met EAGAIN and waits for the socket to become writable. */
  wantsWrite = false;

  readonly #poller: Poller;
  readonly #ownPoller: boolean;
  readonly #table: EndpointTable;
  readonly #onError: (err: unknown) => void;
  readonly #batch: number;
  readonly #nameLen: number;

  // Receive side: #rxCount mmsghdrs, iovecs, sockaddrs, control buffers and data slots, filled
  // in once.
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

  // Send side: queued datagram i sits in data slot i, with iovec i and sockaddr i. Message m
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
  /**
   * The endpoint and segment size of the last run the kernel refused with EINVAL/EMSGSIZE (a
   * segment too big for the route's MTU): runs to it of that size or more are not tried again for
   * a while (#refusedFlushes flushes), so a small-MTU path costs no failed send per flush.
   */
  #refusedEp: InternedEndpoint | null = null;
  #refusedSize = 0;
  #refusedFlushes = 0;

  #sink: DatagramSink | null = null;
  #closed = false;
  #closing: Promise<void> | null = null;

  private constructor(
    fd: number,
    family: 4 | 6,
    port: number,
    options: LinuxUdpOptions,
    offload: { gso: boolean; gro: boolean },
  ) {
    this.fd = fd;
    this.family = family;
    this.port = port;
    this.fwMark = options.fwMark ?? 0;
    this.#gso = offload.gso;
    this.#gro = offload.gro;
    this.#gsoFaults = options.gsoFaults ?? null;
    this.#ownPoller = options.poller === undefined;
    this.#poller = options.poller ?? new Poller({ onError: options.onError });
    this.#table = new EndpointTable(options.endpointLimit ?? DEFAULT_ENDPOINT_LIMIT);
    this.#onError = options.onError ?? ((err) => console.error("udp:", err));
    const batch = this.#batch = Math.max(1, Math.min(1024, options.batch ?? 64));
    this.#nameLen = family === 6 ? SOCKADDR_IN6_SIZE : SOCKADDR_IN_SIZE;
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
    const rxCtl = new ArrayBuffer(this.#gro ? rxCount * RX_CTL : 8);
    this.#rxCtlView = new DataView(rxCtl);
    this.#layout(this.#rxMsgView, rxCount, rxIovs, rxNames, this.#rxData.buffer, rxSlot);
    if (this.#gro) {
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
    this.#layout(this.#txMsgView, batch, txIovs, txNames, this.#txData.buffer, TX_SLOT);
    this.#txMsgs.copyWithin(batch * MMSGHDR_SIZE, 0, batch * MMSGHDR_SIZE);
    const ctlBase = addressOf(txCtl);
    for (let m = 0; m < batch; m++) {
      // Message m's control buffer holds one UDP_SEGMENT cmsg, whose size is set per run; the
      // message points at it always, but says it is there (msg_controllen) only for a run.
      this.#txMsgView.setBigUint64(
        m * MMSGHDR_SIZE + MSG_CONTROL,
        ctlBase + BigInt(m * TX_CTL),
        true,
      );
      const c = m * TX_CTL;
      this.#txCtlView.setBigUint64(c, BigInt(CMSGHDR_SIZE + 2), true); // cmsg_len: CMSG_LEN(2)
      this.#txCtlView.setInt32(c + 8, SOL_UDP, true);
      this.#txCtlView.setInt32(c + 12, UDP_SEGMENT, true);
    }
  }

  /** Points mmsghdr i at iovec i, sockaddr i and data slot i, for i < count. */
  #layout(
    msgs: DataView,
    count: number,
    iovs: ArrayBuffer,
    names: ArrayBuffer,
    data: ArrayBufferLike,
    slot: number,
  ): void {
    const iovBase = addressOf(iovs);
    const nameBase = addressOf(names);
    const dataBase = addressOf(data as ArrayBuffer);
    const iovView = new DataView(iovs);
    for (let i = 0; i < count; i++) {
      const m = i * MMSGHDR_SIZE;
      msgs.setBigUint64(m, nameBase + BigInt(i * NAME_SLOT), true); // msg_name
      msgs.setUint32(m + MSG_NAMELEN, this.#nameLen, true); // msg_namelen
      msgs.setBigUint64(m + 16, iovBase + BigInt(i * IOVEC_SIZE), true); // msg_iov
      msgs.setBigUint64(m + MSG_IOVLEN, 1n, true); // msg_iovlen
      iovView.setBigUint64(i * IOVEC_SIZE, dataBase + BigInt(i * slot), true); // iov_base
      iovView.setBigUint64(i * IOVEC_SIZE + 8, BigInt(slot), true); // iov_len
    }
  }

  /** Opens and binds a non-blocking UDP socket (dual-stack unless `hostname` says otherwise). */
  // deno-lint-ignore require-await
  static async open(options: LinuxUdpOptions): Promise<LinuxUdpTransport> {
    const { port } = options;
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw new Error(`invalid UDP port ${port}`);
    }
    const mark = options.fwMark ?? 0;
    if (!Number.isInteger(mark) || mark < 0 || mark > 0xffffffff) {
      throw new Error(`invalid fwmark ${mark} (0 to 0xffffffff)`);
    }
    let words: [number, number, number, number] | null = null;
    if (options.hostname !== undefined) {
      words = parseAddressWords(options.hostname);
      if (words === null) throw new Error(`"${options.hostname}" is not an IP address`);
    }
    const c = libc();
    const type = SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC;
    const wantV4 = words !== null && !options.hostname!.includes(":");
    let family: 4 | 6 = wantV4 ? 4 : 6;
    let fd = c.socket(family === 6 ? AF_INET6 : AF_INET, type, 0);
    if (fd < 0 && family === 6 && words === null && errno() === EAFNOSUPPORT) {
      family = 4;
      fd = c.socket(AF_INET, type, 0);
    }
    if (fd < 0) throw sysError("socket");
    try {
      const name = new Uint8Array(new ArrayBuffer(NAME_SLOT));
      const v = new DataView(name.buffer);
      if (family === 6) {
        // Dual-stack regardless of net.ipv6.bindv6only, unless bound to a specific address.
        setInt(fd, IPPROTO_IPV6, IPV6_V6ONLY, 0);
        v.setUint16(0, AF_INET6, true);
        v.setUint16(2, port, false);
        if (words !== null) { for (let i = 0; i < 4; i++) v.setUint32(8 + 4 * i, words[i], false); }
      } else {
        v.setUint16(0, AF_INET, true);
        v.setUint16(2, port, false);
        if (words !== null) v.setUint32(4, words[3], false);
      }
      if (mark !== 0 && !setInt(fd, SOL_SOCKET, SO_MARK, mark | 0)) {
        const e = errno();
        const hint = e === EPERM ? " (needs root or CAP_NET_ADMIN)" : "";
        throw new Error(
          `${sysError(`fwmark 0x${mark.toString(16)}: setsockopt SO_MARK`, e).message}${hint}`,
        );
      }
      const nameLen = family === 6 ? SOCKADDR_IN6_SIZE : SOCKADDR_IN_SIZE;
      if (c.bind(fd, name, nameLen) < 0) {
        throw sysError(`bind ${options.hostname ?? (family === 6 ? "[::]" : "0.0.0.0")}:${port}`);
      }
      const size = options.socketBuffer ?? 4 << 20;
      if (size > 0) {
        // FORCE variants pass rmem_max/wmem_max when we have CAP_NET_ADMIN; else best effort.
        if (!setInt(fd, SOL_SOCKET, SO_RCVBUFFORCE, size)) setInt(fd, SOL_SOCKET, SO_RCVBUF, size);
        if (!setInt(fd, SOL_SOCKET, SO_SNDBUFFORCE, size)) setInt(fd, SOL_SOCKET, SO_SNDBUF, size);
      }
      // Offload is probed once: a kernel without it refuses the option (ENOPROTOOPT). A zero
      // UDP_SEGMENT is the socket's default of no segmentation: sends ask for it each time.
      const gso = options.gso !== false && setInt(fd, SOL_UDP, UDP_SEGMENT, 0);
      const gro = options.gro !== false && setInt(fd, SOL_UDP, UDP_GRO, 1);
      const len = new Uint8Array(new Uint32Array([NAME_SLOT]).buffer);
      if (c.getsockname(fd, name, len) < 0) throw sysError("getsockname");
      return new LinuxUdpTransport(fd, family, v.getUint16(2, false), options, { gso, gro });
    } catch (err) {
      c.close(fd);
      throw err;
    }
  }

  /** Whether sends use UDP GSO now (false when forced off, unsupported, or turned off by EIO). */
  get gso(): boolean {
    return this.#gso;
  }

  /** Whether the socket takes coalesced receives (UDP GRO). */
  get gro(): boolean {
    return this.#gro;
  }

  /** The counters and the offloads as they are now. */
  driverStats(): UdpDriverStats {
    return { kind: "udp", counters: this.stats, offloads: { gso: this.#gso, gro: this.#gro } };
  }

  /** Starts reading; datagrams go to `sink` in batches, each batch followed by `flush()`. */
  start(sink: DatagramSink): void {
    if (this.#closed) throw new Error("udp transport is closed");
    if (this.#sink !== null) throw new Error("udp transport already started");
    this.#sink = sink;
    this.#poller.add(this.fd, this);
  }

  /** Reads batches until EAGAIN or the round budget; called by the poller. */
  onReadable(): boolean {
    const sink = this.#sink;
    if (sink === null || this.#closed) return false;
    const c = libc();
    const stats = this.stats;
    const msgs = this.#rxMsgView;
    const names = this.#rxNameView;
    const table = this.#table;
    const count = this.#rxCount;
    const gro = this.#gro;
    const max = this.#rxMax;
    for (let round = 0; round < RX_ROUNDS; round++) {
      const n = c.recvmmsg(this.fd, this.#rxMsgs, count, MSG_DONTWAIT, null);
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
        if (gro) {
          gso = this.#segmentSize(i, msgs.getUint32(m + MSG_CONTROLLEN, true));
          msgs.setUint32(m + MSG_CONTROLLEN, RX_CTL, true);
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
          from = table.fromWords(
            names.getUint32(a + 8, false),
            names.getUint32(a + 12, false),
            names.getUint32(a + 16, false),
            names.getUint32(a + 20, false),
            port,
          );
        } else if (family === AF_INET && nameLen >= SOCKADDR_IN_SIZE) {
          from = table.fromWords(0, 0, 0xffff, names.getUint32(a + 4, false), port);
        } else {
          stats.recvErrors++;
          continue;
        }
        if (gso > 0 && len > gso) {
          this.#split(sink, i, len, gso, from);
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
          sink.datagram(view, from);
        } catch (err) {
          this.#onError(err);
        }
      }
      try {
        sink.flush();
      } catch (err) {
        this.#onError(err);
      }
      if (this.#closed) return false;
      if (n < count) return false;
    }
    return true;
  }

  /** The segment size in slot i's UDP_GRO cmsg, 0 when there is none (one datagram). */
  #segmentSize(i: number, controlLen: number): number {
    const v = this.#rxCtlView;
    const base = i * RX_CTL;
    const end = Math.min(controlLen, RX_CTL);
    let at = 0;
    while (at + CMSGHDR_SIZE <= end) {
      const cmsgLen = v.getUint32(base + at, true);
      if (cmsgLen < CMSGHDR_SIZE || at + cmsgLen > end) break;
      if (
        v.getInt32(base + at + 8, true) === SOL_UDP &&
        v.getInt32(base + at + 12, true) === UDP_GRO && cmsgLen >= CMSGHDR_SIZE + 4
      ) {
        return v.getInt32(base + at + CMSGHDR_SIZE, true);
      }
      at += (cmsgLen + 7) & ~7;
    }
    return 0;
  }

  /**
   * Hands the datagrams of a coalesced message in slot i to the sink: `len` bytes cut every
   * `size` (the last may be shorter). Full segments get the views kept for (slot, size), so a
   * steady flow makes none; a short last one reuses the slot's tail view while it repeats.
   */
  #split(sink: DatagramSink, i: number, len: number, size: number, from: InternedEndpoint): void {
    const stats = this.stats;
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
        sink.datagram(view, from);
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

  /** Flushes what waited for the socket to become writable; called by the poller. */
  onWritable(): void {
    this.wantsWrite = false;
    this.flush();
  }

  /**
   * Queues one datagram (copied: `data` may be reused on return); `flush()` sends the queue.
   * With GSO, a datagram to the endpoint of the last queued message, no longer than that
   * message's first, joins it (until a shorter one ends the run, or the kernel's limits).
   */
  send(data: Uint8Array, to: Endpoint): void {
    this.#reserved = -1;
    if (this.#closed) {
      this.stats.sendDrops++;
      return;
    }
    const ep = to instanceof InternedEndpoint ? to : this.#table.adopt(to);
    if (this.family === 4 && ep.family === 6) {
      this.stats.sendErrors++;
      return;
    }
    const len = data.length;
    if (len > TX_SLOT) {
      this.#sendNow(data, ep);
      return;
    }
    if (!this.#hasSlot()) {
      // The socket is full and the queue too: drop, as a congested link would.
      this.stats.sendDrops++;
      return;
    }
    this.#txData.set(data, this.#txSlots * TX_SLOT);
    this.#enqueue(len, ep);
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
    if (this.#closed || max > TX_SLOT || (this.family === 4 && to.family === 6)) return null;
    if (!this.#hasSlot()) return null;
    this.#reserved = this.#txSlots;
    return this.#txSlotViews[this.#reserved];
  }

  /**
   * Queues the first `length` bytes of the slot {@link reserve} lent, to `to`, as `send` would
   * queue a copy of them. Throws when no slot is lent (none reserved, or forgotten since).
   */
  commit(length: number, to: Endpoint): void {
    const i = this.#reserved;
    this.#reserved = -1;
    if (i < 0 || i !== this.#txSlots) throw new Error("udp: commit without a reserved slot");
    if (!(length >= 0 && length <= TX_SLOT)) {
      throw new RangeError(`udp: commit of ${length} bytes (a slot holds ${TX_SLOT})`);
    }
    this.#enqueue(length, to instanceof InternedEndpoint ? to : this.#table.adopt(to));
  }

  /** True when a queue slot is free, after flushing a full queue if need be. */
  #hasSlot(): boolean {
    if (this.#txSlots < this.#batch) return true;
    this.flush();
    return this.#txSlots < this.#batch;
  }

  /**
   * Queues the `len` bytes already in slot #txSlots to `ep`: as a message of its own, or with GSO
   * as one more datagram of the last message's run.
   */
  #enqueue(len: number, ep: InternedEndpoint): void {
    const i = this.#txSlots++;
    this.#txIovView.setUint32(i * IOVEC_SIZE + 8, len, true);
    if (!this.#gso) {
      // One message per datagram: message i is slot i, laid out once.
      this.#txCount++;
      this.#txBytes[i] = len;
      this.#txSegs[i] = 1;
      this.#writeName(this.#txNameView, i * NAME_SLOT, ep);
      return;
    }
    const last = this.#txCount - 1;
    if (ep === this.#runEp && len <= this.#runSize && last >= this.#txStart) {
      const segs = this.#txSegs[last];
      const bytes = this.#txBytes[last] + len;
      if (segs < GSO_MAX_SEGMENTS && bytes <= GSO_MAX_BYTES) {
        this.#txSegs[last] = segs + 1;
        this.#txBytes[last] = bytes;
        const m = last * MMSGHDR_SIZE;
        this.#txMsgView.setUint32(m + MSG_IOVLEN, segs + 1, true);
        if (segs === 1) {
          this.#txCtlView.setUint16(last * TX_CTL + CMSGHDR_SIZE, this.#runSize, true);
          this.#txMsgView.setUint32(m + MSG_CONTROLLEN, TX_CTL, true);
        }
        if (len < this.#runSize) this.#runEp = null;
        return;
      }
    }
    const m = this.#txCount++;
    this.#startMessage(m, i);
    this.#txBytes[m] = len;
    this.#writeName(this.#txNameView, i * NAME_SLOT, ep);
    // An empty datagram starts no run: a segment size of 0 would merge the run into one.
    const refused = ep === this.#refusedEp && len >= this.#refusedSize;
    this.#runEp = len > 0 && !refused ? ep : null;
    this.#runSize = len;
    this.#txEps[m] = ep;
  }

  /** Makes message m the one-datagram message of slot i (from the template). */
  #startMessage(m: number, i: number): void {
    const from = (this.#batch + i) * MMSGHDR_SIZE;
    // msg_name, msg_namelen, msg_iov, msg_iovlen (= 1); msg_control stays message m's own.
    this.#txMsgs.copyWithin(m * MMSGHDR_SIZE, from, from + MSG_CONTROL);
    this.#txMsgView.setUint32(m * MMSGHDR_SIZE + MSG_CONTROLLEN, 0, true);
    this.#txSegs[m] = 1;
    this.#txFirst[m] = i;
  }

  /** Sends a datagram too big for a queue slot at once, after what is already queued. */
  #sendNow(data: Uint8Array, ep: InternedEndpoint): void {
    this.flush();
    this.#writeName(this.#scratchView, 0, ep);
    const n = libc().sendto(
      this.fd,
      data,
      data.length,
      MSG_DONTWAIT,
      this.#scratchName,
      this.#nameLen,
    );
    if (n < 0) {
      const e = errno();
      if (e === EAGAIN) this.stats.sendDrops++;
      else this.stats.sendErrors++;
      return;
    }
    this.stats.datagramsOut++;
    this.stats.bytesOut += n;
  }

  #writeName(v: DataView, a: number, ep: InternedEndpoint): void {
    const w = ep.words;
    if (this.family === 6) {
      v.setUint16(a, AF_INET6, true);
      v.setUint16(a + 2, ep.port, false);
      v.setUint32(a + 4, 0, true);
      v.setUint32(a + 8, w[0], false);
      v.setUint32(a + 12, w[1], false);
      v.setUint32(a + 16, w[2], false);
      v.setUint32(a + 20, w[3], false);
      v.setUint32(a + 24, 0, true);
    } else {
      v.setUint16(a, AF_INET, true);
      v.setUint16(a + 2, ep.port, false);
      v.setUint32(a + 4, w[3], false);
      v.setUint32(a + 8, 0, true);
      v.setUint32(a + 12, 0, true);
    }
  }

  /**
   * Sends the queue with one sendmmsg (more only after a partial send or an error); on EAGAIN
   * keeps the rest and waits for writability.
   */
  flush(): void {
    this.#reserved = -1;
    if (this.#txCount === 0 || this.wantsWrite) return;
    const c = libc();
    const stats = this.stats;
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
      const n = fault ? -1 : c.sendmmsg(this.fd, msgs, count, MSG_DONTWAIT);
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
        if (this.#sink !== null && !this.#closed) {
          // Keep the rest and let the poller call onWritable when the socket drains.
          this.wantsWrite = true;
          this.#poller.wake();
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
        stats.gsoFallbacks++;
        if (e === EIO) this.#gso = false;
        else {
          this.#refusedEp = this.#txEps[start];
          this.#refusedSize = this.#txIovView.getUint32(
            this.#txFirst[start] * IOVEC_SIZE + 8,
            true,
          );
          this.#refusedFlushes = REFUSED_FLUSHES;
        }
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
      }
    }
    this.#txStart = first;
    this.#txCount = slots;
    this.#runEp = null;
  }

  /** Parses `host:port` (IPv6 in brackets) into an interned endpoint; throws on bad input. */
  endpoint(text: string): Endpoint {
    return this.#table.parse(text);
  }

  #fail(err: Error): void {
    this.#onError(err);
    if (!this.#closed) void this.#poller.remove(this.fd);
  }

  /** Stops reading, closes the socket (queued sends are flushed first); idempotent. */
  close(): Promise<void> {
    if (this.#closing === null) this.#closing = this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#closed = true;
    this.wantsWrite = false;
    this.flush();
    await this.#poller.remove(this.fd);
    libc().close(this.fd);
    if (this.#ownPoller) await this.#poller.close();
  }
}

function setInt(fd: number, level: number, name: number, value: number): boolean {
  const buf = new Uint8Array(new Int32Array([value]).buffer);
  return libc().setsockopt(fd, level, name, buf, 4) === 0;
}
