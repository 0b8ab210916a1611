/**
 * A Linux TUN interface through Deno FFI: `/dev/net/tun` with IFF_TUN|IFF_NO_PI, non-blocking,
 * served by a {@link Poller} that may be shared with the UDP transport. Addresses and routes are
 * set with the `ip` command.
 *
 * With offloads (the default), the TUN is opened with IFF_VNET_HDR and TUNSETOFFLOAD (partial
 * checksums, TSO for IPv4 and IPv6, USO where the kernel has it): the host hands over TCP and UDP
 * packets of up to 64 KB, which are cut into MTU-sized packets for the sink, and the packets
 * written in one batch (up to `flush()`) go to the kernel with their TCP segments coalesced
 * ({@link TunOffload}). When the kernel refuses, the TUN falls back to one packet per read and
 * write and says so once.
 * @module
 */

import type { PacketDevice, PacketSink, TunDriverStats } from "../../lib/io/driver.ts";
import type { Logger } from "../../lib/log/logger.ts";
import { Cidr } from "../../lib/net/cidr.ts";
import { type DeviceStats, newDeviceStats } from "../shared/stats.ts";
import { TunOffload } from "./tun_offload.ts";
import type { TunOffloadStats } from "../../lib/io/stats.ts";
import {
  IFF_VNET_HDR,
  offloadNames as namesOfOffloads,
  TUN_F_CSUM,
  TUN_F_TSO4,
  TUN_F_TSO6,
  TUN_F_USO4,
  TUN_F_USO6,
  TUNSETOFFLOAD,
  TUNSETVNETHDRSZ,
  VNET_HDR_LEN,
} from "./vnet.ts";
import {
  addressOf,
  EACCES,
  EAGAIN,
  EBADFD,
  EBUSY,
  EINTR,
  ENOBUFS,
  ENOMEM,
  EPERM,
  errno,
  IFF_NO_PI,
  IFF_PERSIST,
  IFF_TUN,
  IFNAMSIZ_MAX,
  IFREQ_SIZE,
  libc,
  O_CLOEXEC,
  O_NONBLOCK,
  O_RDWR,
  sysError,
  TUNGETIFF,
  TUNSETIFF,
  TUNSETPERSIST,
} from "./libc.ts";
import { Poller, type PollHandler } from "./poller.ts";
import { u64 } from "../../lib/io/u64.ts";

/** Options of {@link LinuxTun.open}. */
export interface LinuxTunOptions {
  /** The interface name (at most 15 characters); `weft0` by default. */
  name?: string;
  /** The interface MTU; 1420 by default (1500 less WireGuard's IPv6 overhead). */
  mtu?: number;
  /** A poller to share with other fds (e.g. the UDP transport); by default the TUN makes its own. */
  poller?: Poller;
  /** Called with errors thrown by the sink or met by the device; defaults to `console.error`. */
  onError?: (err: unknown) => void;
  /**
   * Whether to use the kernel's offloads (IFF_VNET_HDR, TUNSETOFFLOAD): large packets read and
   * written, cut and coalesced here. Default true; false forces the plain path.
   */
  offload?: boolean;
  /**
   * The TUN_F_* offloads to ask for; default {@link DEFAULT_OFFLOADS}. When the kernel refuses
   * them, it is asked again without USO, then the TUN falls back to the plain path.
   */
  offloadFlags?: number;
  /** Where the fallback to the plain path is logged (once); default `console.warn`. */
  logger?: Logger;
  /**
   * Called once when the interface is deleted under the open fd (`ip link delete`, as
   * `wg-quick down` does): the kernel detaches the fd, polls report an error and reads and
   * writes fail with EBADFD. Reading stops then; the TUN still needs closing.
   */
  onGone?: () => void;
}

/** Addresses and routes for {@link LinuxTun.configure}. */
export interface TunConfig {
  /** Interface addresses with prefix length, e.g. `10.9.0.1/24`, `fd00::1/64`. */
  addresses?: string[];
  /**
   * Prefixes routed into the interface, e.g. `10.10.0.0/16`, `fd00:1::/48`; host bits are
   * cleared, and a bare address is a host route.
   */
  routes?: string[];
  /**
   * The routing table the routes go into: a number or a name from `/etc/iproute2/rt_tables`.
   * Default: the main table.
   */
  table?: string;
}

