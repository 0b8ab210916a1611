/**
 * A UDP transport on raw Linux sockets through Deno FFI: `recvmmsg` batches into preallocated
 * buffers, `sendmmsg` flushes queued sends, and a {@link Poller} (shareable with a TUN) drives it.
 * @module
 */

import type { DatagramSink, Endpoint, Transport } from "../../lib/io/driver.ts";
import { DEFAULT_ENDPOINT_LIMIT, EndpointTable, InternedEndpoint } from "../endpoint.ts";
import { parseAddressWords } from "../../lib/net/ip.ts";
import { newTransportStats, type TransportStats } from "../stats.ts";
import {
  addressOf,
  AF_INET,
  AF_INET6,
  EAFNOSUPPORT,
  EAGAIN,
  EBADF,
  EINTR,
  EPERM,
  errno,
  IOVEC_SIZE,
  IPPROTO_IPV6,
  IPV6_V6ONLY,
  libc,
  MMSGHDR_SIZE,
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
  sysError,
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
}

/** Queued sends are copied into slots of this size; larger datagrams go out with sendto. */
const TX_SLOT = 2048;
/** recvmmsg calls per readiness round, so a flood on one fd cannot starve the others. */
const RX_ROUNDS = 16;
/** Sockaddr slots are spaced to keep every one 8-byte aligned. */
const NAME_SLOT = 32;

