/**
 * The "no TUN" packet device: a minimal IP endpoint living inside the agent. It answers pings to
 * its overlay addresses, delivers UDP to datagram sockets bound by programs in the same process,
 * and lets those programs send UDP and ping peers through the tunnel without root or a kernel
 * interface.
 *
 * Packets leaving the stack are queued and handed to the sink from a microtask, so the device is
 * never re-entered from inside its own `write` (a reply, or a program answering from a datagram
 * callback, is sent after `write` returns) and several sends become one batch with one `flush()`.
 * @module
 */

import type { PacketDevice, PacketSink } from "../lib/io/driver.ts";
import { Cidr } from "../lib/net/cidr.ts";
import {
  buildIcmpEcho,
  icmpEchoLength,
  type IcmpInfo,
  newIcmpInfo,
  parseIcmp,
} from "../lib/net/icmp.ts";
import {
  bytesEqual,
  formatAddressV4,
  formatAddressV6,
  type IpInfo,
  newIpInfo,
  parseAddress,
  PROTO_ICMP,
  PROTO_ICMPV6,
  PROTO_UDP,
  readUint32,
  readV4Dst,
  V6_DST_OFFSET,
} from "../lib/net/ip.ts";
import { parseIp } from "../lib/net/packet.ts";
import {
  newUdpInfo,
  parseUdp,
  type UdpInfo,
  udpPacketLength,
  writeUdpPacket,
} from "../lib/net/udp.ts";

/** Default MTU, WireGuard's: 1500 minus the largest (IPv6) encapsulation overhead. */
export const DEFAULT_MTU = 1420;
/** Packets queued before `start` beyond this are dropped; after it, a full queue is sent at once. */
const MAX_OUT_QUEUE = 4096;
/**
 * Buffers of sent datagrams kept for the next ones: as many as a turn may queue, so a leader
 * telling its members (2,048 datagrams a turn, lib/mesh/leader/answers.ts) makes no new buffer
 * once warm. A stack keeps only what one turn used (a member, a few).
 */
const MAX_SPARE = MAX_OUT_QUEUE;
/** Destination addresses `send` keeps parsed. */
const MAX_DESTINATIONS = 65_536;
/** Datagrams buffered per `listenIterator` beyond this are dropped. */
const DEFAULT_ITERATOR_QUEUE = 256;
const EPHEMERAL_LOW = 49152;

/** An overlay UDP address. */
export interface UdpAddress {
  /** IPv4 or IPv6 address text. */
  readonly address: string;
  /** UDP port. */
  readonly port: number;
}

/** A datagram received by a socket. */
export interface Datagram {
  /** The UDP payload (a copy the receiver owns). */
  readonly data: Uint8Array;
  /** Who sent it. */
  readonly from: UdpAddress;
}

/** Why the stack dropped an incoming packet. */
export type UserspaceDropReason =
  | "not-for-us"
  | "malformed"
  | "no-listener"
  | "fragment"
  | "unsupported"
  | "stray-reply"
  | "queue-full"
  | "closed"
  | "tx-error";

/** Counters kept by the stack. */
export interface UserspaceStats {
  /** Packets written to the stack from the tunnel (and looped back from itself). */
  rxPackets: number;
  /** Bytes of those packets. */
  rxBytes: number;
  /** Packets handed to the sink. */
  txPackets: number;
  /** Bytes of those packets. */
  txBytes: number;
  /** Echo requests for our addresses received. */
  echoRequests: number;
  /** Echo replies sent in answer. */
  echoReplies: number;
  /** Echo requests sent by `ping`. */
  pingsSent: number;
  /** Matching echo replies received for them. */
  pingReplies: number;
  /** UDP datagrams delivered to sockets. */
  udpDelivered: number;
  /** UDP datagrams sent by programs. */
  udpSent: number;
  /** Exceptions thrown by datagram callbacks (reported through `onError`). */
  listenerErrors: number;
  /** Dropped packets by reason. */
  drops: Record<UserspaceDropReason, number>;
}

