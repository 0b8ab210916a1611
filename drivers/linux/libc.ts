/**
 * The few libc (glibc, x86_64/aarch64 Linux) functions the Linux drivers call through Deno FFI,
 * and the kernel constants they need.
 *
 * The library is opened on first use so that importing this module elsewhere costs nothing.
 * `ssize_t` results are declared `i32`: the drivers never move 2 GiB in one call, and a narrower
 * result avoids a BigInt per call. The `size_t` parameters of the calls made per packet or per
 * poll (read, write, readAt, writeAt, poll) are bigints: Deno's fast FFI call takes a 64-bit
 * parameter only as a BigInt, and a number costs the slow path (lib/io/u64.ts caches lengths).
 * The other calls take plain numbers, which Deno's FFI converts.
 * @module
 */

/** The libc functions used by the drivers. */
export interface LibC {
  /** open(2); `path` is NUL-terminated. */
  open(path: Uint8Array, flags: number, mode: number): number;
  /** close(2). */
  close(fd: number): number;
  /** read(2). */
  read(fd: number, buf: Uint8Array, count: bigint): number;
  /** write(2). */
  write(fd: number, buf: Uint8Array, count: bigint): number;
  /**
   * read(2) into memory given by its address (from {@link addressOf}, plus an offset), so a
   * driver reads into part of a buffer without making a view of it.
   */
  readAt(fd: number, address: bigint, count: bigint): number;
  /** write(2) from memory given by its address, as {@link LibC.readAt}. */
  writeAt(fd: number, address: bigint, count: bigint): number;
  /** writev(2) of `iovcnt` iovecs at the address `iov` (each two u64: base, length). */
  writevAt(fd: number, iov: bigint, iovcnt: number): number;
  /** ioctl(2) with a pointer argument. */
  ioctl(fd: number, request: number, arg: Uint8Array): number;
  /** ioctl(2) with an integer argument. */
  ioctl_int(fd: number, request: number, arg: number): number;
  /** fcntl(2) with an integer argument. */
  fcntl(fd: number, cmd: number, arg: number): number;
  /** dup3(2): makes `newfd` refer to what `oldfd` does, closing what it referred to. */
  dup3(oldfd: number, newfd: number, flags: number): number;
  /** poll(2), run on the calling thread: only for a zero timeout. */
  poll(fds: Uint8Array, nfds: bigint, timeout: number): number;
  /** poll(2), run on a blocking thread; resolves to its result. */
  poll_async(fds: Uint8Array, nfds: bigint, timeout: number): Promise<number>;
  /** socket(2). */
  socket(domain: number, type: number, protocol: number): number;
  /** socketpair(2): the two fds are written to `sv` (two i32). */
  socketpair(domain: number, type: number, protocol: number, sv: Uint8Array): number;
  /** bind(2). */
  bind(fd: number, addr: Uint8Array, addrlen: number): number;
  /** setsockopt(2). */
  setsockopt(fd: number, level: number, name: number, value: Uint8Array, len: number): number;
  /** getsockname(2); `addrlen` is a u32 in and out. */
  getsockname(fd: number, addr: Uint8Array, addrlen: Uint8Array): number;
  /** recvmmsg(2) with no timeout. */
  recvmmsg(fd: number, msgs: Uint8Array, vlen: number, flags: number, timeout: null): number;
  /** sendmmsg(2). */
  sendmmsg(fd: number, msgs: Uint8Array, vlen: number, flags: number): number;
  /** sendto(2). */
  sendto(
    fd: number,
    buf: Uint8Array,
    len: number,
    flags: number,
    addr: Uint8Array,
    addrlen: number,
  ): number;
  /** recvfrom(2); `addrlen` is a u32 in and out. */
  recvfrom(
    fd: number,
    buf: Uint8Array,
    len: number,
    flags: number,
    addr: Uint8Array | null,
    addrlen: Uint8Array | null,
  ): number;
  /** eventfd(2). */
  eventfd(initval: number, flags: number): number;
  /** getrlimit(2); `rlim` is two u64 (soft, hard). */
  getrlimit(resource: number, rlim: Uint8Array): number;
  /** setrlimit(2); `rlim` is two u64 (soft, hard). */
  setrlimit(resource: number, rlim: Uint8Array): number;
  /** clock_gettime(2); `ts` is a timespec (two i64: seconds, nanoseconds). */
  clock_gettime(clock: number, ts: Uint8Array): number;
  /** setpriority(2); on Linux `PRIO_PROCESS` with a thread id sets that one thread's nice value. */
  setpriority(which: number, who: number, prio: number): number;
  /** getpriority(2); the nice value (check errno on -1), as {@link LibC.setpriority}. */
  getpriority(which: number, who: number): number;
  /** sched_setscheduler(2) of one thread; `param` is a `struct sched_param` (one i32). */
  sched_setscheduler(tid: number, policy: number, param: Uint8Array): number;
  /**
   * syscall(2) with a thread id, a buffer and flags: sched_setattr(2) and sched_getattr(2), which
   * glibc does not wrap (see thread_slice.ts).
   */
  syscall_tid_buf(nr: number, tid: number, buf: Uint8Array, a: number, b: number): number;
}

