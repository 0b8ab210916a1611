/**
 * Opening the Linux UDP transport's socket (drivers/linux/udp.ts): non-blocking, bound,
 * dual-stack unless bound to an IPv4 address, with its buffer sizes, firewall mark and the
 * UDP offloads (GSO, GRO) the kernel grants probed once.
 * @module
 */

import { parseAddressWords } from "../../lib/net/ip.ts";
import {
  AF_INET,
  AF_INET6,
  EAFNOSUPPORT,
  EPERM,
  errno,
  IPPROTO_IPV6,
  IPV6_V6ONLY,
  libc,
  SO_MARK,
  SO_RCVBUF,
  SO_RCVBUFFORCE,
  SO_SNDBUF,
  SO_SNDBUFFORCE,
  SO_TIMESTAMPNS,
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
import { NAME_SLOT } from "./udp_layout.ts";

/** What the socket is opened with (a part of LinuxUdpOptions). */
export interface UdpSocketOptions {
  /** The local port; 0 picks an ephemeral one. */
  port: number;
  /** A local IP literal; by default `::` dual-stack, or `0.0.0.0` without IPv6. */
  hostname?: string;
  /** Kernel socket buffer sizes to ask for, in bytes (0 keeps the system default). */
  socketBuffer?: number;
  /** SO_MARK of every datagram sent; 0 or absent for none. */
  fwMark?: number;
  /** False: no UDP GSO even where the kernel has it. */
  gso?: boolean;
  /** False: no UDP GRO even where the kernel has it. */
  gro?: boolean;
}

/** An open, bound socket. */
export interface UdpSocket {
  /** The fd. */
  fd: number;
  /** 6 for a dual-stack (or IPv6) socket, 4 for an IPv4-only one. */
  family: 4 | 6;
  /** The bound port. */
  port: number;
  /** Whether the kernel takes UDP_SEGMENT (and it was not turned off). */
  gso: boolean;
  /** Whether the kernel coalesces receives (UDP_GRO is set). */
  gro: boolean;
  /** Whether each datagram comes with its kernel receive time (SO_TIMESTAMPNS is set). */
  stamps: boolean;
}

/** Opens and binds a non-blocking UDP socket; throws naming what failed, with the fd closed. */
export function openUdpSocket(options: UdpSocketOptions): UdpSocket {
  const { port } = options;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`invalid UDP port ${port}`);
  }
  const mark = options.fwMark ?? 0;
  checkMark(mark);
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
    if (mark !== 0) setSocketMark(fd, mark);
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
    // The receive time tells how long each datagram waited in the queue: a receiver that falls
    // behind sheds what its senders have resent since (lib/device/receive.ts).
    const stamps = setInt(fd, SOL_SOCKET, SO_TIMESTAMPNS, 1);
    const len = new Uint8Array(new Uint32Array([NAME_SLOT]).buffer);
    if (c.getsockname(fd, name, len) < 0) throw sysError("getsockname");
    return { fd, family, port: v.getUint16(2, false), gso, gro, stamps };
  } catch (err) {
    c.close(fd);
    throw err;
  }
}

function checkMark(mark: number): void {
  if (!Number.isInteger(mark) || mark < 0 || mark > 0xffffffff) {
    throw new Error(`invalid fwmark ${mark} (0 to 0xffffffff)`);
  }
}

/**
 * Sets a socket's firewall mark (SO_MARK; 0 clears it); throws naming the mark when the kernel
 * refuses (an error with `errno`; EPERM without CAP_NET_ADMIN).
 */
export function setSocketMark(fd: number, mark: number): void {
  checkMark(mark);
  if (setInt(fd, SOL_SOCKET, SO_MARK, mark | 0)) return;
  const e = errno();
  const hint = e === EPERM ? " (needs root or CAP_NET_ADMIN)" : "";
  const err = sysError(`fwmark 0x${mark.toString(16)}: setsockopt SO_MARK`, e);
  throw Object.assign(new Error(`${err.message}${hint}`), { errno: e });
}

function setInt(fd: number, level: number, name: number, value: number): boolean {
  const buf = new Uint8Array(new Int32Array([value]).buffer);
  return libc().setsockopt(fd, level, name, buf, 4) === 0;
}