/** How to build a `UserspaceStack`. */
export interface UserspaceStackOptions {
  /** Our IPv4 overlay address (`10.0.0.1` or `10.0.0.1/24`; the prefix is ignored). */
  ipv4?: string;
  /** Our IPv6 overlay address, optional. */
  ipv6?: string;
  /** Largest IP packet carried; default 1420. */
  mtu?: number;
  /** Device label; default `userspace`. */
  name?: string;
  /** Receives exceptions from datagram callbacks and the sink; default `console.error`. */
  onError?: (error: unknown) => void;
}

/** Options of `ping`. */
export interface PingOptions {
  /** How long to wait for the reply; default 1000 ms. */
  timeoutMs?: number;
  /** Bytes of echo data; default 56, as ping(8). */
  size?: number;
}

/** A bound datagram socket. */
export interface UdpSocket {
  /** The bound local port. */
  readonly port: number;
  /** Sends `data` to `to` from this socket's port; see `UserspaceStack.send`. */
  send(to: UdpAddress, data: Uint8Array): void;
  /** Unbinds the port; idempotent. */
  close(): void;
}

/** A bound socket read as an async iterator; `close()` (or `return()`) ends the iteration. */
export interface DatagramIterator extends AsyncIterableIterator<Datagram> {
  /** The bound local port. */
  readonly port: number;
  /** Sends `data` to `to` from this socket's port. */
  send(to: UdpAddress, data: Uint8Array): void;
  /** Unbinds the port and ends the iteration; idempotent. */
  close(): void;
}

interface PendingPing {
  readonly target: Uint8Array;
  readonly data: Uint8Array;
  readonly start: number;
  readonly resolve: (rtt: number | null) => void;
  readonly timer: ReturnType<typeof setTimeout>;
}

type Receiver = (data: Uint8Array, from: UdpAddress) => void;

function newDrops(): Record<UserspaceDropReason, number> {
  return {
    "not-for-us": 0,
    "malformed": 0,
    "no-listener": 0,
    "fragment": 0,
    "unsupported": 0,
    "stray-reply": 0,
    "queue-full": 0,
    "closed": 0,
    "tx-error": 0,
  };
}

function parseOwnAddress(text: string, family: 4 | 6): Uint8Array {
  const c = Cidr.tryParse(text);
  if (c === null || c.family !== family) {
    throw new Error(`invalid IPv${family} address for the userspace stack: "${text}"`);
  }
  return c.address;
}

function checkPort(port: number, what: string, allowZero: boolean): void {
  if (!Number.isInteger(port) || port < (allowZero ? 0 : 1) || port > 0xffff) {
    throw new RangeError(`${what} port ${port} is not an integer in ${allowZero ? 0 : 1}-65535`);
  }
}

/** A userspace IP endpoint standing in for a TUN device. */
export class UserspaceStack implements PacketDevice {
  /** The device label. */
  readonly name: string;
  /** The largest IP packet this stack sends. */
  readonly mtu: number;
  /** Counters; read freely, the stack only increments them. */
  readonly stats: UserspaceStats = {
    rxPackets: 0,
    rxBytes: 0,
    txPackets: 0,
    txBytes: 0,
    echoRequests: 0,
    echoReplies: 0,
    pingsSent: 0,
    pingReplies: 0,
    udpDelivered: 0,
    udpSent: 0,
    listenerErrors: 0,
    drops: newDrops(),
  };