const SYMBOLS = {
  open: { parameters: ["buffer", "i32", "u32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  read: { parameters: ["i32", "buffer", "usize"], result: "i32" },
  write: { parameters: ["i32", "buffer", "usize"], result: "i32" },
  readAt: { name: "read", parameters: ["i32", "usize", "usize"], result: "i32" },
  writeAt: { name: "write", parameters: ["i32", "usize", "usize"], result: "i32" },
  writevAt: { name: "writev", parameters: ["i32", "usize", "i32"], result: "i32" },
  ioctl: { parameters: ["i32", "usize", "buffer"], result: "i32" },
  ioctl_int: { name: "ioctl", parameters: ["i32", "usize", "usize"], result: "i32" },
  fcntl: { parameters: ["i32", "i32", "i32"], result: "i32" },
  dup3: { parameters: ["i32", "i32", "i32"], result: "i32" },
  poll: { parameters: ["buffer", "usize", "i32"], result: "i32" },
  poll_async: {
    name: "poll",
    parameters: ["buffer", "usize", "i32"],
    result: "i32",
    nonblocking: true,
  },
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  socketpair: { parameters: ["i32", "i32", "i32", "buffer"], result: "i32" },
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
  getsockname: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  recvmmsg: { parameters: ["i32", "buffer", "u32", "i32", "pointer"], result: "i32" },
  sendmmsg: { parameters: ["i32", "buffer", "u32", "i32"], result: "i32" },
  sendto: { parameters: ["i32", "buffer", "usize", "i32", "buffer", "u32"], result: "i32" },
  recvfrom: {
    parameters: ["i32", "buffer", "usize", "i32", "buffer", "buffer"],
    result: "i32",
  },
  eventfd: { parameters: ["u32", "i32"], result: "i32" },
  getrlimit: { parameters: ["i32", "buffer"], result: "i32" },
  setrlimit: { parameters: ["i32", "buffer"], result: "i32" },
  clock_gettime: { parameters: ["i32", "buffer"], result: "i32" },
  setpriority: { parameters: ["i32", "u32", "i32"], result: "i32" },
  getpriority: { parameters: ["i32", "u32"], result: "i32" },
  sched_setscheduler: { parameters: ["i32", "i32", "buffer"], result: "i32" },
  syscall_tid_buf: {
    name: "syscall",
    parameters: ["i64", "i32", "buffer", "u32", "u32"],
    result: "i32",
  },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

let lib: LibC | null = null;
let errnoView: Deno.UnsafePointerView | null = null;

/** Opens libc on first use and returns its functions; throws off Linux. */
export function libc(): LibC {
  if (lib !== null) return lib;
  if (Deno.build.os !== "linux") throw new Error("the Linux drivers need Linux");
  const dl = Deno.dlopen("libc.so.6", SYMBOLS);
  // errno lives in thread-local storage; the JS thread's slot does not move, so read it through
  // one view made once, right after each failing call on this thread.
  const where = dl.symbols.__errno_location();
  if (where === null) throw new Error("__errno_location returned NULL");
  errnoView = new Deno.UnsafePointerView(where);
  lib = dl.symbols as unknown as LibC;
  return lib;
}

/** The calling thread's errno; read it right after the failing synchronous call. */
export function errno(): number {
  return errnoView === null ? 0 : errnoView.getInt32(0);
}

/** The address of an ArrayBuffer's memory, for pointers stored inside structs. */
export function addressOf(buf: ArrayBuffer | Uint8Array): bigint {
  const p = Deno.UnsafePointer.of(buf);
  if (p === null) throw new Error("cannot take the address of an empty buffer");
  return Deno.UnsafePointer.value(p);
}

/** An Error for a failed libc call, with errno's name when known. */
export function sysError(what: string, code: number = errno()): Error & { errno: number } {
  const name = ERRNO_NAMES[code] ?? `errno ${code}`;
  return Object.assign(new Error(`${what}: ${name}`), { errno: code });
}

const ERRNO_NAMES: Record<number, string> = {
  1: "EPERM (operation not permitted)",
  2: "ENOENT (no such file or directory)",
  4: "EINTR",
  5: "EIO",
  9: "EBADF",
  11: "EAGAIN",
  12: "ENOMEM",
  13: "EACCES (permission denied)",
  16: "EBUSY (device or resource busy)",
  17: "EEXIST",
  19: "ENODEV (no such device)",
  22: "EINVAL (invalid argument)",
  24: "EMFILE (too many open files)",
  77: "EBADFD",
  90: "EMSGSIZE",
  97: "EAFNOSUPPORT (address family not supported)",
  98: "EADDRINUSE (address in use)",
  99: "EADDRNOTAVAIL (address not available)",
  101: "ENETUNREACH",
  105: "ENOBUFS",
  111: "ECONNREFUSED",
  113: "EHOSTUNREACH",
};

/** errno: interrupted system call. */
export const EINTR = 4;
/** errno: I/O error (a UDP GSO send the device cannot offload checksums for). */
export const EIO = 5;
/** errno: bad file descriptor. */
export const EBADF = 9;
/** errno: try again (would block). */
export const EAGAIN = 11;
/** errno: out of memory. */
export const ENOMEM = 12;
/** errno: permission denied. */
export const EACCES = 13;
/** errno: busy. */
export const EBUSY = 16;
/** errno: exists. */
export const EEXIST = 17;
/** errno: invalid argument. */
export const EINVAL = 22;
/** errno: file descriptor in bad state (a TUN whose interface is gone). */
export const EBADFD = 77;
/** errno: message too long. */
export const EMSGSIZE = 90;
/** errno: address family not supported. */
export const EAFNOSUPPORT = 97;
/** errno: address in use. */
export const EADDRINUSE = 98;
/** errno: network unreachable. */
export const ENETUNREACH = 101;
/** errno: no buffer space. */
export const ENOBUFS = 105;
/** errno: connection refused (an ICMP port unreachable for an earlier send). */
export const ECONNREFUSED = 111;
/** errno: host unreachable. */
export const EHOSTUNREACH = 113;
/** errno: not permitted. */
export const EPERM = 1;

/** open(2) flag: read and write. */
export const O_RDWR = 2;
/** open(2)/fcntl(2) flag: non-blocking. */
export const O_NONBLOCK = 0o4000;
/** open(2) flag: close on exec. */
export const O_CLOEXEC = 0o2000000;

/** poll(2): readable. */
export const POLLIN = 0x1;
/** poll(2): writable. */
export const POLLOUT = 0x4;
/** poll(2): error. */
export const POLLERR = 0x8;
/** poll(2): hang up. */
export const POLLHUP = 0x10;
/** poll(2): not an open fd. */
export const POLLNVAL = 0x20;

/** clock_gettime(2): the wall clock, the same in every process (and namespace) of a machine. */
export const CLOCK_REALTIME = 0;
/** clock_gettime(2): the monotonic clock, the same in every process of a machine. */
export const CLOCK_MONOTONIC = 1;

/** eventfd(2): non-blocking. */
export const EFD_NONBLOCK = 0o4000;
/** eventfd(2): close on exec. */
export const EFD_CLOEXEC = 0o2000000;

/** Address family IPv4. */
export const AF_INET = 2;
/** Address family IPv6. */
export const AF_INET6 = 10;
/** Socket type: datagram. */
export const SOCK_DGRAM = 2;
/** socket(2) type flag: non-blocking. */
export const SOCK_NONBLOCK = 0o4000;
/** socket(2) type flag: close on exec. */
export const SOCK_CLOEXEC = 0o2000000;
/** Socket option level: socket. */
export const SOL_SOCKET = 1;
/** SOL_SOCKET option: send buffer size. */
export const SO_SNDBUF = 7;
/** SOL_SOCKET option: receive buffer size. */
export const SO_RCVBUF = 8;
/** SOL_SOCKET option: send buffer size beyond wmem_max (needs CAP_NET_ADMIN). */
export const SO_SNDBUFFORCE = 32;
/** SOL_SOCKET option: receive buffer size beyond rmem_max (needs CAP_NET_ADMIN). */
export const SO_RCVBUFFORCE = 33;
/** SOL_SOCKET option: the firewall mark of outgoing packets (needs CAP_NET_ADMIN). */
export const SO_MARK = 36;
/**
 * SOL_SOCKET option (and cmsg type, SCM_TIMESTAMPNS): each datagram received comes with the
 * kernel's receive time, a `struct timespec` of CLOCK_REALTIME (SO_TIMESTAMPNS_OLD: 64-bit
 * time_t on 64-bit Linux).
 */
export const SO_TIMESTAMPNS = 35;
/** The cmsg type of SO_TIMESTAMPNS's receive time (level SOL_SOCKET). */
export const SCM_TIMESTAMPNS = SO_TIMESTAMPNS;
/** Socket option level: UDP. */
export const SOL_UDP = 17;
/** SOL_UDP option: the segment size of UDP GSO sends (socket default, or a cmsg per send). */
export const UDP_SEGMENT = 103;
/** SOL_UDP option: receive coalesced datagrams (UDP GRO), with their segment size in a cmsg. */
export const UDP_GRO = 104;
/** Socket option level: IPv4 (IPPROTO_IP). */
export const SOL_IP = 0;
/** SOL_IP option (and cmsg): the type-of-service byte of what is sent (DSCP and ECN). */
export const IP_TOS = 1;
/** Socket option level: IPv6. */
export const IPPROTO_IPV6 = 41;
/** IPPROTO_IPV6 option (and cmsg): the traffic class of what is sent (DSCP and ECN). */
export const IPV6_TCLASS = 67;
/** IPPROTO_IPV6 option: refuse IPv4-mapped traffic. */
export const IPV6_V6ONLY = 26;
/** send/recv flag: do not block. */
export const MSG_DONTWAIT = 0x40;
/** msg_flags: the control data was longer than its buffer. */
export const MSG_CTRUNC = 0x8;
/** msg_flags: the datagram was longer than the buffer. */
export const MSG_TRUNC = 0x20;

/** ioctl: attach a TUN/TAP interface (`_IOW('T', 202, int)`). */
export const TUNSETIFF = 0x400454ca;
/** ioctl: make a TUN/TAP interface persistent or not (`_IOW('T', 203, int)`). */
export const TUNSETPERSIST = 0x400454cb;
/** ioctl: read back the interface's name and flags (`_IOR('T', 210, unsigned int)`). */
export const TUNGETIFF = 0x800454d2;
/** TUN flag: layer 3 device. */
export const IFF_TUN = 0x0001;
/** TUN flag: no packet information header. */
export const IFF_NO_PI = 0x1000;
/** TUN flag (from TUNGETIFF): the interface is persistent. */
export const IFF_PERSIST = 0x0800;

/** The size of `struct ifreq`. */
export const IFREQ_SIZE = 40;
/** The longest interface name (IFNAMSIZ less the NUL). */
export const IFNAMSIZ_MAX = 15;
/** The size of `struct sockaddr_in6`. */
export const SOCKADDR_IN6_SIZE = 28;
/** The size of `struct sockaddr_in`. */
export const SOCKADDR_IN_SIZE = 16;
/** The size of `struct mmsghdr` on 64-bit Linux. */
export const MMSGHDR_SIZE = 64;
/** The size of `struct iovec` on 64-bit Linux. */
export const IOVEC_SIZE = 16;
/** The size of `struct cmsghdr` on 64-bit Linux (`cmsg_len` is a size_t); data follows it. */
export const CMSGHDR_SIZE = 16;
/** The size of `struct pollfd`. */
export const POLLFD_SIZE = 8;
