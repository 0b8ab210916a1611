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
import { DEFAULT_ENDPOINT_LIMIT, EndpointTable } from "../shared/endpoint.ts";
import {
  newOffloadStats,
  newTransportStats,
  type OffloadStats,
  type TransportStats,
} from "../shared/stats.ts";
import { libc, O_CLOEXEC, sysError } from "./libc.ts";
import { Poller, type PollHandler } from "./poller.ts";
import { openUdpSocket, setSocketMark } from "./udp_socket.ts";
import { UdpReceiver } from "./udp_recv.ts";
import { UdpSender } from "./udp_send.ts";

// Each poller waits in a poll(2) on one of Deno's blocking threads, a pool of a few dozen shared
// by every non-blocking FFI call and file operation: a process with a transport each for more
// joins or agents than that had the rest wait forever. Transports that bring no poller share
// this one; it runs while it has fds and stops by itself when the last is removed.
let shared: Poller | null = null;

function processPoller(): Poller {
  return shared ??= new Poller({ onError: (err) => console.error("udp poller:", err) });
}

/** Options of {@link LinuxUdpTransport.open}. */
export interface LinuxUdpOptions {
  /** The local port; 0 picks an ephemeral one. */
  port: number;
  /** A local IP literal; by default `::` dual-stack, or `0.0.0.0` without IPv6. */
  hostname?: string;
  /**
   * A poller to share with other fds (e.g. a TUN); by default the process's shared one, so that
   * any number of transports wait in one blocking thread (Deno's pool of them is small).
   */
  poller?: Poller;
  /** Datagrams per recvmmsg/sendmmsg call (64 by default). */
  batch?: number;
  /**
   * Datagrams the send queue holds, so the most per sendmmsg; `batch` by default. With GSO, a
   * queue of 64 flushed as a full one holds one whole run of 45 MTU-sized datagrams and a part
   * of the next (a TSO read from a TUN is about 47 of them), so its runs average about 30; with
   * room for several whole runs a run ends only where the sender flushes (35 on average under
   * iperf3 in the network lab: docs/performance.md).
   */
  sendBatch?: number;
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

/** The counters of a {@link LinuxUdpTransport}: the common ones and its offload's. */
export type LinuxUdpStats = TransportStats & OffloadStats;

/**
 * A {@link Transport} on a non-blocking FFI UDP socket, batched with recvmmsg/sendmmsg: the socket
 * is opened in udp_socket.ts, read by a {@link UdpReceiver} (udp_recv.ts) and written by a
 * {@link UdpSender} (udp_send.ts); this class ties them to the poller.
 */
export class LinuxUdpTransport implements Transport, PollHandler {
  /** Always `udp`. */
  readonly name = "udp";
  /** 6 for a dual-stack (or IPv6) socket, 4 for an IPv4-only one. */
  readonly family: 4 | 6;
  /** The socket's fd (the same number after {@link rebind}). */
  readonly fd: number;
  /** Traffic and error counters, with the GSO/GRO ones. */
  readonly stats: LinuxUdpStats = { ...newTransportStats(), ...newOffloadStats() };

  #port: number;
  #fwMark: number;
  readonly #options: LinuxUdpOptions;
  readonly #poller: Poller;
  readonly #table: EndpointTable;
  readonly #onError: (err: unknown) => void;
  readonly #gro: boolean;
  readonly #rx: UdpReceiver;
  readonly #tx: UdpSender;
  #sink: DatagramSink | null = null;
  #closed = false;
  #closing: Promise<void> | null = null;