  readonly #v4: Uint8Array | null;
  readonly #v4u32: number;
  readonly #v6: Uint8Array | null;
  readonly #onError: (error: unknown) => void;
  #sink: PacketSink | null = null;
  #closed = false;
  // The queue: packets [0, #outCount) of #out, each in the stack's buffer #outBufs[i] (null: not
  // the stack's to reuse). The arrays keep their length from drain to drain (a leader's turn
  // queues thousands): a drain hands them to the next one as #idle*, rather than making new.
  #out: Uint8Array[] = [];
  #outBufs: (OutBuffer | null)[] = [];
  #outCount = 0;
  #idleOut: Uint8Array[] | null = [];
  #idleBufs: (OutBuffer | null)[] | null = [];
  // Buffers of sent packets, for the next ones (at most MAX_SPARE).
  readonly #spare: OutBuffer[] = [];
  #drainScheduled = false;
  readonly #listeners = new Map<number, Receiver>();
  readonly #closers = new Map<number, () => void>();
  #nextEphemeral: number;
  readonly #defaultPort: number;
  readonly #pingId: number;
  #pingSeq: number;
  readonly #pings = new Map<number, PendingPing>();
  // Parsed destination addresses of `send` (bounded: MAX_DESTINATIONS, then started over).
  readonly #destinations = new Map<string, Uint8Array>();
  // Scratch records reused by every `write`, so parsing allocates nothing.
  readonly #ip: IpInfo = newIpInfo();
  readonly #udp: UdpInfo = newUdpInfo();
  readonly #icmp: IcmpInfo = newIcmpInfo();

  /** A stack with the given overlay addresses; at least one of `ipv4` and `ipv6` is required. */
  constructor(options: UserspaceStackOptions) {
    const mtu = options.mtu ?? DEFAULT_MTU;
    if (options.ipv4 === undefined && options.ipv6 === undefined) {
      throw new Error("the userspace stack needs an IPv4 or IPv6 address");
    }
    this.#v4 = options.ipv4 === undefined ? null : parseOwnAddress(options.ipv4, 4);
    this.#v4u32 = this.#v4 === null ? -1 : readUint32(this.#v4, 0);
    this.#v6 = options.ipv6 === undefined ? null : parseOwnAddress(options.ipv6, 6);
    const minMtu = this.#v6 === null ? 576 : 1280;
    if (!Number.isInteger(mtu) || mtu < minMtu || mtu > 65535) {
      throw new RangeError(`MTU ${mtu} is not an integer in ${minMtu}-65535`);
    }
    this.mtu = mtu;
    this.name = options.name ?? "userspace";
    this.#onError = options.onError ?? ((e) => console.error("userspace stack:", e));
    const rnd = new Uint16Array(3);
    crypto.getRandomValues(rnd);
    this.#pingId = rnd[0];
    this.#pingSeq = rnd[1];
    this.#nextEphemeral = EPHEMERAL_LOW + (rnd[2] % (65536 - EPHEMERAL_LOW));
    this.#defaultPort = this.#nextEphemeral;
  }

  /** Our IPv4 address as text, or null. */
  get ipv4(): string | null {
    return this.#v4 === null ? null : formatAddressV4(this.#v4);
  }

  /** Our IPv6 address as text, or null. */
  get ipv6(): string | null {
    return this.#v6 === null ? null : formatAddressV6(this.#v6);
  }