/** The default interface name. */
export const DEFAULT_TUN_NAME = "weft0";
/** The default MTU. */
export const DEFAULT_TUN_MTU = 1420;

/** The offloads asked for by default: partial checksums, TSO and USO over IPv4 and IPv6. */
export const DEFAULT_OFFLOADS = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_USO4 | TUN_F_USO6;

/**
 * Packets handed to the sink per readiness round, so a flood from the host cannot starve the
 * other fds (a read is never left half done, so a round may pass it by one read's segments).
 */
const READ_BUDGET = 256;
/** How long to retry TUNSETIFF while a previous holder of the name is still exiting. */
const BUSY_RETRIES = 10;
const BUSY_DELAY_MS = 100;
const NAME_RE = /^[A-Za-z0-9_.-]+$/;

/** A TUN interface; packets the host routes into it go to the sink, `write` hands packets back. */
export class LinuxTun implements PacketDevice, PollHandler {
  /** The interface name. */
  readonly name: string;
  /** The interface MTU. */
  readonly mtu: number;
  /** The TUN fd. */
  readonly fd: number;
  /** Traffic and error counters. */
  readonly stats: DeviceStats = newDeviceStats();
  /** Never set: writes to a TUN do not wait. */
  readonly wantsWrite = false;
  /** The TUN_F_* offloads in force; 0 on the plain path. */
  readonly offload: number;