/** Errors a receive or send may report for one datagram without the socket being broken. */
const TRANSIENT = new Set([111, 113, 101, 104, 105, 12, 90, 22, 99, 1, 13]);

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
  /** Traffic and error counters. */
  readonly stats: TransportStats = newTransportStats();
  /** Whether a flush met EAGAIN and waits for the socket to become writable. */
  wantsWrite = false;

  readonly #poller: Poller;
  readonly #ownPoller: boolean;
  readonly #table: EndpointTable;
  readonly #onError: (err: unknown) => void;
  readonly #batch: number;
  readonly #nameLen: number;

  // Receive side: `batch` mmsghdrs, iovecs, sockaddrs and data slots, filled in once.
  readonly #rxMsgs: Uint8Array;
  readonly #rxMsgView: DataView;
  /** Only pointed to from #rxMsgs: held here so the GC cannot free it under the kernel. */
  readonly #rxIovs: ArrayBuffer;
  readonly #rxNameView: DataView;
  readonly #rxData: Uint8Array;
  readonly #rxSlot: number;
  readonly #rxViews: Uint8Array[] = [];

  // Send side: the same layout; entries [#txStart, #txCount) are queued.
  readonly #txMsgs: Uint8Array;
  readonly #txMsgView: DataView;
  readonly #txIovView: DataView;
  readonly #txNameView: DataView;
  readonly #txData: Uint8Array;
  readonly #txLens: Uint32Array;
  readonly #scratchName = new Uint8Array(new ArrayBuffer(NAME_SLOT));
  readonly #scratchView = new DataView(this.#scratchName.buffer);
  #txStart = 0;
  #txCount = 0;

  #sink: DatagramSink | null = null;
  #closed = false;
  #closing: Promise<void> | null = null;

  private constructor(fd: number, family: 4 | 6, port: number, options: LinuxUdpOptions) {
    this.fd = fd;
    this.family = family;
    this.port = port;
    this.fwMark = options.fwMark ?? 0;
    this.#ownPoller = options.poller === undefined;
    this.#poller = options.poller ?? new Poller({ onError: options.onError });
    this.#table = new EndpointTable(options.endpointLimit ?? DEFAULT_ENDPOINT_LIMIT);
    this.#onError = options.onError ?? ((err) => console.error("udp:", err));
    const batch = this.#batch = Math.max(1, Math.min(1024, options.batch ?? 64));
    this.#nameLen = family === 6 ? SOCKADDR_IN6_SIZE : SOCKADDR_IN_SIZE;
    // Buffers come from ArrayBuffers (never on-heap typed arrays) so their addresses are stable.
    const rxSlot = this.#rxSlot = (Math.min(65536, options.maxDatagram ?? 65535) + 15) & ~15;
    this.#rxData = new Uint8Array(new ArrayBuffer(batch * rxSlot));
    this.#rxMsgs = new Uint8Array(new ArrayBuffer(batch * MMSGHDR_SIZE));
    this.#rxMsgView = new DataView(this.#rxMsgs.buffer);
    const rxIovs = this.#rxIovs = new ArrayBuffer(batch * IOVEC_SIZE);
    const rxNames = new ArrayBuffer(batch * NAME_SLOT);
    this.#rxNameView = new DataView(rxNames);
    this.#layout(this.#rxMsgView, rxIovs, rxNames, this.#rxData.buffer, rxSlot);
    for (let i = 0; i < batch; i++) {
      this.#rxViews.push(this.#rxData.subarray(i * rxSlot, (i + 1) * rxSlot));
    }

    this.#txData = new Uint8Array(new ArrayBuffer(batch * TX_SLOT));
    this.#txMsgs = new Uint8Array(new ArrayBuffer(batch * MMSGHDR_SIZE));
    this.#txMsgView = new DataView(this.#txMsgs.buffer);
    const txIovs = new ArrayBuffer(batch * IOVEC_SIZE);
    this.#txIovView = new DataView(txIovs);
    const txNames = new ArrayBuffer(batch * NAME_SLOT);
    this.#txNameView = new DataView(txNames);
    this.#txLens = new Uint32Array(batch);
    this.#layout(this.#txMsgView, txIovs, txNames, this.#txData.buffer, TX_SLOT);
  }

  /** Points mmsghdr i at iovec i, sockaddr i and data slot i. */
  #layout(
    msgs: DataView,
    iovs: ArrayBuffer,
    names: ArrayBuffer,
    data: ArrayBufferLike,
    slot: number,
  ): void {
    const iovBase = addressOf(iovs);
    const nameBase = addressOf(names);
    const dataBase = addressOf(data as ArrayBuffer);
    const iovView = new DataView(iovs);
    for (let i = 0; i < this.#batch; i++) {
      const m = i * MMSGHDR_SIZE;
      msgs.setBigUint64(m, nameBase + BigInt(i * NAME_SLOT), true); // msg_name
      msgs.setUint32(m + 8, this.#nameLen, true); // msg_namelen
      msgs.setBigUint64(m + 16, iovBase + BigInt(i * IOVEC_SIZE), true); // msg_iov
      msgs.setBigUint64(m + 24, 1n, true); // msg_iovlen
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
      const len = new Uint8Array(new Uint32Array([NAME_SLOT]).buffer);
      if (c.getsockname(fd, name, len) < 0) throw sysError("getsockname");
      return new LinuxUdpTransport(fd, family, v.getUint16(2, false), options);
    } catch (err) {
      c.close(fd);
      throw err;
    }
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
    const batch = this.#batch;
    for (let round = 0; round < RX_ROUNDS; round++) {
      const n = c.recvmmsg(this.fd, this.#rxMsgs, batch, MSG_DONTWAIT, null);
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
        const len = msgs.getUint32(m + 56, true);
        const flags = msgs.getInt32(m + 48, true);
        const nameLen = msgs.getUint32(m + 8, true);
        // The kernel shrinks msg_namelen to what it wrote; restore it for the next call.
        msgs.setUint32(m + 8, this.#nameLen, true);
        if (flags & MSG_TRUNC) {
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
      if (n < batch) return false;
    }
    return true;
  }

  /** Flushes what waited for the socket to become writable; called by the poller. */
  onWritable(): void {
    this.wantsWrite = false;
    this.flush();
  }

  /** Queues one datagram (copied: `data` may be reused on return); `flush()` sends the queue. */
  send(data: Uint8Array, to: Endpoint): void {
    if (this.#closed) {
      this.stats.sendDrops++;
      return;
    }
    const ep = to instanceof InternedEndpoint ? to : this.#table.adopt(to);
    if (this.family === 4 && ep.family === 6) {
      this.stats.sendErrors++;
      return;
    }
    if (data.length > TX_SLOT) {
      this.#sendNow(data, ep);
      return;
    }
    if (this.#txCount === this.#batch) {
      this.flush();
      if (this.#txCount === this.#batch) {
        // The socket is full and the queue too: drop, as a congested link would.
        this.stats.sendDrops++;
        return;
      }
    }
    const i = this.#txCount++;
    this.#txData.set(data, i * TX_SLOT);
    this.#txLens[i] = data.length;
    this.#txIovView.setUint32(i * IOVEC_SIZE + 8, data.length, true);
    this.#writeName(this.#txNameView, i * NAME_SLOT, ep);
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

  /** Sends the queue with sendmmsg; on EAGAIN keeps the rest and waits for writability. */
  flush(): void {
    if (this.#txCount === 0 || this.wantsWrite) return;
    const c = libc();
    const stats = this.stats;
    while (this.#txStart < this.#txCount) {
      const start = this.#txStart;
      const msgs = start === 0 ? this.#txMsgs : this.#txMsgs.subarray(start * MMSGHDR_SIZE);
      const n = c.sendmmsg(this.fd, msgs, this.#txCount - start, MSG_DONTWAIT);
      if (n > 0) {
        for (let i = start; i < start + n; i++) stats.bytesOut += this.#txLens[i];
        stats.datagramsOut += n;
        this.#txStart += n;
        continue;
      }
      const e = errno();
      if (e === EAGAIN) {
        if (this.#sink !== null && !this.#closed) {
          // Keep the rest and let the poller call onWritable when the socket drains.
          this.wantsWrite = true;
          this.#poller.wake();
          return;
        }
        // Not polled (never started, or closing): nobody would wake us, so drop the rest.
        stats.sendDrops += this.#txCount - start;
        break;
      }
      if (e === EINTR) continue;
      if (e === EBADF) {
        stats.sendErrors += this.#txCount - start;
        break;
      }
      // The first queued datagram was refused (unreachable, bad address): skip just that one.
      stats.sendErrors++;
      this.#txStart++;
    }
    this.#txStart = 0;
    this.#txCount = 0;
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