  /** Starts handing outgoing packets to `sink`; anything queued before is sent now. */
  start(sink: PacketSink): void {
    if (this.#sink !== null) throw new Error(`${this.name}: start() called twice`);
    if (this.#closed) throw new Error(`${this.name}: start() after close()`);
    this.#sink = sink;
    if (this.#outCount > 0) this.#schedule();
  }

  /** Handles one IP packet arriving from the tunnel. */
  write(data: Uint8Array): void {
    const stats = this.stats;
    stats.rxPackets++;
    stats.rxBytes += data.length;
    if (this.#closed) return this.#drop("closed");
    const ip = parseIp(data, this.#ip);
    if (ip === null) return this.#drop("malformed");
    if (!this.#isLocal(data, ip.version)) return this.#drop("not-for-us");
    if (ip.fragment) return this.#drop("fragment");
    if (ip.protocol === PROTO_UDP) return this.#onUdp(data, ip);
    if (ip.protocol === (ip.version === 4 ? PROTO_ICMP : PROTO_ICMPV6)) {
      return this.#onIcmp(data, ip);
    }
    this.#drop("unsupported");
  }

  /** Stops the stack: unbinds sockets, ends iterators, resolves pending pings with null. */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    this.#sink = null;
    this.#out = [];
    this.#outBufs = [];
    this.#outCount = 0;
    this.#idleOut = this.#idleBufs = null;
    this.#spare.length = 0;
    for (const close of [...this.#closers.values()]) close();
    this.#listeners.clear();
    for (const p of this.#pings.values()) {
      clearTimeout(p.timer);
      p.resolve(null);
    }
    this.#pings.clear();
    return Promise.resolve();
  }

  /**
   * Binds `port` (0 picks a free ephemeral port) and calls `onDatagram` for each UDP datagram
   * addressed to it. Throws if the port is taken.
   */
  listen(port: number, onDatagram: (data: Uint8Array, from: UdpAddress) => void): UdpSocket {
    // A fresh closure per binding, so closing a stale socket can't unbind a later one.
    const receive: Receiver = (data, from) => onDatagram(data, from);
    const bound = this.#bind(port, receive);
    const socket: UdpSocket = {
      port: bound,
      send: (to, data) => this.send(to, data, bound),
      close: () => this.#unbind(bound, receive),
    };
    this.#closers.set(bound, socket.close);
    return socket;
  }

  /**
   * Binds `port` like `listen` and yields its datagrams as an async iterator. At most `maxQueue`
   * datagrams wait to be read; more are dropped as `queue-full`.
   */
  listenIterator(port: number, maxQueue: number = DEFAULT_ITERATOR_QUEUE): DatagramIterator {
    const queue: Datagram[] = [];
    const waiters: Array<(r: IteratorResult<Datagram>) => void> = [];
    let done = false;
    const receive: Receiver = (data, from) => {
      const waiter = waiters.shift();
      if (waiter !== undefined) waiter({ value: { data, from }, done: false });
      else if (queue.length < maxQueue) queue.push({ data, from });
      else this.#drop("queue-full");
    };
    const bound = this.#bind(port, receive);
    const close = (): void => {
      if (done) return;
      done = true;
      this.#unbind(bound, receive);
      for (const w of waiters.splice(0)) w({ value: undefined, done: true });
    };
    this.#closers.set(bound, close);
    const it: DatagramIterator = {
      port: bound,
      send: (to, data) => this.send(to, data, bound),
      close,
      next(): Promise<IteratorResult<Datagram>> {
        const d = queue.shift();
        if (d !== undefined) return Promise.resolve({ value: d, done: false });
        if (done) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => waiters.push(resolve));
      },
      return(): Promise<IteratorResult<Datagram>> {
        close();
        queue.length = 0;
        return Promise.resolve({ value: undefined, done: true });
      },
      [Symbol.asyncIterator](): DatagramIterator {
        return it;
      },
    };
    return it;
  }

  /**
   * Sends `data` as one UDP datagram to `to` through the tunnel (IPv4 or IPv6 by the destination),
   * from `fromPort` or this stack's default ephemeral port, with no UDP checksum over IPv4 (see
   * the body). `data` may be reused after return.
   * Throws when closed, on a bad address or port, when we have no address of that family, or when
   * the packet would exceed the MTU.
   */
  send(to: UdpAddress, data: Uint8Array, fromPort?: number): void {
    this.sendTo(to.address, to.port, data, fromPort);
  }

  /** {@link send} to `address` and `port` (no address object a datagram: a leader sends many). */
  sendTo(address: string, port: number, data: Uint8Array, fromPort?: number): void {
    if (this.#closed) throw new Error(`${this.name}: send() after close()`);
    const dst = this.#destination(address);
    checkPort(port, "destination", false);
    const srcPort = fromPort ?? this.#defaultPort;
    checkPort(srcPort, "source", false);
    const src = this.#sourceFor(dst);
    const total = udpPacketLength(dst.length, data.length);
    if (total > this.mtu) {
      const room = this.mtu - (total - data.length);
      throw new RangeError(
        `UDP payload of ${data.length} bytes makes a ${total}-byte IPv${
          dst.length === 4 ? 4 : 6
        } packet, over the MTU of ${this.mtu} (at most ${room} bytes fit)`,
      );
    }
    // Built in a buffer of the stack's own, taken back once the sink has sealed it (a sink's
    // packet is valid only during its call): a leader sends thousands a second. Over IPv4 with
    // no UDP checksum: every packet the stack sends is sealed into the tunnel (the AEAD covers
    // each byte from this device to the peer's) or looped back, so the sum would check nothing,
    // and it was the costliest step of a leader's control datagram here (a 1,200-byte view
    // part's sum took longer than building the rest of its packet); receivers skip a zero sum.
    const out = this.#spare.pop() ?? new OutBuffer(this.mtu);
    const len = writeUdpPacket(out.buf, src, dst, srcPort, port, data, 64, false);
    this.#enqueue(out.packet(len), out);
    this.stats.udpSent++;
  }

  /**
   * Sends an ICMP echo request to `address` through the tunnel and resolves with the round-trip
   * time in milliseconds when the matching reply arrives, or null on timeout or close. Rejects on
   * a bad address, a missing address of that family, or a size over the MTU.
   */
  ping(address: string, options: PingOptions = {}): Promise<number | null> {
    try {
      return this.#ping(address, options);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  #ping(address: string, options: PingOptions): Promise<number | null> {
    if (this.#closed) throw new Error(`${this.name}: ping() after close()`);
    const timeoutMs = options.timeoutMs ?? 1000;
    const size = options.size ?? 56;
    const target = parseAddress(address);
    if (target === null) throw new Error(`invalid address "${address}"`);
    const src = this.#sourceFor(target);
    if (!Number.isInteger(size) || size < 0) throw new RangeError(`ping size ${size} is invalid`);
    const total = icmpEchoLength(target.length, size);
    if (total > this.mtu) {
      throw new RangeError(
        `ping of ${size} bytes makes a ${total}-byte packet, over the MTU of ${this.mtu}`,
      );
    }
    if (this.#pings.size >= 0x10000) throw new Error("too many pings in flight");
    let seq = this.#pingSeq;
    do seq = (seq + 1) & 0xffff; while (this.#pings.has(seq));
    this.#pingSeq = seq;
    const data = new Uint8Array(size);
    crypto.getRandomValues(data);
    const packet = buildIcmpEcho(src, target, true, this.#pingId, seq, data);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#pings.delete(seq);
        resolve(null);
      }, timeoutMs);
      this.#pings.set(seq, { target, data, start: performance.now(), resolve, timer });
      this.stats.pingsSent++;
      this.#enqueue(packet);
    });
  }

  /** Echo requests of `ping` awaiting their reply (a device in front checks this first). */
  get pingsPending(): number {
    return this.#pings.size;
  }

  /**
   * Whether `packet` (its first `length` bytes) is the echo reply to one of our pending pings:
   * to our address, with our echo id and a pending sequence number. A device in front of a TUN
   * asks this, only while {@link pingsPending}, to take the replies to the control stack's pings
   * before they reach the kernel, which sent no such request.
   */
  isPingReply(packet: Uint8Array, length: number): boolean {
    const data = length === packet.length ? packet : packet.subarray(0, length);
    const ip = parseIp(data, this.#ip);
    if (ip === null || ip.fragment || !this.#isLocal(data, ip.version)) return false;
    const icmp = parseIcmp(data, ip, this.#icmp, false);
    return icmp !== null && icmp.echo && !icmp.request && icmp.id === this.#pingId &&
      this.#pings.has(icmp.seq);
  }

  /** A destination's bytes, parsed once per address (a leader sends to thousands, often). */
  #destination(address: string): Uint8Array {
    let dst = this.#destinations.get(address);
    if (dst === undefined) {
      const parsed = parseAddress(address);
      if (parsed === null) throw new Error(`invalid destination address "${address}"`);
      if (this.#destinations.size >= MAX_DESTINATIONS) this.#destinations.clear();
      this.#destinations.set(address, dst = parsed);
    }
    return dst;
  }

  #sourceFor(dst: Uint8Array): Uint8Array {
    const src = dst.length === 4 ? this.#v4 : this.#v6;
    if (src === null) {
      throw new Error(`${this.name} has no IPv${dst.length === 4 ? 4 : 6} address`);
    }
    return src;
  }

  #isLocal(packet: Uint8Array, version: number): boolean {
    if (version === 4) return this.#v4 !== null && readV4Dst(packet) === this.#v4u32;
    return this.#v6 !== null && bytesEqual(packet, V6_DST_OFFSET, this.#v6, 0, 16);
  }

  #drop(reason: UserspaceDropReason): void {
    this.stats.drops[reason]++;
  }

  #onUdp(data: Uint8Array, ip: IpInfo): void {
    const udp = parseUdp(data, ip, this.#udp);
    if (udp === null) return this.#drop("malformed");
    const receive = this.#listeners.get(udp.dstPort);
    if (receive === undefined) return this.#drop("no-listener");
    const payload = data.slice(udp.payloadOffset, udp.payloadOffset + udp.payloadLength);
    const from: UdpAddress = {
      address: ip.version === 4
        ? formatAddressV4(data, ip.srcOffset)
        : formatAddressV6(data, ip.srcOffset),
      port: udp.srcPort,
    };
    this.stats.udpDelivered++;
    try {
      receive(payload, from);
    } catch (e) {
      this.stats.listenerErrors++;
      this.#onError(e);
    }
  }

  #onIcmp(data: Uint8Array, ip: IpInfo): void {
    const icmp = parseIcmp(data, ip, this.#icmp);
    if (icmp === null) return this.#drop("malformed");
    if (!icmp.echo) return this.#drop("unsupported");
    const len = ip.addressLength;
    if (icmp.request) {
      this.stats.echoRequests++;
      const us = data.subarray(ip.dstOffset, ip.dstOffset + len);
      const them = data.subarray(ip.srcOffset, ip.srcOffset + len);
      const echo = data.subarray(icmp.dataOffset, icmp.dataOffset + icmp.dataLength);
      this.#enqueue(buildIcmpEcho(us, them, false, icmp.id, icmp.seq, echo));
      this.stats.echoReplies++;
      return;
    }
    const pending = icmp.id === this.#pingId ? this.#pings.get(icmp.seq) : undefined;
    if (
      pending === undefined ||
      !bytesEqual(data, ip.srcOffset, pending.target, 0, len) ||
      icmp.dataLength !== pending.data.length ||
      !bytesEqual(data, icmp.dataOffset, pending.data, 0, icmp.dataLength)
    ) {
      return this.#drop("stray-reply");
    }
    this.#pings.delete(icmp.seq);
    clearTimeout(pending.timer);
    this.stats.pingReplies++;
    pending.resolve(performance.now() - pending.start);
  }

  #bind(port: number, receive: Receiver): number {
    if (this.#closed) throw new Error(`${this.name}: listen() after close()`);
    checkPort(port, "local", true);
    if (port === 0) port = this.#freePort();
    if (this.#listeners.has(port)) throw new Error(`${this.name}: UDP port ${port} is in use`);
    this.#listeners.set(port, receive);
    return port;
  }

  #unbind(port: number, receive: Receiver): void {
    if (this.#listeners.get(port) !== receive) return;
    this.#listeners.delete(port);
    this.#closers.delete(port);
  }

  #freePort(): number {
    const span = 65536 - EPHEMERAL_LOW;
    for (let i = 0; i < span; i++) {
      const p = this.#nextEphemeral;
      this.#nextEphemeral = p === 65535 ? EPHEMERAL_LOW : p + 1;
      if (!this.#listeners.has(p) && p !== this.#defaultPort) return p;
    }
    throw new Error(`${this.name}: no free ephemeral UDP port`);
  }

  /** Queues a packet towards the tunnel; `buf`: the stack's buffer it lies in, to reuse. */
  #enqueue(packet: Uint8Array, buf: OutBuffer | null = null): void {
    if (this.#outCount >= MAX_OUT_QUEUE) {
      // A burst from this process (a leader answering many members in one turn) goes out now
      // rather than being lost; only with nowhere to send (before `start`) is the queue bounded.
      if (this.#sink === null) return this.#drop("queue-full");
      this.#drain();
    }
    const i = this.#outCount++;
    this.#out[i] = packet;
    this.#outBufs[i] = buf;
    if (this.#sink !== null) this.#schedule();
  }

  #schedule(): void {
    if (this.#drainScheduled) return;
    this.#drainScheduled = true;
    queueMicrotask(this.#drain);
  }

  readonly #drain = (): void => {
    this.#drainScheduled = false;
    const sink = this.#sink;
    const count = this.#outCount;
    if (sink === null || count === 0) return;
    const batch = this.#out;
    const bufs = this.#outBufs;
    // What is sent meanwhile (a listener answering a packet looped back below) queues in the
    // other pair of arrays; a drain within this one (that queue full) takes a new pair.
    this.#out = this.#idleOut ?? [];
    this.#outBufs = this.#idleBufs ?? [];
    this.#idleOut = this.#idleBufs = null;
    this.#outCount = 0;
    let sent = 0;
    for (let i = 0; i < count; i++) {
      const packet = batch[i];
      const buf = bufs[i];
      // Our own address: loop back instead of sending into the tunnel, like a kernel's `lo`.
      const v = packet[0] >> 4;
      if (this.#isLocal(packet, v)) {
        this.write(packet);
        continue;
      }
      try {
        // No room offered to pad in place: the device keeps its views per packet object, and
        // a buffer's packet view changes with its length (a push's length is new each push);
        // it copies the packet into its send slot instead.
        sink.packet(packet);
        this.stats.txPackets++;
        this.stats.txBytes += packet.length;
        sent++;
      } catch (e) {
        this.#drop("tx-error");
        this.#onError(e);
      }
      if (buf !== null && this.#spare.length < MAX_SPARE) this.#spare.push(buf);
    }
    this.#idleOut = batch;
    this.#idleBufs = bufs;
    if (sent > 0) sink.flush();
  };
}

/** Packet lengths an {@link OutBuffer} keeps a view of. */
const OUT_VIEWS = 4;

/**
 * A buffer of the stack's own for an outgoing packet, with views of its first bytes for the
 * last {@link OUT_VIEWS} packet lengths it held: a turn's datagrams come in a few lengths (a
 * push's, a view's parts, a member's own part), so a packet needs no new view object each.
 */
class OutBuffer {
  readonly buf: Uint8Array;
  readonly #views: Uint8Array[] = [];
  #next = 0;

  constructor(mtu: number) {
    this.buf = new Uint8Array(mtu);
  }

  /** The buffer's first `len` bytes. */
  packet(len: number): Uint8Array {
    const views = this.#views;
    for (let i = 0; i < views.length; i++) if (views[i].length === len) return views[i];
    const v = this.buf.subarray(0, len);
    if (views.length < OUT_VIEWS) views.push(v);
    else {
      views[this.#next] = v;
      this.#next = (this.#next + 1) % OUT_VIEWS;
    }
    return v;
  }
}