  readonly #poller: Poller;
  readonly #ownPoller: boolean;
  readonly #onError: (err: unknown) => void;
  readonly #onGone: (() => void) | undefined;
  #gone = false;
  readonly #rx = new Uint8Array(new ArrayBuffer(65536));
  #rxView: Uint8Array = this.#rx;
  #sink: PacketSink | null = null;
  #closed = false;
  #closing: Promise<void> | null = null;
  /** The offload paths, or null on the plain path. */
  readonly #off: TunOffload | null = null;
  /** The address of the offload arena, as a bigint for the FFI's fast call. */
  readonly #arena: bigint = 0n;
  /** The addresses of the arena offsets read or written so far (a few slot starts). */
  readonly #addresses = new Map<number, bigint>();
  /** The offload arena's address as a number, for the iovecs' bases (below 2^53). */
  #arenaBase = 0;
  /** The iovecs of a gathered write, as u32 halves; their address, taken once. */
  #iov: Uint32Array = new Uint32Array(0);
  #iovAddress = 0n;
  #flushQueued = false;
  readonly #flushTask = () => {
    this.#flushQueued = false;
    this.flush();
  };

  private constructor(
    fd: number,
    name: string,
    mtu: number,
    options: LinuxTunOptions,
    offload: number,
  ) {
    this.fd = fd;
    this.name = name;
    this.mtu = mtu;
    this.offload = offload;
    this.#ownPoller = options.poller === undefined;
    this.#poller = options.poller ?? new Poller({ onError: options.onError });
    this.#onError = options.onError ?? ((err) => console.error(`tun ${name}:`, err));
    this.#onGone = options.onGone;
    if (offload !== 0) {
      const stats = this.stats;
      const off = new TunOffload({
        mtu,
        emit: (at, len) => this.#emit(at, len),
        emitv: (ranges, count) => this.#emitv(ranges, count),
        onWritten: (packets, bytes) => {
          stats.packetsOut += packets;
          stats.bytesOut += bytes;
        },
        onWriteError: (packets) => (stats.writeErrors += packets),
        onError: this.#onError,
        // What the device writes here it opened under a peer's AEAD tag (which authenticated
        // every byte the peer's stack checksummed) or built itself: summing each segment's TCP
        // checksum again before merging found nothing the tag had not (about 5 to 9% of a
        // receiving agent's CPU). A segment written alone is still checked by the kernel.
        trustTcpChecksums: true,
      });
      this.#off = off;
      this.#arena = addressOf(off.arena);
      this.#arenaBase = Number(this.#arena);
      // A gathered write has at most a range per queued packet.
      this.#iov = new Uint32Array(new ArrayBuffer(off.queue * 16));
      this.#iovAddress = addressOf(this.#iov.buffer as ArrayBuffer);
    }
  }

  /**
   * A twin of `tun` over `fd` instead of a TUN: the same class, MTU and offloads, so the same
   * code reads and writes it, with no interface (lib/agent/warm_up.ts runs the data path over
   * twins on one end of a socket pair). `fd` must be non-blocking; {@link close} closes it.
   */
  static twin(tun: LinuxTun, fd: number, poller: Poller): LinuxTun {
    // Fields of the same kinds as `tun`'s (a function where it has one), as V8 tracks them.
    const onGone = tun.#onGone === undefined ? undefined : () => {};
    const options = { poller, onError: () => {}, onGone };
    return new LinuxTun(fd, `${tun.name}-twin`, tun.mtu, options, tun.offload);
  }

  /** The offloads in force by name (`tso4`, `uso6`, ...); empty on the plain path. */
  get offloadNames(): string[] {
    return namesOfOffloads(this.offload);
  }

  /** The offload counters, or null on the plain path. */
  get offloadStats(): TunOffloadStats | null {
    return this.#off?.stats ?? null;
  }

  /** The counters and the offloads the kernel granted. */
  driverStats(): TunDriverStats {
    return {
      kind: "tun",
      counters: this.stats,
      offloads: this.offloadNames,
      offload: this.offloadStats,
    };
  }

  /**
   * Creates (or takes over) the TUN interface, sets its MTU and brings it up. A leftover
   * persistent TUN of the same name is reused and cleaned; a leftover of another TUN kind is
   * deleted first. Needs CAP_NET_ADMIN.
   */
  static async open(options: LinuxTunOptions = {}): Promise<LinuxTun> {
    const name = options.name ?? DEFAULT_TUN_NAME;
    if (name.length > IFNAMSIZ_MAX || !NAME_RE.test(name) || name === "." || name === "..") {
      throw new Error(`invalid interface name "${name}" (1-15 of A-Z a-z 0-9 _ . -)`);
    }
    const mtu = options.mtu ?? DEFAULT_TUN_MTU;
    if (!Number.isInteger(mtu) || mtu < 576 || mtu > 65535) {
      throw new Error(`invalid MTU ${mtu} (576-65535)`);
    }
    const c = libc();
    const want = options.offload === false ? 0 : options.offloadFlags ?? DEFAULT_OFFLOADS;
    let fd = openTunFd();
    try {
      let flags = await attach(fd, name, want === 0 ? 0 : IFF_VNET_HDR);
      let offload = 0;
      if (want !== 0) {
        const got = enableOffloads(fd, want);
        if (typeof got === "number") {
          offload = got;
        } else {
          // Refused: start again on the plain path. Closing the fd deletes the interface
          // (unless a leftover persistent one, which is attached again).
          const msg = `TUN offloads refused by the kernel (${got.message}); ` +
            "packets are read and written one by one";
          if (options.logger) options.logger.warn(msg, { interface: name });
          else console.warn(`tun ${name}: ${msg}`);
          c.close(fd);
          fd = -1;
          fd = openTunFd();
          flags = await attach(fd, name, 0);
        }
      }
      if (flags & IFF_PERSIST) {
        // A persistent TUN left by someone else's run: make it ours, so closing deletes it, and
        // drop its stale configuration.
        if (c.ioctl_int(fd, TUNSETPERSIST, 0) < 0) throw sysError("TUNSETPERSIST");
        await ip(["addr", "flush", "dev", name]);
        await ip(["route", "flush", "dev", name], true);
        await ip(["-6", "route", "flush", "dev", name], true);
      }
      await ip(["link", "set", "dev", name, "mtu", String(mtu), "up"]);
      return new LinuxTun(fd, name, mtu, options, offload);
    } catch (err) {
      if (fd >= 0) c.close(fd);
      throw err;
    }
  }

  /**
   * Adds addresses (IPv6 without duplicate detection, so they work at once) and routes; both are
   * idempotent (`replace`), so configure may be called again with more.
   */
  async configure(config: TunConfig): Promise<void> {
    if (this.#closed) throw new Error(`tun ${this.name} is closed`);
    for (const address of config.addresses ?? []) {
      const { family } = checkPrefix(address, "address");
      const args = ["addr", "replace", address, "dev", this.name];
      await ip(family === 6 ? ["-6", ...args, "nodad"] : args);
    }
    const table = config.table === undefined ? [] : ["table", checkTable(config.table)];
    for (const route of config.routes ?? []) {
      const { family, prefix } = networkOf(route);
      await ip([
        family === 6 ? "-6" : "-4",
        "route",
        "replace",
        prefix,
        "dev",
        this.name,
        ...table,
      ]);
    }
  }

  /** Starts reading packets into `sink`. */
  start(sink: PacketSink): void {
    if (this.#closed) throw new Error(`tun ${this.name} is closed`);
    if (this.#sink !== null) throw new Error(`tun ${this.name} already started`);
    this.#sink = sink;
    this.#poller.add(this.fd, this);
  }

  /** Reads packets until EAGAIN or the round budget; called by the poller. */
  onReadable(): boolean {
    const sink = this.#sink;
    if (sink === null || this.#closed) return false;
    if (this.#off !== null) return this.#readOffload(sink, this.#off);
    const c = libc();
    const rx = this.#rx;
    const stats = this.stats;
    let count = 0;
    let busy = true;
    while (count < READ_BUDGET) {
      const n = c.read(this.fd, rx, u64(rx.length));
      if (n < 0) {
        if (this.#readFailed()) continue;
        busy = false;
        break;
      }
      if (n === 0) continue;
      count++;
      let view = this.#rxView;
      if (view.length !== n) view = this.#rxView = rx.subarray(0, n);
      stats.packetsIn++;
      stats.bytesIn += n;
      try {
        // The rest of the read buffer is free until the next read.
        sink.packet(view, rx.length - n);
      } catch (err) {
        this.#onError(err);
      }
      if (this.#closed) return false;
    }
    if (count > 0) {
      try {
        sink.flush();
      } catch (err) {
        this.#onError(err);
      }
    }
    return busy;
  }

  /**
   * A failed read: true when it was interrupted (read again); otherwise the loop stops, and an
   * error other than EAGAIN is counted, reported, and ends polling (EBADFD/EIO: the interface was
   * deleted under us; polling on would spin).
   */
  #readFailed(): boolean {
    const e = errno();
    if (e === EINTR) return true;
    if (e === EAGAIN) return false;
    this.stats.readErrors++;
    if (!this.#closed) void this.#poller.remove(this.fd);
    if (e === EBADFD) this.#interfaceGone();
    else this.#onError(sysError(`read ${this.name}`, e));
    return false;
  }

  /** The interface was deleted under us (EBADFD): said once, to `onGone` or as an error. */
  #interfaceGone(): void {
    if (this.#gone || this.#closed) return;
    this.#gone = true;
    if (this.#onGone === undefined) {
      this.#onError(new Error(`interface ${this.name} was deleted`));
      return;
    }
    try {
      this.#onGone();
    } catch (err) {
      this.#onError(err);
    }
  }

  /** The offload read loop: each read may hold many packets, all handed over before the next. */
  #readOffload(sink: PacketSink, off: TunOffload): boolean {
    const c = libc();
    const stats = this.stats;
    const at = this.#address(off.rxOffset);
    const size = u64(off.rxSize + 1);
    let count = 0;
    let reads = 0;
    let busy = true;
    while (count < READ_BUDGET) {
      const n = c.readAt(this.fd, at, size);
      if (n < 0) {
        if (this.#readFailed()) continue;
        busy = false;
        break;
      }
      if (n === 0) continue;
      reads++;
      const handed = off.handleRead(n, sink);
      count += handed;
      stats.packetsIn += handed;
      stats.bytesIn += off.lastReadBytes;
      if (this.#closed) return false;
    }
    if (reads > 0) {
      try {
        sink.flush();
      } catch (err) {
        this.#onError(err);
      }
    }
    return busy;
  }

  /** Unused: the TUN never asks to wait for writability. */
  onWritable(): void {}

  /**
   * Hands one IP packet to the host; dropped (and counted) if the kernel refuses it. With
   * offloads, the packet is queued (copied) until {@link flush}, which the device calls at the end
   * of each batch; a batch nobody flushes is flushed once the current task ends.
   */
  write(data: Uint8Array): void {
    if (this.#closed) {
      this.stats.writeErrors++;
      return;
    }
    const off = this.#off;
    if (off !== null) {
      off.write(data);
      if (off.queued > 0 && !this.#flushQueued) {
        this.#flushQueued = true;
        queueMicrotask(this.#flushTask);
      }
      return;
    }
    const n = libc().write(this.fd, data, u64(data.length));
    if (n < 0) {
      this.stats.writeErrors++;
      this.#writeFailed(errno());
      return;
    }
    this.stats.packetsOut++;
    this.stats.bytesOut += n;
  }

  /**
   * With offloads, lends the next slot of the write queue to build a packet of at most `max`
   * bytes in (see {@link TunOffload.reserve}); null on the plain path, which writes from the
   * caller's buffer without a copy anyway, and when closed.
   */
  reserve(max: number): Uint8Array | null {
    const off = this.#off;
    return off === null || this.#closed ? null : off.reserve(max);
  }

  /** Queues the first `length` bytes of the slot just reserved, as {@link write} would a copy. */
  commit(length: number): void {
    const off = this.#off;
    if (off === null) throw new Error(`tun ${this.name}: commit without a reserved slot`);
    off.commit(length);
    if (!this.#flushQueued) {
      this.#flushQueued = true;
      queueMicrotask(this.#flushTask);
    }
  }

  /** Writes what {@link write} queued, TCP segments coalesced; nothing on the plain path. */
  flush(): void {
    if (this.#closed) return;
    this.#off?.flush();
  }

  /** Writes `len` bytes of the offload arena from `at`; the offload path counts the result. */
  #emit(at: number, len: number): number {
    const n = libc().writeAt(this.fd, this.#address(at), u64(len));
    if (n < 0) this.#writeFailed(errno());
    return n;
  }

  /** Writes the arena's (offset, length) `ranges` as one writev; the offload path counts it. */
  #emitv(ranges: Int32Array, count: number): number {
    const iov = this.#iov;
    if (count > iov.length / 4) return -1;
    const base = this.#arenaBase;
    for (let k = 0; k < count; k++) {
      const address = base + ranges[2 * k];
      iov[4 * k] = address >>> 0;
      iov[4 * k + 1] = Math.floor(address / 0x1_0000_0000);
      iov[4 * k + 2] = ranges[2 * k + 1];
      iov[4 * k + 3] = 0;
    }
    const n = libc().writevAt(this.fd, this.#iovAddress, count);
    if (n < 0) this.#writeFailed(errno());
    return n;
  }

  /** The address of arena offset `at`, made once per offset. */
  #address(at: number): bigint {
    let a = this.#addresses.get(at);
    if (a === undefined) {
      a = this.#arena + BigInt(at);
      this.#addresses.set(at, a);
    }
    return a;
  }

  #writeFailed(e: number): void {
    if (e === EBADFD) {
      this.#interfaceGone();
      return;
    }
    // A full queue or a malformed packet is a drop, not news.
    if (e !== EAGAIN && e !== ENOBUFS && e !== ENOMEM && e !== 22) {
      this.#onError(sysError(`write ${this.name}`, e));
    }
  }

  /** Stops reading and closes the fd, which deletes the interface and its routes; idempotent. */
  close(): Promise<void> {
    if (this.#closing === null) this.#closing = this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#off?.flush();
    this.#closed = true;
    await this.#poller.remove(this.fd);
    libc().close(this.fd);
    if (this.#ownPoller) await this.#poller.close();
  }
}

/** Said after a refusal for want of privileges; the error keeps its `errno`. */
const PERMISSION_HINT = " (needs root or CAP_NET_ADMIN)";

/** Opens `/dev/net/tun`, non-blocking. */
function openTunFd(): number {
  const fd = libc().open(cstring("/dev/net/tun"), O_RDWR | O_NONBLOCK | O_CLOEXEC, 0);
  if (fd < 0) {
    const e = errno();
    const err = sysError("open /dev/net/tun", e);
    if (e === EACCES || e === EPERM) err.message += PERMISSION_HINT;
    throw err;
  }
  return fd;
}

/**
 * Sets the virtio-net header size and asks for offloads `want`, then for `want` without USO (a
 * kernel before 6.2 has none); returns the offloads granted, or the error of the refusal.
 */
function enableOffloads(fd: number, want: number): number | Error {
  const c = libc();
  const size = new Uint8Array(new Int32Array([VNET_HDR_LEN]).buffer);
  // A leftover persistent TUN may have another size; 10 is the kernel's default.
  if (c.ioctl(fd, TUNSETVNETHDRSZ, size) < 0) return sysError("TUNSETVNETHDRSZ");
  if (c.ioctl_int(fd, TUNSETOFFLOAD, want) === 0) return want;
  let err = sysError("TUNSETOFFLOAD");
  const noUso = want & ~(TUN_F_USO4 | TUN_F_USO6);
  if (noUso !== want && noUso !== 0) {
    if (c.ioctl_int(fd, TUNSETOFFLOAD, noUso) === 0) return noUso;
    err = sysError("TUNSETOFFLOAD");
  }
  return err;
}

/**
 * Attaches `fd` to interface `name` (creating it) with IFF_TUN|IFF_NO_PI and `extraFlags`;
 * returns the interface's TUN flags.
 */
async function attach(fd: number, name: string, extraFlags: number): Promise<number> {
  const c = libc();
  const ifr = new Uint8Array(new ArrayBuffer(IFREQ_SIZE));
  const v = new DataView(ifr.buffer);
  let deleted = false;
  for (let attempt = 0;; attempt++) {
    ifr.fill(0);
    ifr.set(new TextEncoder().encode(name));
    v.setUint16(16, IFF_TUN | IFF_NO_PI | extraFlags, true);
    if (c.ioctl(fd, TUNSETIFF, ifr) === 0) break;
    const e = errno();
    const kind = await linkKind(name);
    if (kind === null) {
      const err = sysError(`TUNSETIFF ${name}`, e);
      if (e === EPERM) err.message += PERMISSION_HINT; // creating an interface: CAP_NET_ADMIN
      throw err;
    }
    if (e === EBUSY) {
      // Another fd holds it: a previous run may still be exiting. Never delete a live device.
      if (attempt < BUSY_RETRIES) {
        await new Promise((r) => setTimeout(r, BUSY_DELAY_MS));
        continue;
      }
      throw new Error(`interface ${name} is in use by another process`);
    }
    if (kind !== "tun" || deleted) {
      throw new Error(
        `${sysError(`TUNSETIFF ${name}`, e).message}: an interface of kind "${kind}" has this name`,
      );
    }
    // A TUN/TAP left with other flags (TAP, multi-queue, vnet header): remove it and retry.
    await ip(["link", "delete", "dev", name]);
    deleted = true;
  }
  if (c.ioctl(fd, TUNGETIFF, ifr) < 0) throw sysError("TUNGETIFF");
  return v.getUint16(16, true);
}

/** The kind of an existing interface (`tun`, `dummy`, `""` for plain devices), or null if none. */
async function linkKind(name: string): Promise<string | null> {
  const out = await new Deno.Command("ip", {
    args: ["-d", "-j", "link", "show", "dev", name],
    stdout: "piped",
    stderr: "null",
  }).output();
  if (!out.success) return null;
  const links = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    linkinfo?: { info_kind?: string };
  }[];
  if (links.length === 0) return null;
  return links[0].linkinfo?.info_kind ?? "";
}

/** Runs `ip` with `args`; throws with its stderr on failure unless `mayFail`. */
async function ip(args: string[], mayFail = false): Promise<void> {
  const out = await new Deno.Command("ip", { args, stdout: "null", stderr: "piped" }).output();
  if (!out.success && !mayFail) {
    const msg = new TextDecoder().decode(out.stderr).trim();
    throw new Error(`ip ${args.join(" ")}: ${msg || `exit ${out.code}`}`);
  }
}

/** Reads `addr[/len]` (a bare address means a host prefix) with the one CIDR parser. */
function checkPrefix(text: string, what: string): Cidr {
  // The text goes to `ip` as given, so it must be exactly the prefix (Cidr.parse trims).
  const c = text.trim() === text ? Cidr.tryParse(text) : null;
  if (c === null) throw new Error(`invalid ${what} "${text}": expected address/prefix-length`);
  return c;
}

/** A routing table as `ip` takes it: a number, or a name (letters, digits, `_.-`). */
function checkTable(table: string): string {
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(table) || /^[-.]/.test(table)) {
    throw new Error(`invalid routing table "${table}"`);
  }
  return table;
}

/** A route's prefix with host bits cleared (`ip route` refuses `10.0.0.1/24`). */
function networkOf(text: string): { family: 4 | 6; prefix: string } {
  const c = checkPrefix(text, "route");
  return { family: c.family, prefix: c.toString() };
}

function cstring(text: string): Uint8Array {
  const bytes = new TextEncoder().encode(text);
  const out = new Uint8Array(new ArrayBuffer(bytes.length + 1));
  out.set(bytes);
  return out;
}