  private constructor(
    fd: number,
    family: 4 | 6,
    port: number,
    options: LinuxUdpOptions,
    offload: { gso: boolean; gro: boolean; stamps: boolean },
  ) {
    this.fd = fd;
    this.family = family;
    this.#port = port;
    this.#fwMark = options.fwMark ?? 0;
    this.#options = options;
    this.#gro = offload.gro;
    const poller = this.#poller = options.poller ?? processPoller();
    const table = this.#table = new EndpointTable(
      options.endpointLimit ?? DEFAULT_ENDPOINT_LIMIT,
      "udp",
      this.stats,
    );
    const onError = this.#onError = options.onError ?? ((err) => console.error("udp:", err));
    const batch = Math.max(1, Math.min(1024, options.batch ?? 64));
    const stats = this.stats;
    this.#rx = new UdpReceiver({
      fd,
      family,
      batch,
      maxDatagram: options.maxDatagram,
      gro: offload.gro,
      stamps: offload.stamps,
      stats,
      table,
      onError,
      fail: (err) => this.#fail(err),
      isClosed: () => this.#closed,
    });
    this.#tx = new UdpSender({
      fd,
      family,
      batch: Math.max(1, Math.min(1024, options.sendBatch ?? batch)),
      gso: offload.gso,
      gsoFaults: options.gsoFaults,
      stats,
      table,
      // Not polled (never started, or closing): nobody would wake us, so a full socket drops.
      polled: () => this.#sink !== null && !this.#closed,
      wake: () => poller.wake(),
    });
  }

  /** Opens and binds a non-blocking UDP socket (dual-stack unless `hostname` says otherwise). */
  // deno-lint-ignore require-await
  static async open(options: LinuxUdpOptions): Promise<LinuxUdpTransport> {
    const s = openUdpSocket(options);
    return new LinuxUdpTransport(s.fd, s.family, s.port, options, s);
  }

  /** The bound local port. */
  get port(): number {
    return this.#port;
  }

  /** The socket's firewall mark (SO_MARK); 0 for none. */
  get fwMark(): number {
    return this.#fwMark;
  }

  /**
   * Moves the transport to local port `port` (0: one the kernel picks), as `wg set listen-port`
   * does: a new socket is bound with the same address, buffers, mark and offloads and put in
   * place of the old one under the same fd (dup3), so the poller, the endpoints and the queues
   * carry on; what was queued is flushed to the old socket first. When the new one cannot be
   * bound (the port is taken: EADDRINUSE) it throws and the old socket stays as it was.
   */
  rebind(port: number): void {
    if (this.#closed) throw new Error("udp transport is closed");
    const next = openUdpSocket({
      ...this.#options,
      port,
      fwMark: this.#fwMark,
      gro: this.#gro,
    });
    const c = libc();
    try {
      if (next.family !== this.family) {
        throw new Error(`the new socket is IPv${next.family}, the old one IPv${this.family}`);
      }
      if (next.gro !== this.#gro) throw new Error("the new socket's UDP GRO differs");
      this.#tx.flush();
      if (c.dup3(next.fd, this.fd, O_CLOEXEC) < 0) throw sysError("dup3");
    } finally {
      c.close(next.fd);
    }
    this.#port = next.port;
    // A poll in flight waits on the old socket: wake it to poll the new one.
    this.#poller.wake();
  }

  /**
   * Sets the firewall mark (SO_MARK) of every datagram sent from now on, as `wg set fwmark`
   * (0: none); throws, with the mark unchanged, when the kernel refuses it (CAP_NET_ADMIN).
   */
  setFwMark(mark: number): void {
    if (this.#closed) throw new Error("udp transport is closed");
    setSocketMark(this.fd, mark);
    this.#fwMark = mark;
  }

  /** Whether sends use UDP GSO now (false when forced off, unsupported, or turned off by EIO). */
  get gso(): boolean {
    return this.#tx.gso;
  }

  /** Whether the socket takes coalesced receives (UDP GRO). */
  get gro(): boolean {
    return this.#gro;
  }

  /** Whether a flush met EAGAIN and waits for the socket to become writable. */
  get wantsWrite(): boolean {
    return this.#tx.wantsWrite;
  }

  /** Marks the socket as full (the poller then waits for it to become writable), or not. */
  set wantsWrite(value: boolean) {
    this.#tx.wantsWrite = value;
  }

  /** The counters and the offloads as they are now. */
  driverStats(): UdpDriverStats {
    return { kind: "udp", counters: this.stats, offloads: { gso: this.gso, gro: this.#gro } };
  }

  /** Starts reading; datagrams go to `sink` in batches, each batch followed by `flush()`. */
  start(sink: DatagramSink): void {
    if (this.#closed) throw new Error("udp transport is closed");
    if (this.#sink !== null) throw new Error("udp transport already started");
    this.#sink = sink;
    this.#poller.add(this.fd, this);
  }

  /**
   * Reads batches until EAGAIN, the round budget, or `yieldNow` says the event loop is owed a
   * turn; called by the poller.
   */
  onReadable(yieldNow?: () => boolean): boolean {
    const sink = this.#sink;
    if (sink === null || this.#closed) return false;
    return this.#rx.read(sink, yieldNow);
  }

  /** Flushes what waited for the socket to become writable; called by the poller. */
  onWritable(): void {
    this.#tx.writable();
  }

  /**
   * Queues one datagram (copied: `data` may be reused on return); `flush()` sends the queue.
   * With GSO, a datagram to the endpoint of the last queued message, no longer than that
   * message's first, joins it (until a shorter one ends the run, or the kernel's limits).
   */
  send(data: Uint8Array, to: Endpoint, tos?: number): void {
    this.#tx.send(data, to, tos);
  }

  /**
   * Lends the next queue slot (2,048 bytes, the same object every time for a slot) to build a
   * datagram of at most `max` bytes to `to` in; null when `max` is larger than a slot, the queue
   * is full even after a flush, the transport is closed, or `to` cannot be reached from this
   * socket: `send` then handles (and counts) the datagram. Until {@link commit}, the slot is not
   * queued: a later `reserve`, `send` or `flush` forgets it.
   */
  reserve(max: number, to: Endpoint): Uint8Array | null {
    return this.#tx.reserve(max, to);
  }

  /**
   * Queues the first `length` bytes of the slot {@link reserve} lent, to `to`, as `send` would
   * queue a copy of them. Throws when no slot is lent (none reserved, or forgotten since).
   */
  commit(length: number, to: Endpoint, tos?: number): void {
    this.#tx.commit(length, to, tos);
  }

  /** Sends a run of datagrams from the caller's buffer at once: see {@link UdpSender.sendRun}. */
  sendRun(data: Uint8Array, length: number, size: number, to: Endpoint): boolean {
    return this.#tx.sendRun(data, length, size, to);
  }

  /**
   * Sends the queue with one sendmmsg (more only after a partial send or an error); on EAGAIN
   * keeps the rest and waits for writability.
   */
  flush(): void {
    this.#tx.flush();
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
    this.#tx.close();
    await this.#poller.remove(this.fd);
    libc().close(this.fd);
  }
}
